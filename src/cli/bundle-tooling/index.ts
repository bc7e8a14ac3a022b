export { findOpa, buildBundle, testPolicies, sourceRevision, type BuildOptions, type PolicyTestReport } from './opa.js';
export { writeTarGz } from './tar-write.js';
