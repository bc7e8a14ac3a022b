export {
  AuditLog,
  MAX_QUERY_LIMIT,
  type AuditLogOptions,
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
export { STATS_DEFAULT_DAYS, STATS_MAX_DAYS, type AuditStats, type AlarmView, type AlarmPage, type AlarmQuery } from './stats.js';
export { AuditTrail, type AuditTrailOptions, type CheckpointKey } from './trail.js';
export { canonicalEvent, chainHash, checkpointStatement, GENESIS_HASH } from './chain.js';
export { WITNESS_FILE } from './witness.js';
export type { WitnessStatus } from './witness-watch.js';
export { runInAuditScope, type AuditScope } from './request-scope.js';
