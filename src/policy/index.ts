export { verifyBundle, ENTRYPOINT, BUNDLE_SIGNING_ALGORITHMS, type TrustedBundleKey, type VerifiedBundle } from './bundle.js';
export { PolicyEvaluator, decisionFromResultSet, MAX_INPUT_BYTES, type PolicyDecision, type PolicyInput, type PolicyScope } from './evaluator.js';
export { PolicyEngine, POLICY_CHANNEL, DEFAULT_BUNDLE_ACTOR, type PolicyEngineOptions, type RevisionedDecision } from './engine.js';
export { PolicyAdmin, MAX_BUNDLE_BYTES, type BundleDiff, type StageResult, type ActivateResult } from './admin.js';
export { loadTrustedBundleKeys, loadDevBundleSigningKey, devBundleKeysFile, publicJwkOf, DEV_KEY_PREFIX } from './keys.js';
export { findOpa, buildBundle, testPolicies, sourceRevision, policyPaths, type PolicyTestReport } from './opa-cli.js';
export { readTarGz, writeTarGz } from './tar.js';
export { opaFileDigest } from './opa-hash.js';
