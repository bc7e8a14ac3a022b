export {
  AuditLog,
  checkpointStatement,
  MAX_QUERY_LIMIT,
  type AuditActor,
  type AuditEventInput,
  type AuditEventView,
  type AuditPage,
  type AuditQuery,
  type AuditDecision,
  type VerifyResult,
  type Checkpoint,
  type StreamSummary,
} from './log.js';
export { AuditTrail, type AuditTrailOptions, type CheckpointKey } from './trail.js';
export { canonicalEvent, chainHash, GENESIS_HASH } from './chain.js';
