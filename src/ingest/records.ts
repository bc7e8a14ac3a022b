import type { AuditEventInput, AuditLog } from '../audit/index.js';
import type { Principal } from '../auth/index.js';
import { dataKeyId, type DataKey, type KeyRing } from '../crypto/index.js';
import {
  copyRecords,
  ensureRecordPartitions,
  findEmployeesForIngest,
  findStoredRecordKeys,
  inTransaction,
  isUniqueViolation,
  isRetryableConflict,
  lockConsentState,
  recordKey,
  recordMonth,
  type LiveDataKeyRow,
  type RecordRow,
  type VaultDatabase,
} from '../db/index.js';
import { VaultError } from '../errors/index.js';
import { classifySensitivity } from './classify.js';
import { isEmployeeId } from '../model/index.js';
import { parseRecord, type ParsedRecord } from './validate.js';

export type DropReason = 'not_enrolled' | 'keys_destroyed';
export type RejectionCode = 'invalid_record' | 'unknown_kind' | 'unknown_employee';

export interface IngestResult {
  readonly accepted: number;
  readonly duplicates: number;
  readonly dropped: Array<{ index: number; reason: DropReason }>;
  readonly rejected: Array<{ index: number; error: RejectionCode; message: string }>;
}

export interface IngestDeps {
  readonly database: VaultDatabase;
  readonly keyRing: KeyRing;
  readonly audit: AuditLog;
  readonly recordKinds: ReadonlyMap<string, number>;
  readonly maxBatchRecords: number;
}

interface Candidate {
  readonly record: ParsedRecord;
  readonly orgUnit: string;
  readonly key: LiveDataKeyRow;
  readonly sensitivity: number;
}

const MAX_ATTEMPTS = 3;
const COPY_CHUNK = 500;

/**
 * Ingests one batch: every record is checked and reported by index; the accepted ones are sealed
 * under their employee's data key and written in one transaction, or none are.
 */
export class RecordIngestor {
  readonly #deps: IngestDeps;
  readonly #knownMonths = new Set<string>();

  constructor(deps: IngestDeps) {
    this.#deps = deps;
  }

  /**
   * Ingests one batch for `actor`; the batch's audit event commits in the same transaction as its
   * records, and if the event cannot be written nothing is stored (`ERR_UNAVAILABLE`).
   */
  async ingest(records: unknown, actor: Principal, now: number = Date.now()): Promise<IngestResult> {
    if (!Array.isArray(records)) throw new VaultError('ERR_INVALID_REQUEST', 'records must be an array');
    if (records.length > this.#deps.maxBatchRecords) {
      throw new VaultError('ERR_BATCH_TOO_LARGE', `a batch holds at most ${this.#deps.maxBatchRecords} records`);
    }
    // The roster lookup runs while the records are checked; ids that fail the check are simply unused.
    const claimedIds = new Set<string>();
    for (const raw of records) {
      const id = (raw as { employee_id?: unknown } | null)?.employee_id;
      if (isEmployeeId(id)) claimedIds.add(id);
    }
    const rosterLookup = findEmployeesForIngest(this.#deps.database.db, [...claimedIds]);
    rosterLookup.catch(() => {});
    const rejected: IngestResult['rejected'] = [];
    const dropped: IngestResult['dropped'] = [];
    const parsed: ParsedRecord[] = [];
    records.forEach((raw, index) => {
      const result = parseRecord(raw, index, this.#deps.recordKinds, now);
      if ('error' in result) rejected.push({ index, error: result.error, message: result.message });
      else parsed.push(result);
    });

    const roster = await rosterLookup;
    const candidates: Candidate[] = [];
    const inBatch = new Set<string>();
    let duplicates = 0;
    for (const record of parsed) {
      const employee = roster.get(record.employeeId);
      if (!employee) {
        rejected.push({ index: record.index, error: 'unknown_employee', message: 'employee_id is not on the roster' });
      } else if (!employee.enrolled) {
        dropped.push({ index: record.index, reason: 'not_enrolled' });
      } else if (!employee.key) {
        dropped.push({ index: record.index, reason: 'keys_destroyed' });
      } else {
        const key = recordKey(record.eventId, record.capturedAt);
        if (inBatch.has(key)) {
          duplicates++;
          continue;
        }
        inBatch.add(key);
        const sensitivity = classifySensitivity(record.kindFloor, record.declaredSensitivity, record.payloadText);
        candidates.push({ record, orgUnit: employee.orgUnit, key: employee.key, sensitivity });
      }
    }
    rejected.sort((a, b) => a.index - b.index);
    dropped.sort((a, b) => a.index - b.index);
    const event = (accepted: number, duplicateCount: number, lateDrops = 0): AuditEventInput => ({
      action: 'records.ingest',
      decision: 'allow',
      actor,
      recordCount: accepted,
      details: { received: records.length, accepted, duplicates: duplicateCount, dropped: dropped.length + lateDrops, rejected: rejected.length },
    });
    if (candidates.length === 0) {
      await this.#deps.audit.appendAlone(event(0, duplicates));
      return { accepted: 0, duplicates, dropped, rejected };
    }

    await this.#ensurePartitions(candidates);
    return this.#deps.keyRing.withDataKeys(
      candidates.map((c) => c.key),
      (keys) =>
        this.#writeWithRetries(candidates, keys, duplicates, event).then((r) => ({
          accepted: r.accepted,
          duplicates: r.duplicates,
          dropped: [...dropped, ...r.lateDrops].sort((a, b) => a.index - b.index),
          rejected,
        })),
    );
  }

  async #writeWithRetries(
    candidates: readonly Candidate[],
    keys: ReadonlyMap<string, DataKey>,
    inBatchDuplicates: number,
    event: (accepted: number, duplicates: number, lateDrops: number) => AuditEventInput,
  ): Promise<{ accepted: number; duplicates: number; lateDrops: IngestResult['dropped'] }> {
    // Optimistic: a batch seen for the first time is written without looking up duplicates. A retry
    // hits the primary key, rolls back whole, and takes the path that filters stored events first.
    try {
      const written = await this.#write(candidates, keys, (n, late) => event(n, inBatchDuplicates, late));
      return { ...written, duplicates: inBatchDuplicates };
    } catch (err) {
      if (!isUniqueViolation(err) && !isRetryableConflict(err)) throw err;
    }
    for (let attempt = 1; ; attempt++) {
      try {
        const stored = await findStoredRecordKeys(this.#deps.database.db, candidates.map((c) => c.record));
        const fresh = candidates.filter((c) => !stored.has(recordKey(c.record.eventId, c.record.capturedAt)));
        const duplicates = inBatchDuplicates + candidates.length - fresh.length;
        return { ...(await this.#write(fresh, keys, (n, late) => event(n, duplicates, late))), duplicates };
      } catch (err) {
        // A concurrent retry of the same batch committed in between (or a deadlock): run it again.
        if ((!isUniqueViolation(err) && !isRetryableConflict(err)) || attempt >= MAX_ATTEMPTS) throw err;
      }
    }
  }

  async #ensurePartitions(candidates: readonly Candidate[]): Promise<void> {
    const months = new Set<string>();
    let lastMonthStart = Number.NaN;
    for (const c of candidates) {
      const at = c.record.capturedAt;
      // Records of a batch are mostly in one month: skip the formatting while they stay in it.
      const monthStart = Date.UTC(at.getUTCFullYear(), at.getUTCMonth(), 1);
      if (monthStart !== lastMonthStart) months.add(recordMonth(at));
      lastMonthStart = monthStart;
    }
    const missing = [...months].filter((m) => !this.#knownMonths.has(m));
    if (missing.length === 0) return;
    await ensureRecordPartitions(this.#deps.database.db, missing);
    for (const m of missing) this.#knownMonths.add(m);
  }

  /**
   * Seals and writes in one transaction. Consent is checked again under row locks first, so a
   * record of an employee un-enrolled or erased since the batch was checked is dropped, not stored.
   * Sealing runs chunk by chunk as PostgreSQL takes the COPY stream.
   */
  async #write(
    candidates: readonly Candidate[],
    keys: ReadonlyMap<string, DataKey>,
    event: (written: number, lateDrops: number) => AuditEventInput,
  ): Promise<{ accepted: number; lateDrops: IngestResult['dropped'] }> {
    const { database, keyRing, audit } = this.#deps;
    return inTransaction(database, async (trx) => {
      const consent = await lockConsentState(trx, [...new Set(candidates.map((c) => c.record.employeeId))]);
      const lateDrops: IngestResult['dropped'] = [];
      const writable = candidates.filter((c) => {
        const state = consent.get(c.record.employeeId);
        const reason: DropReason | undefined = !state?.enrolled ? 'not_enrolled' : !state.liveKeyVersions.has(c.key.dekVersion) ? 'keys_destroyed' : undefined;
        if (reason) lateDrops.push({ index: c.record.index, reason });
        return !reason;
      });
      function* sealedChunks(): Generator<RecordRow[]> {
        for (let start = 0; start < writable.length; start += COPY_CHUNK) {
          const chunk = writable.slice(start, start + COPY_CHUNK);
          const bindings = chunk.map((c) => ({
            eventId: c.record.eventId,
            employeeId: c.record.employeeId,
            orgUnit: c.orgUnit,
            kind: c.record.kind,
            capturedAt: c.record.capturedAt,
            sensitivity: c.sensitivity,
            dekVersion: c.key.dekVersion,
          }));
          const envelopes = keyRing.encryptRecords(
            chunk.map((c, i) => ({ key: keys.get(dataKeyId(c.record.employeeId, c.key.dekVersion))!, binding: bindings[i]!, plaintext: Buffer.from(c.record.payloadText) })),
          );
          yield bindings.map((b, i) => ({ ...b, envelope: envelopes[i]! }));
        }
      }
      if (writable.length > 0) await copyRecords(trx, sealedChunks());
      // Last in the transaction: the audit head's lock is held only until the commit.
      await audit.append(trx, event(writable.length, lateDrops.length));
      return { accepted: writable.length, lateDrops };
    });
  }
}
