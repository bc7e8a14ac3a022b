export { verifyBundle, ENTRYPOINT, BUNDLE_SIGNING_ALGORITHMS, type TrustedBundleKey, type VerifiedBundle } from './bundle.js';
export { PolicyEvaluator, decisionFromResultSet, MAX_INPUT_BYTES, type PolicyDecision, type PolicyInput } from './evaluator.js';
export { PolicyEngine, POLICY_CHANNEL, DEFAULT_BUNDLE_ACTOR, type ClassifierInForce, type PolicyEngineOptions, type PolicyInForce, type RevisionedDecision } from './engine.js';
export { loadTrustedBundleKeys, loadDevBundleSigningKey, devBundleKeysFile, publicJwkOf, DEV_KEY_PREFIX } from './keys.js';
export { readTarGz } from './tar.js';
export { opaFileDigest } from './opa-hash.js';
