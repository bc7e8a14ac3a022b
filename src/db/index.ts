export { openDatabase, migrateDatabase, type VaultDatabase, type Db, type OpenDatabaseOptions } from './database.js';
export { inTransaction, lockPolicyActivation, lockDefaultPolicyInstall, countEnvelopesContaining } from './transaction.js';
export { migrateToLatest, pendingMigrations, migrationsDir } from './migrate.js';
export type { VaultSchema } from './schema.js';
export type { RecordRow } from './copy-binary.js';
export {
  upsertEmployees,
  employeesWithoutDataKey,
  insertDataKeys,
  findEmployeesForIngest,
  countDataKeys,
  lockConsentState,
  countEnrolledByOrgUnit,
  type ConsentState,
  type DataKeyCounts,
  type EmployeeRow,
  type EmployeeForIngest,
  type LiveDataKeyRow,
} from './employees.js';
export { ensureRecordPartitions, findStoredRecordKeys, copyRecords, recordMonth, recordKey, isUniqueViolation, isRetryableConflict } from './records.js';
export {
  insertBundle,
  findBundle,
  findActiveActivation,
  insertActivation,
  listBundles,
  insertApproval,
  lockUnusedApproval,
  markApprovalUsed,
  type PolicyApproval,
  type StoredBundle,
  type BundleListing,
  type Activation,
} from './policy.js';
export {
  findSecret,
  storeSecretOnce,
  initAuditHead,
  lockAuditHead,
  readAuditHead,
  insertAuditEvents,
  auditEventsAfter,
  queryAuditEvents,
  auditEventsForDecisions,
  teamsInAuditSince,
  insertCheckpoint,
  listCheckpoints,
  type AuditRow,
  type AuditHead,
  type AuditFilter,
  type CheckpointRow,
} from './audit.js';
export {
  recordDatasetReach,
  freezeLeaseSnapshot,
  revokeLease,
  withDatasetReader,
  insertLease,
  setLeaseReach,
  findLease,
  readScopePage,
  employeeKeyStates,
  datasetsReachingEmployee,
  employeeExists,
  type DatasetScope,
  type LeaseRow,
  type StreamRow,
  type EmployeeKeyState,
  type AccessReportRow,
} from './datasets.js';
