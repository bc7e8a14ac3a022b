export { PolicyAdmin, MAX_BUNDLE_BYTES, type PolicyAdminOptions, type StageResult, type ActivateResult, type ApproveResult } from './admin.js';
export type { BundleDiff } from './checks.js';
