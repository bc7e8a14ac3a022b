import type { AuditEventInput, AuditLog } from '../audit/index.js';
import type { Principal } from '../auth/index.js';
import { dataKeyId, type DataKey, type KeyRing, type RecordToSeal, type StoredDataKey } from '../crypto/index.js';
import {
  copyRecords,
  ensureRecordPartitions,
  findEmployeesForIngest,
  findStoredRecordKeys,
  inTransaction,
  insertMonthKeys,
  isUniqueViolation,
  isRetryableConflict,
  isRotationFence,
  liveMonthKeys,
  keysUsedBy,
  lockConsentState,
  nextDataKeyVersions,
  recordKey,
  tallyRecords,
  recordMonth,
  type RecordRow,
  type VaultDatabase,
} from '../db/index.js';
import type { Category, Classification, Classifier, ClassifierLists } from '../classify/index.js';
import type { ControlDrop, IngestGate } from '../collection/index.js';
import { isVaultError, publicErrorName, VaultError } from '../errors/index.js';
import { isEmployeeId, NEVER_EXPORTED_SENSITIVITY } from '../model/index.js';
import { parseRecord, type ParsedRecord } from './validate.js';
import { MAX_CHUNK_PAYLOAD_BYTES, type SealedChunk, type SealWorkers } from './seal-workers.js';

export type DropReason = 'not_enrolled' | 'keys_destroyed' | 'sensitive_content' | ControlDrop;
export type RejectionCode = 'invalid_record' | 'unknown_kind' | 'unknown_employee';

/** A record not stored, and why; `categories` (never the matched text) when its content was the reason. */
export interface DroppedRecord {
  readonly index: number;
  readonly reason: DropReason;
  readonly categories?: readonly Category[];
}

export interface IngestResult {
  readonly accepted: number;
  readonly duplicates: number;
  readonly dropped: DroppedRecord[];
  readonly rejected: Array<{ index: number; error: RejectionCode; message: string }>;
}

export interface IngestDeps {
  readonly database: VaultDatabase;
  readonly keyRing: KeyRing;
  readonly audit: AuditLog;
  readonly recordKinds: ReadonlyMap<string, number>;
  readonly maxBatchRecords: number;
  /** The classifier of the policy revision in force; throws `ERR_POLICY_UNAVAILABLE` when none is. */
  readonly classifier: () => BatchClassifier;
  /** VAULT_STORE_LEVEL_4: keep level-4 records (encrypted, never exportable) instead of dropping them. */
  readonly storeLevel4: boolean;
  /** The collection controls: the manifest, consent, pauses and the kill switch. */
  readonly collection: IngestGate;
  /** Classify and seal chunks in worker threads (VAULT_INGEST_WORKERS); without them, in this thread. */
  readonly sealWorkers?: SealWorkers | undefined;
}

/** What classifies a batch: one classifier for all its records, and the revision its lists belong to. */
export interface BatchClassifier {
  readonly classifier: Pick<Classifier, 'classify'>;
  readonly revision: string;
  readonly lists: 'bundle' | 'builtin';
  /** The lists, for the seal workers to build the same classifier; without them a batch is classified in this thread. */
  readonly source?: ClassifierLists | undefined;
}

interface Candidate {
  readonly record: ParsedRecord;
  readonly orgUnit: string;
  readonly key: StoredDataKey;
  /** Set when the record is first classified, inside the write; a retried write reuses it. */
  found?: Classification;
}

/** The (event id, capture time) pairs a batch has had, the primary key, with no key string per record. */
class SeenRecords {
  readonly #times = new Map<string, number | Set<number>>();

  /** Whether the pair came before; it is remembered either way. */
  seen(eventId: string, capturedAt: number): boolean {
    const known = this.#times.get(eventId);
    if (known === undefined) {
      this.#times.set(eventId, capturedAt);
      return false;
    }
    if (typeof known === 'number') {
      if (known === capturedAt) return true;
      this.#times.set(eventId, new Set([known, capturedAt]));
      return false;
    }
    if (known.has(capturedAt)) return true;
    known.add(capturedAt);
    return false;
  }
}

function countByReason(dropped: readonly DroppedRecord[]): Record<string, number> {
  const counts: Record<string, number> = {};
  for (const d of dropped) counts[d.reason] = (counts[d.reason] ?? 0) + 1;
  return counts;
}

/** What the batch's audit event says of the records dropped for their content: how many, and per category. */
function sensitiveCounts(dropped: readonly DroppedRecord[]): { records: number; categories: Record<string, number> } {
  const categories: Record<string, number> = {};
  let records = 0;
  for (const d of dropped) {
    if (d.reason !== 'sensitive_content') continue;
    records++;
    for (const c of d.categories ?? []) categories[c] = (categories[c] ?? 0) + 1;
  }
  return { records, categories };
}

/** A record's level and categories: the highest of its kind's floor, the agent's declaration and what the classifier `found`. */
function levelOf(c: Candidate, found: Classification): { sensitivity: number; categories: readonly Category[] } {
  return { sensitivity: Math.max(c.record.kindFloor, c.record.declaredSensitivity ?? 0, found.level), categories: found.categories };
}

const NOTHING_FOUND: Classification = { level: 0, categories: [] };

/** What a record's envelope is bound to, but its level and categories. */
function bindingOf(c: Candidate): Omit<RecordRow, 'envelope' | 'sensitivity' | 'categories'> {
  return { eventId: c.record.eventId, employeeId: c.record.employeeId, orgUnit: c.orgUnit, kind: c.record.kind, capturedAt: c.record.capturedAt, dekVersion: c.key.dekVersion };
}

const MAX_ATTEMPTS = 3;
const COPY_CHUNK = 500;
/** A row's envelope before it is sealed. */
const NO_ENVELOPE = new Uint8Array(0);

/** A row being written: its envelope is set once sealed. */
type SealingRow = { -readonly [K in keyof RecordRow]: RecordRow[K] };

/**
 * Ingests one batch: every record is checked and reported by index; the accepted ones are sealed
 * under their employee's data key and written in one transaction, or none are.
 */
export class RecordIngestor {
  readonly #deps: IngestDeps;
  readonly #knownMonths = new Set<string>();
  readonly #sealed = { mainThread: 0, workers: 0 };

  constructor(deps: IngestDeps) {
    this.#deps = deps;
  }

  /** Chunks classified and sealed so far, in this thread and in seal workers (written or not: a rolled-back write counts). */
  chunksSealed(): { readonly mainThread: number; readonly workers: number } {
    return { ...this.#sealed };
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
    await this.#refuseWhilePaused(actor, records.length, async () => this.#deps.collection.assertCollecting());
    const classification = await this.#classifierOrRefuse(actor, records.length);
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
    const admitted: Array<{ record: ParsedRecord; orgUnit: string; month: string }> = [];
    const inBatch = new SeenRecords();
    // A batch's records fall in a month or two: each month's name and key state is read once.
    const months = new Map<number, { month: string; held: boolean }>();
    const monthOf = (at: Date) => {
      const index = at.getUTCFullYear() * 12 + at.getUTCMonth();
      let known = months.get(index);
      if (!known) {
        const month = recordMonth(at);
        known = { month, held: this.#deps.keyRing.months.holds(month) };
        months.set(index, known);
      }
      return known;
    };
    let duplicates = 0;
    for (const record of parsed) {
      const employee = roster.get(record.employeeId);
      if (!employee) {
        rejected.push({ index: record.index, error: 'unknown_employee', message: 'employee_id is not on the roster' });
      } else if (!employee.enrolled) {
        dropped.push({ index: record.index, reason: 'not_enrolled' });
      } else {
        const { month, held } = monthOf(record.capturedAt);
        // A month whose keys were destroyed (expired for every kind) takes no record.
        if (!held) {
          dropped.push({ index: record.index, reason: 'expired' });
          continue;
        }
        if (inBatch.seen(record.eventId, record.capturedAt.getTime())) {
          duplicates++;
          continue;
        }
        admitted.push({ record, orgUnit: employee.orgUnit, month });
      }
    }
    const monthKeys = await this.#monthKeys(actor, admitted);
    const candidates: Candidate[] = [];
    for (const a of admitted) {
      const key = monthKeys.get(a.record.employeeId)?.get(a.month);
      // No key: the employee was un-enrolled or erased, or the month expired, since the roster was read.
      if (!key) dropped.push({ index: a.record.index, reason: 'keys_destroyed' });
      else candidates.push({ record: a.record, orgUnit: a.orgUnit, key });
    }
    rejected.sort((a, b) => a.index - b.index);
    dropped.sort((a, b) => a.index - b.index);
    const event = (accepted: number, duplicateCount: number, lateDrops: readonly DroppedRecord[] = []): AuditEventInput => {
      const all = [...dropped, ...lateDrops];
      return {
        action: 'records.ingest',
        decision: 'allow',
        actor,
        recordCount: accepted,
        policyRevision: classification.revision,
        details: {
          classifier_lists: classification.lists,
          received: records.length,
          accepted,
          duplicates: duplicateCount,
          dropped: all.length,
          ...(all.length > 0 ? { dropped_by_reason: countByReason(all) } : {}),
          rejected: rejected.length,
          ...(all.some((d) => d.reason === 'sensitive_content') ? { sensitive_content: sensitiveCounts(all) } : {}),
        },
      };
    };
    if (candidates.length === 0) {
      await this.#deps.audit.appendAlone(event(0, duplicates));
      return { accepted: 0, duplicates, dropped, rejected };
    }

    await this.#ensurePartitions(candidates);
    return this.#refuseWhilePaused(actor, records.length, () =>
      this.#deps.keyRing.withDataKeys(
        candidates.map((c) => c.key),
        (keys) =>
          this.#writeWithRetries(candidates, keys, classification, duplicates, event).then((r) => ({
            accepted: r.accepted,
            duplicates: r.duplicates,
            dropped: [...dropped, ...r.lateDrops].sort((a, b) => a.index - b.index),
            rejected,
          })),
      ),
    );
  }

  /**
   * The live data key of each employee and month the batch needs, creating the missing ones: a
   * fresh random key sealed under the month's key and wrapped under the KEK. Two instances creating
   * the same key at once store one; the other reads it back.
   */
  async #monthKeys(actor: Principal, admitted: ReadonlyArray<{ record: ParsedRecord; month: string }>): Promise<Map<string, Map<string, StoredDataKey>>> {
    const { database, keyRing, audit } = this.#deps;
    // By employee, then month: looked up once a record, without a key string of its own.
    const wanted = new Map<string, Set<string>>();
    for (const a of admitted) {
      const months = wanted.get(a.record.employeeId);
      if (months) months.add(a.month);
      else wanted.set(a.record.employeeId, new Set([a.month]));
    }
    const keys = new Map<string, Map<string, StoredDataKey>>();
    const read = async (pairs: ReadonlyArray<{ employeeId: string; month: string }>) => {
      const rows = await liveMonthKeys(database.db, [...new Set(pairs.map((p) => p.employeeId))], [...new Set(pairs.map((p) => p.month))]);
      for (const k of rows) {
        const stored = { employeeId: k.employeeId, dekVersion: k.dekVersion, wrappedKey: k.wrappedKey, month: k.month };
        const byMonth = keys.get(k.employeeId);
        if (byMonth) byMonth.set(k.month, stored);
        else keys.set(k.employeeId, new Map([[k.month, stored]]));
      }
    };
    const pairs = [...wanted].flatMap(([employeeId, months]) => [...months].map((month) => ({ employeeId, month })));
    await read(pairs);
    for (let attempt = 0; attempt < MAX_ATTEMPTS; attempt++) {
      const missing = pairs.filter((p) => !keys.get(p.employeeId)?.has(p.month));
      if (missing.length === 0) break;
      const next = await nextDataKeyVersions(database.db, [...new Set(missing.map((m) => m.employeeId))]);
      const fresh = await Promise.all(
        missing.map((m) => {
          const version = next.get(m.employeeId)!;
          next.set(m.employeeId, version + 1);
          return keyRing.createDataKey(m.employeeId, version, m.month);
        }),
      );
      // Stored with its audit event or not at all: no key exists that the log does not know of.
      try {
        await inTransaction(database, async (trx) => {
          const stored = await insertMonthKeys(trx, fresh.map((k) => ({ employeeId: k.employeeId, month: k.month!, dekVersion: k.dekVersion, wrappedKey: k.wrappedKey, kekId: k.kekId })));
          if (stored > 0) {
            await audit.append(trx, {
              action: 'key.create',
              decision: 'info',
              actor,
              recordCount: stored,
              details: { data_keys_created: stored, months: [...new Set(missing.map((m) => m.month))].sort(), kek_id: keyRing.kekId },
            });
          }
        });
      } catch (err) {
        // A KEK rotation began on another instance and this one has not loaded the new KEK yet: load it and wrap again.
        if (!isRotationFence(err) || attempt >= MAX_ATTEMPTS - 1) throw err;
        await keyRing.refreshKeks();
        continue;
      }
      await read(missing);
    }
    return keys;
  }

  /** A batch refused because the program is paused (known here, or found in the write) is audited as a deny. */
  async #refuseWhilePaused<T>(actor: Principal, received: number, work: () => Promise<T>): Promise<T> {
    try {
      return await work();
    } catch (err) {
      if (isVaultError(err, 'ERR_PROGRAM_PAUSED')) {
        await this.#deps.audit.appendAlone({ action: 'records.ingest', decision: 'deny', actor, recordCount: 0, details: { received, reason: 'program_paused' } });
      }
      throw err;
    }
  }

  /** Nothing is classified, so nothing is stored, while no policy revision (and so no lists) is in force: refused and audited. */
  async #classifierOrRefuse(actor: Principal, received: number): Promise<BatchClassifier> {
    try {
      return this.#deps.classifier();
    } catch (err) {
      const reason = publicErrorName(err instanceof VaultError ? err.code : 'ERR_INTERNAL');
      await this.#deps.audit.appendAlone({ action: 'records.ingest', decision: 'deny', actor, recordCount: 0, details: { received, reason } });
      throw err;
    }
  }

  async #writeWithRetries(
    candidates: readonly Candidate[],
    keys: ReadonlyMap<string, DataKey>,
    classifier: BatchClassifier,
    inBatchDuplicates: number,
    event: (accepted: number, duplicates: number, lateDrops: readonly DroppedRecord[]) => AuditEventInput,
  ): Promise<{ accepted: number; duplicates: number; lateDrops: IngestResult['dropped'] }> {
    // Optimistic: a batch seen for the first time is written without looking up duplicates. A retry
    // hits the primary key, rolls back whole, and takes the path that filters stored events first.
    try {
      const written = await this.#write(candidates, keys, classifier, (n, late) => event(n, inBatchDuplicates, late));
      return { ...written, duplicates: inBatchDuplicates };
    } catch (err) {
      if (!isUniqueViolation(err) && !isRetryableConflict(err)) throw err;
    }
    for (let attempt = 1; ; attempt++) {
      try {
        const stored = await findStoredRecordKeys(this.#deps.database.db, candidates.map((c) => c.record));
        const fresh = candidates.filter((c) => !stored.has(recordKey(c.record.eventId, c.record.capturedAt)));
        const duplicates = inBatchDuplicates + candidates.length - fresh.length;
        return { ...(await this.#write(fresh, keys, classifier, (n, late) => event(n, duplicates, late))), duplicates };
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
   * The level stored with a record: the highest of its kind's floor, the agent's declaration and
   * what the classifier finds (in this thread, once: a retried write reuses it). An agent may raise
   * a level, never lower it.
   */
  #classify(c: Candidate, classifier: BatchClassifier['classifier']): { sensitivity: number; categories: readonly Category[] } {
    return levelOf(c, (c.found ??= classifier.classify(c.record.payload)));
  }

  /**
   * Classifies, seals and writes in one transaction. Consent is checked again under row locks
   * first, so a record of an employee un-enrolled or erased since the batch was checked is dropped,
   * not stored. Classification and sealing run chunk by chunk as PostgreSQL takes the COPY stream,
   * so the CPU work overlaps the database's; a level-4 record is dropped there, before any byte of
   * it is sealed, unless VAULT_STORE_LEVEL_4 keeps it.
   */
  async #write(
    candidates: readonly Candidate[],
    keys: ReadonlyMap<string, DataKey>,
    batch: BatchClassifier,
    event: (written: number, lateDrops: readonly DroppedRecord[]) => AuditEventInput,
  ): Promise<{ accepted: number; lateDrops: IngestResult['dropped'] }> {
    const { database, keyRing, audit, storeLevel4, collection, sealWorkers } = this.#deps;
    const classify = (c: Candidate) => this.#classify(c, batch.classifier);
    const sealedCount = this.#sealed;
    return inTransaction(database, async (trx) => {
      await collection.lock(trx);
      const consent = await lockConsentState(trx, [...new Set(candidates.map((c) => c.record.employeeId))], keysUsedBy(candidates.map((c) => ({ employee_id: c.record.employeeId, dek_version: c.key.dekVersion }))));
      const controlled = await collection.judge(trx, candidates.map((c) => c.record), consent);
      const lateDrops: IngestResult['dropped'] = [];
      const writable = candidates.filter((c) => {
        const state = consent.get(c.record.employeeId);
        const reason: DropReason | undefined = !state?.enrolled
          ? 'not_enrolled'
          : !state.liveKeyVersions.has(c.key.dekVersion)
            ? 'keys_destroyed'
            : controlled.get(c.record.index);
        if (reason) lateDrops.push({ index: c.record.index, reason });
        return !reason;
      });
      let written = 0;
      // Keyed by the stored key itself: a batch's candidates share one object per employee and month.
      const tallies = new Map<StoredDataKey, { employeeId: string; dekVersion: number; records: number }>();
      const dataKeys = new Map<StoredDataKey, DataKey>();
      const dataKeyOf = (c: Candidate): DataKey => {
        let key = dataKeys.get(c.key);
        if (!key) {
          key = keys.get(dataKeyId(c.record.employeeId, c.key.dekVersion))!;
          dataKeys.set(c.key, key);
        }
        return key;
      };
      /** Counts a record to be written under its key, or drops it (level 4, unless kept); its row, its envelope still to come. */
      const admit = (c: Candidate, level: { sensitivity: number; categories: readonly Category[] }): SealingRow | undefined => {
        const { sensitivity, categories } = level;
        if (sensitivity >= NEVER_EXPORTED_SENSITIVITY && !storeLevel4) {
          lateDrops.push({ index: c.record.index, reason: 'sensitive_content', categories });
          return undefined;
        }
        written++;
        const tally = tallies.get(c.key);
        if (tally) tally.records++;
        else tallies.set(c.key, { employeeId: c.record.employeeId, dekVersion: c.key.dekVersion, records: 1 });
        const { eventId, employeeId, kind, capturedAt } = c.record;
        return { eventId, employeeId, orgUnit: c.orgUnit, kind, capturedAt, dekVersion: c.key.dekVersion, sensitivity, categories, envelope: NO_ENVELOPE };
      };
      function* sealedChunks(): Generator<RecordRow[]> {
        for (let start = 0; start < writable.length; start += COPY_CHUNK) {
          const rows: SealingRow[] = [];
          const items: RecordToSeal[] = [];
          for (let i = start; i < writable.length && i < start + COPY_CHUNK; i++) {
            const c = writable[i]!;
            const row = admit(c, classify(c));
            if (!row) continue;
            rows.push(row);
            items.push({ key: dataKeyOf(c), binding: row, plaintext: c.record.payloadText });
          }
          const { envelopes, ends } = keyRing.sealRecords(items);
          sealedCount.mainThread++;
          for (let i = 0; i < rows.length; i++) rows[i]!.envelope = envelopes.subarray(i === 0 ? 0 : ends[i - 1]!, ends[i]!);
          yield rows;
        }
      }
      /**
       * The same chunks classified and sealed by the seal workers, a few at once (one more than
       * there are workers: each has the next ready when PostgreSQL takes one), written in order.
       */
      async function* sealedByWorkers(workers: SealWorkers, lists: ClassifierLists): AsyncGenerator<RecordRow[]> {
        const inFlight: Array<{ chunk: readonly Candidate[]; sealed: Promise<SealedChunk> }> = [];
        const send = (chunk: readonly Candidate[]) => {
          const used = new Map<string, DataKey>();
          for (const c of chunk) {
            const id = dataKeyId(c.record.employeeId, c.key.dekVersion);
            used.set(id, keys.get(id)!);
          }
          const sealed = workers.seal({
            revision: batch.revision,
            lists,
            sealLevel4: storeLevel4,
            kekFingerprint: keyRing.sealingKekFingerprint(),
            keys: keyRing.packDataKeys(used.values()),
            records: chunk.map((c) => ({ payloadText: c.record.payloadText, floor: levelOf(c, NOTHING_FOUND).sensitivity, binding: bindingOf(c) })),
          });
          // Awaited in order below; one that fails after the write was given up must not go unhandled.
          sealed.catch(() => undefined);
          inFlight.push({ chunk, sealed });
        };
        let next = 0;
        /** The next chunk: up to COPY_CHUNK records and MAX_CHUNK_PAYLOAD_BYTES of payload text, one record at least. */
        const take = () => {
          const from = next;
          let bytes = writable[next]!.record.payloadText.length;
          for (next++; next < writable.length && next - from < COPY_CHUNK; next++) {
            bytes += writable[next]!.record.payloadText.length;
            if (bytes > MAX_CHUNK_PAYLOAD_BYTES) break;
          }
          return writable.slice(from, next);
        };
        while (next < writable.length || inFlight.length > 0) {
          while (next < writable.length && inFlight.length <= workers.size) send(take());
          const { chunk, sealed } = inFlight.shift()!;
          const { found, envelopes, ends } = await sealed;
          sealedCount.workers++;
          const rows: RecordRow[] = [];
          chunk.forEach((c, i) => {
            c.found ??= found[i]!;
            const row = admit(c, levelOf(c, found[i]!));
            const start = i === 0 ? 0 : ends[i - 1]!;
            if (!row !== (ends[i] === start)) throw new VaultError('ERR_INTERNAL', 'a seal worker sealed other records than this thread admits');
            if (row) {
              row.envelope = Buffer.from(envelopes.buffer, envelopes.byteOffset + start, ends[i]! - start);
              rows.push(row);
            }
          });
          yield rows;
        }
      }
      if (writable.length > 0) await copyRecords(trx, sealWorkers && batch.source ? sealedByWorkers(sealWorkers, batch.source) : sealedChunks());
      await tallyRecords(trx, [...tallies.values()]);
      // Last in the transaction: the audit head's lock is held only until the commit.
      await audit.append(trx, event(written, lateDrops));
      return { accepted: written, lateDrops };
    });
  }
}
