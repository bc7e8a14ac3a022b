import type { Generated } from 'kysely';

export interface EmployeesTable {
  employee_id: string;
  org_unit: string;
  region: string;
  enrolled: boolean;
  created_at: Generated<Date>;
  updated_at: Generated<Date>;
}

export interface EmployeeDataKeysTable {
  employee_id: string;
  dek_version: number;
  kek_id: string;
  wrapped_key: Uint8Array | null;
  created_at: Generated<Date>;
  destroyed_at: Date | null;
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
  activation_id: Generated<string>;
  revision: string;
  activated_by: string;
  activated_at: Generated<Date>;
}

export interface VaultSchema {
  employees: EmployeesTable;
  employee_data_keys: EmployeeDataKeysTable;
  activity_records: ActivityRecordsTable;
  policy_bundles: PolicyBundlesTable;
  policy_activations: PolicyActivationsTable;
}
