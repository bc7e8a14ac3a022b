export { findOpa, buildBundle, testPolicies, sourceRevision, type BuildOptions, type PolicyTestReport } from './opa.js';
