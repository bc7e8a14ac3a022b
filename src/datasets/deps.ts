import type { AuditLog } from '../audit/index.js';
import type { KeyRing } from '../crypto/index.js';
import type { Db, PageBound, VaultDatabase } from '../db/index.js';
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
 * Records read, opened and audited per transaction in the main thread. Each page costs a dozen
 * round trips and an audit event whatever its size, so bigger pages export faster (bench:export,
 * PostgreSQL, one stream: 0.56 of the plain cursor at 2,000, 0.59 at 4,000 and 5,000). Its rows
 * outlive a few scavenges and end in the old generation, so they also raise the heap's sawtooth:
 * at 4,000 a 1M-record stream peaks at ~172 MB RSS and 4 shards at once at ~198 MB (2,000: 159 and
 * 176; 5,000: 182 and 222) against the 256 MB bound.
 */
export const PAGE_RECORDS = 4000;

/**
 * Records a page worker reads and opens at a time. Each worker has a heap of its own with its own
 * sawtooth: with 2 workers, 4 shards at once peaked at 276 MB RSS with pages of 4,000 and 241 MB
 * with pages of 2,000 (the 1M-record stream: 218 MB).
 */
export const WORKER_PAGE_RECORDS = 2000;

/**
 * Envelope bytes after which a page ends early, whatever its record count: telemetry of ~300 B a
 * record fills 4,000 in ~1.2 MB, but a payload may be 4 MiB, and 4,000 of those would be 16 GB.
 * A page holds at most this plus one record; it is read, then its plaintext written, and one page
 * is read ahead.
 */
export const PAGE_BYTES = 4 * 1024 * 1024;

export const PAGE: PageBound = { records: PAGE_RECORDS, bytes: PAGE_BYTES };
export const WORKER_PAGE: PageBound = { records: WORKER_PAGE_RECORDS, bytes: PAGE_BYTES };

export const nowOf = (deps: Pick<DatasetDeps, 'now'>): Date => deps.now?.() ?? new Date();
