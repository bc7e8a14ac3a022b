import type { DataKey, KeyRing } from '../crypto/index.js';
import {
  copyRecords,
  ensureRecordPartitions,
  findEmployeesForIngest,
  findStoredRecordKeys,
  isUniqueViolation,
  recordKey,
  recordMonth,
  type EmployeeForIngest,
  type RecordRow,
  type VaultDatabase,
} from '../db/index.js';
import { VaultError } from '../errors/index.js';
import { classifySensitivity } from './classify.js';
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
  readonly recordKinds: ReadonlyMap<string, number>;
  readonly maxBatchRecords: number;
}

interface Candidate {
  readonly record: ParsedRecord;
  readonly employee: EmployeeForIngest & { key: NonNullable<EmployeeForIngest['key']> };
  readonly sensitivity: number;
}

const MAX_ATTEMPTS = 3;

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

  async ingest(records: unknown, now: number = Date.now()): Promise<IngestResult> {
    if (!Array.isArray(records)) throw new VaultError('ERR_INVALID_REQUEST', 'records must be an array');
    if (records.length > this.#deps.maxBatchRecords) {
      throw new VaultError('ERR_BATCH_TOO_LARGE', `a batch holds at most ${this.#deps.maxBatchRecords} records`);
    }
    const rejected: IngestResult['rejected'] = [];
    const dropped: IngestResult['dropped'] = [];
    const parsed: ParsedRecord[] = [];
    records.forEach((raw, index) => {
      const result = parseRecord(raw, index, this.#deps.recordKinds, now);
      if ('error' in result) rejected.push({ index, error: result.error, message: result.message });
      else parsed.push(result);
    });

    const roster = await findEmployeesForIngest(this.#deps.database.db, [...new Set(parsed.map((p) => p.employeeId))]);
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
      } else if (inBatch.has(recordKey(record.eventId, record.capturedAt))) {
        duplicates++;
      } else {
        inBatch.add(recordKey(record.eventId, record.capturedAt));
        const sensitivity = classifySensitivity(record.kindFloor, record.declaredSensitivity, record.payloadText);
        candidates.push({ record, employee: { ...employee, key: employee.key }, sensitivity });
      }
    }
    rejected.sort((a, b) => a.index - b.index);
    dropped.sort((a, b) => a.index - b.index);
    if (candidates.length === 0) return { accepted: 0, duplicates, dropped, rejected };

    await this.#ensurePartitions(candidates);
    for (let attempt = 1; ; attempt++) {
      try {
        const written = await this.#writeNew(candidates);
        return { accepted: written, duplicates: duplicates + candidates.length - written, dropped, rejected };
      } catch (err) {
        // A concurrent retry of the same batch committed first; the next pass sees its rows as duplicates.
        if (!isUniqueViolation(err) || attempt >= MAX_ATTEMPTS) throw err;
      }
    }
  }

  async #ensurePartitions(candidates: readonly Candidate[]): Promise<void> {
    const months = new Set(candidates.map((c) => recordMonth(c.record.capturedAt)));
    const missing = [...months].filter((m) => !this.#knownMonths.has(m));
    if (missing.length === 0) return;
    await ensureRecordPartitions(this.#deps.database.db, missing);
    for (const m of missing) this.#knownMonths.add(m);
  }

  async #writeNew(candidates: readonly Candidate[]): Promise<number> {
    const { database, keyRing } = this.#deps;
    const stored = await findStoredRecordKeys(database.db, candidates.map((c) => c.record));
    const fresh = candidates.filter((c) => !stored.has(recordKey(c.record.eventId, c.record.capturedAt)));
    if (fresh.length === 0) return 0;
    const keys = new Map<string, DataKey>();
    for (const c of fresh) {
      if (!keys.has(c.record.employeeId)) keys.set(c.record.employeeId, await keyRing.unwrapDataKey(c.employee.key));
    }
    const bindings = fresh.map((c) => ({
      eventId: c.record.eventId,
      employeeId: c.record.employeeId,
      orgUnit: c.employee.orgUnit,
      kind: c.record.kind,
      capturedAt: c.record.capturedAt,
      sensitivity: c.sensitivity,
      dekVersion: c.employee.key.dekVersion,
    }));
    const envelopes = keyRing.encryptRecords(
      fresh.map((c, i) => ({ key: keys.get(c.record.employeeId)!, binding: bindings[i]!, plaintext: Buffer.from(c.record.payloadText) })),
    );
    const rows: RecordRow[] = bindings.map((b, i) => ({ ...b, envelope: envelopes[i]! }));
    await database.db.transaction().execute((trx) => copyRecords(trx, rows));
    return rows.length;
  }
}
