export {
  AuditLog,
  checkpointStatement,
  MAX_QUERY_LIMIT,
  type AuditEventInput,
  type AuditEventView,
  type AuditQuery,
  type AuditDecision,
  type VerifyResult,
  type Checkpoint,
} from './log.js';
export { canonicalEvent, chainHash, GENESIS_HASH } from './chain.js';
