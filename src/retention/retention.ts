import type { AuditLog } from '../audit/index.js';
import type { ManifestDocument } from '../collection/index.js';
import { compareMonths, type KeyRing, type Month, type RatchetAnchorStore } from '../crypto/index.js';
import {
  appendCollectionEvent,
  compactRecordTallies,
  databaseNow,
  deleteExpiredRecords,
  destroyMonthKeysBefore,
  destroyUnusedLegacyKeys,
  dropRecordPartition,
  inTransaction,
  retentionWatermarks,
  setRetentionWatermark,
  advanceRatchetAnchor,
  recordMonth,
  recordPartitions,
  withRetentionLock,
  type Db,
  type VaultDatabase,
} from '../db/index.js';

/** What one retention run did; `ran` is false when another instance held the lock. Runs that change something are audited. */
export interface RetentionReport {
  readonly ran: boolean;
  /** Months before this have expired for every kind: their keys cannot be derived any more. */
  readonly months_kept_from: Month;
  readonly month_keys_destroyed: number;
  readonly legacy_keys_destroyed: number;
  readonly partitions_dropped: Month[];
  /** Rows deleted by kind (whole partitions dropped are counted under `partitions`). */
  readonly records_deleted: Record<string, number>;
  readonly partition_records_dropped: number;
  readonly duration_ms: number;
}

export interface RetentionTotals {
  readonly runs: number;
  readonly recordsDeleted: Readonly<Record<string, number>>;
  readonly partitionsDropped: number;
  readonly keysDestroyed: number;
  readonly lastRunAt: Date | undefined;
}

export interface RetentionDeps {
  readonly database: VaultDatabase;
  readonly audit: AuditLog;
  readonly keyRing: KeyRing;
  readonly anchors: RatchetAnchorStore;
  /** The manifest in force: each kind's retention_days. */
  readonly manifest: () => ManifestDocument;
  readonly log?: (event: Record<string, unknown>, message: string) => void;
}

const DAY_MS = 86_400_000;
const SYSTEM = { sub: 'activity-vault/retention', roles: [], teams: [], purpose: undefined } as const;

/**
 * Keeps records no longer than the manifest says. A run moves the month ratchet past every month
 * that has expired for every kind (so those months' keys cannot be derived, even to open a backup),
 * destroys those months' data keys, drops their partitions, and deletes the records of each kind
 * older than its own retention in the months still kept. One instance runs it at a time (advisory
 * lock); every run is audited with its counts.
 */
export class RetentionJob {
  readonly #deps: RetentionDeps;
  #running: Promise<RetentionReport> | undefined;
  #totals: { runs: number; recordsDeleted: Record<string, number>; partitionsDropped: number; keysDestroyed: number; lastRunAt: Date | undefined } = {
    runs: 0,
    recordsDeleted: {},
    partitionsDropped: 0,
    keysDestroyed: 0,
    lastRunAt: undefined,
  };

  constructor(deps: RetentionDeps) {
    this.#deps = deps;
  }

  /** Runs once now (a run already going in this process is joined). */
  run(): Promise<RetentionReport> {
    this.#running ??= this.#run().finally(() => {
      this.#running = undefined;
    });
    return this.#running;
  }

  /** Resolves once the run in flight (if any) ends. */
  async settled(): Promise<void> {
    await this.#running?.catch(() => undefined);
  }

  totals(): RetentionTotals {
    return { ...this.#totals, recordsDeleted: { ...this.#totals.recordsDeleted } };
  }

  async #run(): Promise<RetentionReport> {
    const started = Date.now();
    const { database, keyRing } = this.#deps;
    const report = await withRetentionLock(database, async () => {
      const conn = database.db; // every step runs on the pool; the lock holds its own connection
      const now = await databaseNow(conn);
      const days = retentionDays(this.#deps.manifest());
      const longest = Math.max(...Object.values(days));
      const keepFrom = recordMonth(new Date(now.getTime() - longest * DAY_MS));
      // Each irreversible step commits with its own audit event: a run cut short is on the record
      // as far as it went. The ratchet's move is recorded with the anchor's, before the ratchet moves.
      const moved = await keyRing.months.expireBefore(keepFrom, this.#auditedAnchors());
      const monthKeys = await inTransaction(conn, async (trx) => {
        const destroyed = await destroyMonthKeysBefore(trx, keyRing.months.base);
        if (moved || destroyed.length > 0) await appendCollectionEvent(trx, 'months_expired', null, { before: keyRing.months.base });
        if (destroyed.length > 0) await this.#step(trx, 'month_keys_destroyed', destroyed.length, { before: keyRing.months.base, months: [...new Set(destroyed.map((d) => d.month))].sort() });
        return destroyed.length;
      });
      keyRing.forgetMonthsBefore(keyRing.months.base);

      const dropped: Month[] = [];
      let partitionRecords = 0;
      for (const month of await recordPartitions(conn)) {
        if (compareMonths(month, keyRing.months.base) >= 0) continue;
        const rows = await inTransaction(conn, async (trx) => {
          const n = await dropRecordPartition(trx, month);
          if (n !== undefined) await this.#step(trx, 'partition_dropped', n, { month });
          return n;
        });
        if (rows !== undefined) {
          dropped.push(month);
          partitionRecords += rows;
        }
      }
      // Per kind, only (done_through, cutoff] is deleted: the partitions around the cutoff, not every month kept.
      const deleted: Record<string, number> = {};
      const watermarks = await retentionWatermarks(conn);
      for (const [kind, kept] of Object.entries(days)) {
        const cutoff = new Date(now.getTime() - kept * DAY_MS);
        const doneThrough = watermarks.get(kind);
        if (doneThrough && cutoff <= doneThrough) {
          // A longer retention than before: later records are kept, and the mark moves back with it.
          if (cutoff < doneThrough) await inTransaction(conn, (trx) => setRetentionWatermark(trx, kind, cutoff));
          continue;
        }
        const n = await inTransaction(conn, async (trx) => {
          const count = await deleteExpiredRecords(trx, kind, doneThrough, cutoff);
          await setRetentionWatermark(trx, kind, cutoff);
          if (count > 0) await this.#step(trx, 'records_deleted', count, { kind, captured_through: cutoff.toISOString(), retention_days: kept });
          return count;
        });
        if (n > 0) deleted[kind] = n;
      }
      const legacy = await inTransaction(conn, async (trx) => {
        const n = await destroyUnusedLegacyKeys(trx);
        await compactRecordTallies(trx);
        return n;
      });
      const result: RetentionReport = {
        ran: true,
        months_kept_from: keyRing.months.base,
        month_keys_destroyed: monthKeys,
        legacy_keys_destroyed: legacy,
        partitions_dropped: dropped,
        records_deleted: deleted,
        partition_records_dropped: partitionRecords,
        duration_ms: Date.now() - started,
      };
      const changed = moved || monthKeys > 0 || legacy > 0 || dropped.length > 0 || Object.keys(deleted).length > 0;
      // A run that found nothing to do leaves no event: it runs every minute.
      if (changed) await this.#deps.audit.appendAlone({
        action: 'retention.run',
        decision: 'info',
        actor: SYSTEM,
        recordCount: partitionRecords + Object.values(deleted).reduce((a, b) => a + b, 0),
        details: { ...result, retention_days: days },
      });
      return result;
    });
    if (!report) {
      return { ran: false, months_kept_from: keyRing.months.base, month_keys_destroyed: 0, legacy_keys_destroyed: 0, partitions_dropped: [], records_deleted: {}, partition_records_dropped: 0, duration_ms: Date.now() - started };
    }
    this.#count(report);
    return report;
  }

  /** One irreversible step, audited in the step's own transaction. */
  #step(trx: Db, step: string, count: number, details: Record<string, unknown>): Promise<unknown> {
    return this.#deps.audit.append(trx, { action: 'retention.step', decision: 'info', actor: SYSTEM, recordCount: count, details: { step, ...details } });
  }

  /** The anchor store, with the anchor's move recorded in its own transaction. */
  #auditedAnchors(): RatchetAnchorStore {
    const { anchors, database } = this.#deps;
    return {
      ...anchors,
      advance: (anchor) =>
        inTransaction(database, async (trx) => {
          await advanceRatchetAnchor(trx, anchor);
          await this.#step(trx, 'months_expired', 0, { before: anchor.base });
        }),
    };
  }

  #count(report: RetentionReport): void {
    const t = this.#totals;
    t.runs++;
    t.partitionsDropped += report.partitions_dropped.length;
    t.keysDestroyed += report.month_keys_destroyed + report.legacy_keys_destroyed;
    for (const [kind, n] of Object.entries(report.records_deleted)) t.recordsDeleted[kind] = (t.recordsDeleted[kind] ?? 0) + n;
    if (report.partition_records_dropped > 0) t.recordsDeleted['(whole months)'] = (t.recordsDeleted['(whole months)'] ?? 0) + report.partition_records_dropped;
    t.lastRunAt = new Date();
  }
}

/** Each declared kind's retention in days. */
function retentionDays(manifest: ManifestDocument): Record<string, number> {
  return Object.fromEntries(Object.entries(manifest.kinds).map(([kind, terms]) => [kind, terms.retention_days]));
}

