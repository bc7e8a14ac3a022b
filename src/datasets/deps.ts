import type { AuditLog } from '../audit/index.js';
import type { KeyRing } from '../crypto/index.js';
import type { Db, VaultDatabase } from '../db/index.js';
import type { PolicyEngine } from '../policy/index.js';
import type { PageWorkers } from './page-workers.js';

/** The export freeze as the dataset services see it (the program's `exports` pause). */
export interface ExportSwitch {
  /** As this instance last learned (within a second): refuses early. */
  frozen(): boolean;
  /** Throws `ERR_EXPORTS_FROZEN` when exports are frozen as this transaction reads it. */
  assertExportsOpen(trx: Db): Promise<void>;
  /** Calls `listener` when exports are frozen; returns the function that stops listening. */
  onFreeze(listener: () => void): () => void;
}

/** What the dataset services share; each takes only the part it uses. */
export interface DatasetDeps {
  readonly database: VaultDatabase;
  readonly keyRing: KeyRing;
  readonly audit: AuditLog;
  readonly policy: PolicyEngine;
  /** Most of all enrolled employees one decision may reach (VAULT_MAX_SCOPE_FRACTION). */
  readonly maxScopeFraction: number;
  readonly exports: ExportSwitch;
  /** Threads that read and open stream pages beside the main thread (PostgreSQL only); without them, streams run here. */
  readonly pageWorkers?: PageWorkers | undefined;
  readonly now?: () => Date;
  /** Operator log; alarms carry an `alarm` field a SIEM can match on. */
  readonly log?: (event: Record<string, unknown>, message: string) => void;
}

export const LEASE_HOURS = 24;
/**
 * Records read, opened and audited per transaction. A page's rows outlive a few scavenges and end
 * in the old generation; at 5,000 the heap's sawtooth took a 1M-record stream to ~245 MB RSS on
 * PostgreSQL, at 2,000 to ~222 MB, at the same export rate (measured, bench:export).
 */
export const PAGE_RECORDS = 2000;

export const nowOf = (deps: Pick<DatasetDeps, 'now'>): Date => deps.now?.() ?? new Date();
