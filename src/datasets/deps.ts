import type { AuditLog } from '../audit/index.js';
import type { KeyRing } from '../crypto/index.js';
import type { VaultDatabase } from '../db/index.js';
import type { PolicyEngine } from '../policy/index.js';

/** What the dataset services share; each takes only the part it uses. */
export interface DatasetDeps {
  readonly database: VaultDatabase;
  readonly keyRing: KeyRing;
  readonly audit: AuditLog;
  readonly policy: PolicyEngine;
  /** Most of all enrolled employees one decision may reach (VAULT_MAX_SCOPE_FRACTION). */
  readonly maxScopeFraction: number;
  readonly now?: () => Date;
  /** Operator log; alarms carry an `alarm` field a SIEM can match on. */
  readonly log?: (event: Record<string, unknown>, message: string) => void;
}

export const LEASE_HOURS = 24;
export const PAGE_RECORDS = 5000;

export const nowOf = (deps: Pick<DatasetDeps, 'now'>): Date => deps.now?.() ?? new Date();
