import type { ColumnType, Generated } from 'kysely';

/*
 * Every table of migrations/, as the drivers hand rows back. Two column types differ between
 * the stores and are typed for both: bigint (int8) comes back from pg as a string and from PGlite
 * as a number, so a read converts it explicitly (a float8 cast in the query, or Number()/String());
 * bytea comes back from pg as a Buffer and from PGlite as a plain Uint8Array, so it is typed as
 * the Uint8Array both are.
 */

type Int8 = ColumnType<string | number, string | number, string | number>;
/** A bigserial: assigned by the database, never written. */
type Serial8 = ColumnType<string | number, undefined, never>;
type NullableInt8 = ColumnType<string | number | null, string | number | null, string | number | null>;

export interface EmployeesTable {
  employee_id: string;
  org_unit: string;
  region: string;
  enrolled: boolean;
  created_at: Generated<Date>;
  updated_at: Generated<Date>;
  consented_version: number | null;
  consented_at: Date | null;
}

export interface EmployeeDataKeysTable {
  employee_id: string;
  dek_version: number;
  kek_id: string;
  wrapped_key: Uint8Array | null;
  created_at: Generated<Date>;
  destroyed_at: Date | null;
  /** `YYYY-MM` of the records the key seals; NULL for keys from before month keys. */
  key_month: ColumnType<string | null, string | null | undefined, string | null>;
}

export interface MonthRatchetAnchorTable {
  singleton: Generated<boolean>;
  base: string;
  check_value: string;
  moved_at: Generated<Date>;
}

export interface ActivityRecordsTable {
  event_id: string;
  captured_at: Date;
  employee_id: string;
  org_unit: string;
  kind: string;
  sensitivity: number;
  dek_version: number;
  envelope: Uint8Array;
  ingested_at: Generated<Date>;
  /** The writing transaction (`xid8` text); NULL for records written before leases froze snapshots. */
  ingest_xid: Generated<string | null>;
  /** NULL: sealed before classification (record/v1 AAD). */
  categories: string[] | null;
}

export interface PolicyBundlesTable {
  revision: string;
  sha256: string;
  archive: Uint8Array;
  signed_by: string;
  files: string[];
  staged_by: string;
  staged_at: Generated<Date>;
}

export interface PolicyActivationsTable {
  activation_id: Generated<string | number>;
  revision: string;
  activated_by: string;
  activated_at: Generated<Date>;
}

export interface PolicyApprovalsTable {
  approval_id: Generated<string | number>;
  revision: string;
  sha256: string;
  against_activation: NullableInt8;
  approved_by: string;
  approved_at: Generated<Date>;
  used_by_activation: NullableInt8;
}

export interface VaultSecretsTable {
  name: string;
  kek_id: string;
  wrapped: Uint8Array;
  created_at: Generated<Date>;
}

export interface AuditEventsTable {
  seq: Int8;
  event_id: string;
  occurred_at: Date;
  action: string;
  decision: string;
  severity: string;
  actor: string | null;
  actor_roles: string[];
  teams: string[];
  purpose: string | null;
  employee_ref: string | null;
  policy_revision: string | null;
  record_count: NullableInt8;
  decision_id: string | null;
  details: string;
  prev_hash: Uint8Array;
  hash: Uint8Array;
}

export interface AuditQueueTable {
  queue_id: Generated<Int8>;
  event_id: string;
  occurred_at: Date;
  action: string;
  decision: string;
  severity: string;
  actor: string | null;
  actor_roles: string[];
  teams: string[];
  purpose: string | null;
  employee_ref: string | null;
  policy_revision: string | null;
  record_count: NullableInt8;
  decision_id: string | null;
  details: string;
  mac: Uint8Array;
}

export interface AuditHeadTable {
  singleton: Generated<boolean>;
  seq: Int8;
  hash: Uint8Array;
  mac: Uint8Array;
}

export interface AuditCheckpointsTable {
  seq: Int8;
  hash: Uint8Array;
  signed_at: Date;
  key_id: string;
  signature: Uint8Array;
}

export interface DatasetLeasesTable {
  dataset_id: string;
  decision_id: string;
  requester: string;
  teams: string[];
  purpose: string;
  policy_revision: string;
  org_units: string[];
  kinds: string[];
  max_sensitivity: number;
  scope_from: Date;
  scope_to: Date;
  frozen_at: Date;
  record_count: Int8;
  employee_count: number;
  pseudonym_key: Uint8Array;
  /** The KEK that wraps `pseudonym_key`; NULL for leases from before KEK rotation. */
  pseudonym_kek: ColumnType<string | null, string | null | undefined, string | null>;
  created_at: Generated<Date>;
  expires_at: Date;
  /** `pg_snapshot` text: the records the lease was counted under (migration 20261203T1200). */
  frozen_snapshot: string;
  revoked_at: Date | null;
  revoked_revision: string | null;
}

export interface DatasetEmployeesTable {
  dataset_id: string;
  employee_id: string;
  record_count: Int8;
  /** The employee's place in the lease's random permutation: shard I of N holds ranks ≡ I (mod N). */
  shard_rank: number;
}

export interface CollectionManifestsTable {
  version: number;
  /** jsonb: written as JSON text, read back parsed. */
  document: ColumnType<unknown, string, never>;
  sha256: string;
  created_by: string;
  created_at: Generated<Date>;
}

export interface EmployeePausesTable {
  pause_id: Serial8;
  employee_id: string;
  kind: 'pause' | 'opt_out';
  starts_at: Date;
  ends_at: Date | null;
  requested_until: Date | null;
  started_by: string;
  ended_by: string | null;
}

export interface ProgramPausesTable {
  pause_id: Serial8;
  scope: 'collection' | 'exports';
  starts_at: Date;
  reason: string;
  paused_by: string;
  resume_requested_by: string | null;
  resume_requested_at: Date | null;
  resume_reason: string | null;
  ends_at: Date | null;
  resumed_by: string | null;
}

export interface CollectionEventsTable {
  event_id: Serial8;
  occurred_at: Generated<Date>;
  type: string;
  employee_id: string | null;
  data: ColumnType<unknown, string, never>;
}

export interface RecordTalliesTable {
  employee_id: string;
  dek_version: number;
  records: Int8;
}

export interface EmployeeErasuresTable {
  erasure_id: string;
  employee_id: string;
  erased_at: Date;
  erased_by: string;
  key_versions: number[];
  records_unreadable: Int8;
  rows_deleted: ColumnType<string | number, string | number | undefined, string | number>;
  rows_deleted_at: Date | null;
}

export interface KekRotationsTable {
  rotation_id: string;
  to_kek: string;
  from_keks: string[];
  started_at: Generated<Date>;
  started_by: string;
  keys_rewrapped: ColumnType<string | number, string | number | undefined, string | number>;
  secrets_rewrapped: ColumnType<string | number, string | number | undefined, string | number>;
  finished_at: Date | null;
}

export interface RetentionWatermarksTable {
  kind: string;
  done_through: Date;
}

export interface VaultSchema {
  employees: EmployeesTable;
  employee_data_keys: EmployeeDataKeysTable;
  activity_records: ActivityRecordsTable;
  policy_bundles: PolicyBundlesTable;
  policy_activations: PolicyActivationsTable;
  policy_approvals: PolicyApprovalsTable;
  vault_secrets: VaultSecretsTable;
  audit_events: AuditEventsTable;
  audit_queue: AuditQueueTable;
  audit_head: AuditHeadTable;
  audit_checkpoints: AuditCheckpointsTable;
  dataset_leases: DatasetLeasesTable;
  dataset_employees: DatasetEmployeesTable;
  collection_manifests: CollectionManifestsTable;
  employee_pauses: EmployeePausesTable;
  program_pauses: ProgramPausesTable;
  collection_events: CollectionEventsTable;
  record_tallies: RecordTalliesTable;
  employee_erasures: EmployeeErasuresTable;
  month_ratchet_anchor: MonthRatchetAnchorTable;
  kek_rotations: KekRotationsTable;
  retention_watermarks: RetentionWatermarksTable;
}
