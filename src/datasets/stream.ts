import type { Principal } from '../auth/index.js';
import { employeeKeyStates, findLease, inTransaction, keysUsedBy, readScopePage, shardEmployees, type LeaseRow, type LeaseShard, type StreamRow } from '../db/index.js';
import { VaultError } from '../errors/index.js';
import { isUuid } from '../model/index.js';
import { CursorSeal, type StreamPosition } from './cursor.js';
import { nowOf, PAGE_RECORDS, type DatasetDeps } from './deps.js';
import { encodePage, pseudonymizer } from './page.js';
import { assertLeaseStillGranted } from './refusals.js';
import { assertLeaseNotRevoked, revokedError } from './revocation.js';

type StreamRefusal = 'ERR_NOT_FOUND' | 'ERR_FORBIDDEN' | 'ERR_LEASE_EXPIRED' | 'ERR_LEASE_REVOKED' | 'ERR_INVALID_REQUEST' | 'ERR_EXPORTS_FROZEN';

/** A dataset's pages, and the signal that fires when the stream must be cut at once (an export freeze). */
export interface RecordStream extends AsyncIterable<Buffer> {
  readonly cut: AbortSignal;
  /** Releases the stream's keys and listeners; the adapter calls it when the connection closes. Idempotent. */
  close(): void;
}

function once(action: () => void): () => void {
  let done = false;
  return () => {
    if (done) return;
    done = true;
    action();
  };
}

const frozenError = () => new VaultError('ERR_EXPORTS_FROZEN', 'exports are frozen; no dataset is streamed until they resume');

/**
 * A dataset id exactly as the vault issued it. PostgreSQL finds a uuid whatever its case, but the
 * dataset's secret is bound to the id's text: another spelling is no dataset, not a tamper alarm.
 */
const isIssuedDatasetId = (id: string): boolean => isUuid(id) && id === id.toLowerCase();

/** The most parts a lease may be streamed in at once. */
export const MAX_SHARDS = 1024;

/** Where a stream starts, and which part of the lease it is. */
export interface StreamRequest {
  /** A cursor of this dataset (and shard) to resume after. */
  readonly after?: string | undefined;
  /** `?shard=I&of=N`: both or neither, 0 <= I < N <= MAX_SHARDS. */
  readonly shard?: { readonly index?: number | undefined; readonly of?: number | undefined } | undefined;
}

/** The shard asked for, undefined for the whole lease, or null when the request does not name one well. */
function shardOf(request: StreamRequest): LeaseShard | undefined | null {
  const { index, of } = request.shard ?? {};
  if (index === undefined && of === undefined) return undefined;
  if (index === undefined || of === undefined) return null;
  if (!Number.isSafeInteger(index) || !Number.isSafeInteger(of) || of < 1 || of > MAX_SHARDS || index < 0 || index >= of) return null;
  return { index, of };
}

/** The shard and count a request named, as numbers, for the audit log: a refusal records what was asked for. */
function shardAsked(request: StreamRequest): { shard?: number; of?: number } {
  const { index, of } = request.shard ?? {};
  return { ...(Number.isFinite(index) ? { shard: index } : {}), ...(Number.isFinite(of) ? { of } : {}) };
}

const expiredError = () => new VaultError('ERR_LEASE_EXPIRED', 'this dataset lease has expired');

/** The part of a lease one stream sends: a shard's employees, or all of them (`employees` undefined). */
interface StreamPart {
  readonly shard: LeaseShard | undefined;
  readonly employees: readonly string[] | undefined;
}

/**
 * Pages read ahead at once in this process, over all streams: each holds a page of rows more in
 * memory, and the 256 MB bound of a server streaming a million records (4 shards at once) has room
 * for about one.
 */
const READ_AHEAD_PAGES = 1;

/** A page being read before the stream needs it; `release` returns its slot, once. */
interface PageReadAhead {
  readonly rows: Promise<StreamRow[]>;
  readonly release: () => void;
}

/** A count of interchangeable permits, taken without waiting. */
class Slots {
  #free: number;
  constructor(count: number) {
    this.#free = count;
  }
  take(): boolean {
    if (this.#free === 0) return false;
    this.#free--;
    return true;
  }
  give(): void {
    this.#free++;
  }
}

/** What one stream writes into each line besides the payload; its keys are zeroed when the stream ends. */
interface LineKeys {
  readonly subjectOf: (employeeId: string) => string;
  readonly cursors: CursorSeal;
  forget(): void;
}

/**
 * A lease's records as NDJSON pages: read as the RLS-confined reader, opened under each
 * employee's data key, pseudonymised per dataset. A page is sent only after its audit event
 * committed in the transaction that read it.
 */
export class DatasetStreams {
  readonly #deps: DatasetDeps;
  readonly #readAheadSlots = new Slots(READ_AHEAD_PAGES);

  constructor(deps: DatasetDeps) {
    this.#deps = deps;
  }

  /**
   * Checks that `principal` may stream the lease now (the policy in force still grants it, the
   * invariants hold), then returns its pages as NDJSON buffers. The first page is read before
   * returning, so a refusal (or an audit log that cannot record the read) still becomes a status
   * code rather than a cut stream.
   */
  async openStream(principal: Principal, datasetId: string, request: StreamRequest = {}): Promise<RecordStream> {
    const { after } = request;
    const lease = isIssuedDatasetId(datasetId) ? await findLease(this.#deps.database.db, datasetId) : undefined;
    const refuse = async (code: StreamRefusal, reason: string, message: string, severity: 'info' | 'high' = code === 'ERR_FORBIDDEN' ? 'high' : 'info'): Promise<never> => {
      await this.#deps.audit.appendAlone({
        action: 'dataset.stream',
        decision: 'deny',
        severity,
        actor: principal,
        // A revoked lease is refused under the revision that revoked it.
        ...(lease ? { decisionId: lease.decisionId, policyRevision: lease.revokedRevision ?? lease.policyRevision } : {}),
        recordCount: 0,
        details: { dataset_id: datasetId, reason, ...shardAsked(request) },
      });
      throw new VaultError(code, message);
    };
    if (this.#deps.exports.frozen()) return refuse('ERR_EXPORTS_FROZEN', 'exports_frozen', frozenError().message);
    if (!lease) return refuse('ERR_NOT_FOUND', 'no_such_dataset', 'no such dataset');
    if (lease.requester !== principal.sub) return refuse('ERR_FORBIDDEN', 'not_the_requester', 'only the job that requested this dataset may read it');
    if (lease.revokedAt) return refuse('ERR_LEASE_REVOKED', 'lease_revoked', revokedError(lease).message);
    if (lease.expiresAt <= nowOf(this.#deps)) return refuse('ERR_LEASE_EXPIRED', 'lease_expired', expiredError().message);
    const shard = shardOf(request);
    if (shard === null) return refuse('ERR_INVALID_REQUEST', 'malformed_shard', `shard and of go together, with 0 <= shard < of <= ${MAX_SHARDS}`);
    await assertLeaseNotRevoked(this.#deps, principal, lease);
    await assertLeaseStillGranted(this.#deps, principal, lease);
    // A single shard is the whole lease: no employee filter, and the unsharded cursors.
    const part: StreamPart = { shard, employees: shard && shard.of > 1 ? await shardEmployees(this.#deps.database.db, lease.datasetId, shard) : undefined };
    const keys = await this.#lineKeys(lease, part);
    try {
      const start = after === undefined ? undefined : keys.cursors.open(after, lease.orgUnits.length);
      if (after !== undefined && !start) {
        // A cursor-shaped value that does not open was forged, altered or taken from another dataset.
        const forged = CursorSeal.looksLikeCursor(after);
        return await refuse(
          'ERR_INVALID_REQUEST',
          forged ? 'cursor_not_of_this_dataset' : 'malformed_cursor',
          shard ? 'after is not a cursor of this dataset and shard' : 'after is not a cursor of this dataset',
          forged ? 'high' : 'info',
        );
      }
      const cut = new AbortController();
      let stopListening = () => {};
      const release = once(() => {
        stopListening();
        keys.forget();
      });
      stopListening = this.#deps.exports.onFreeze(() => {
        if (cut.signal.aborted) return;
        cut.abort(frozenError());
        void this.#auditCut(principal, lease, part, 'exports_frozen', 'high');
      });
      let pages: AsyncGenerator<Buffer>;
      let first: IteratorResult<Buffer>;
      try {
        if (this.#deps.exports.frozen()) throw frozenError();
        pages = this.#pages(principal, lease, part, keys, start, cut.signal);
        first = await pages.next();
        if (cut.signal.aborted) throw frozenError();
      } catch (err) {
        release();
        throw err;
      }
      async function* all(): AsyncGenerator<Buffer> {
        try {
          if (!first.done) yield first.value;
          yield* pages;
        } finally {
          release();
        }
      }
      // `close` releases the keys even when the stream is dropped before its first read.
      return Object.assign(all(), { cut: cut.signal, close: release });
    } catch (err) {
      keys.forget();
      throw err;
    }
  }

  async #lineKeys(lease: LeaseRow, part: StreamPart): Promise<LineKeys> {
    const secret = await this.#deps.keyRing.unwrapVaultSecret(`dataset:${lease.datasetId}`, lease.pseudonymKey);
    const cursors = new CursorSeal(secret, lease.datasetId, part.shard);
    return {
      subjectOf: pseudonymizer(secret),
      cursors,
      forget: once(() => {
        secret.fill(0);
        cursors.destroy();
      }),
    };
  }

  async *#pages(principal: Principal, lease: LeaseRow, part: StreamPart, keys: LineKeys, start: StreamPosition | undefined, cut: AbortSignal): AsyncGenerator<Buffer> {
    let ahead: PageReadAhead | undefined;
    try {
      for (let unit = start?.unit ?? 0; unit < lease.orgUnits.length; unit++) {
        let position = start && unit === start.unit ? { capturedAt: new Date(start.capturedAtMs), eventId: start.eventId } : undefined;
        for (;;) {
          // Thrown, not returned: a stream that ends cleanly here would read as the whole dataset.
          if (lease.expiresAt <= nowOf(this.#deps)) throw await this.#expiredMidStream(principal, lease, part);
          if (cut.aborted || this.#deps.exports.frozen()) throw frozenError();
          const rows = ahead ? await ahead.rows : await this.#read(lease, part, unit, position);
          ahead?.release();
          ahead = undefined;
          const done = rows.length < PAGE_RECORDS;
          const last = rows.at(-1);
          if (done || !last) {
            const body = await this.#page(principal, lease, part, unit, rows, keys);
            if (body.length > 0) yield body;
            break;
          }
          position = { capturedAt: last.captured_at, eventId: last.event_id };
          // The next page is read while this one is opened, encoded and audited, so the database
          // works while this process does. Shards are not read ahead: they are N streams at once
          // already, and N pages more would be held. Rows read ahead and never sent are dropped unaudited.
          if (!part.shard && this.#readAheadSlots.take()) ahead = this.#readAhead(lease, part, unit, position);
          const body = await this.#page(principal, lease, part, unit, rows, keys);
          if (body.length > 0) yield body;
        }
      }
    } finally {
      ahead?.release();
    }
  }

  /**
   * One page's rows, as the RLS-confined reader in a transaction of its own. The lease's
   * frozen snapshot decides which records are in it, so when it is read does not change what it
   * holds; the keys that open it are looked up later, with the page's audit.
   */
  #read(lease: LeaseRow, part: StreamPart, unit: number, position: { capturedAt: Date; eventId: string } | undefined): Promise<StreamRow[]> {
    return inTransaction(this.#deps.database, (trx) => readScopePage(trx, lease, lease.orgUnits[unit]!, position, PAGE_RECORDS, part.employees));
  }

  /** The next page read now, holding one of the process's read-ahead slots until it is taken or dropped. */
  #readAhead(lease: LeaseRow, part: StreamPart, unit: number, position: { capturedAt: Date; eventId: string }): PageReadAhead {
    const rows = this.#read(lease, part, unit, position);
    // Awaited on the next turn of the page loop; a stream that ends first must not leave it unhandled.
    rows.catch(() => undefined);
    return { rows, release: once(() => this.#readAheadSlots.give()) };
  }

  /**
   * The lease ran out between two pages: the refusal is audited (with the shard) and the error
   * returned for the stream to throw, so the connection is cut and the client, reconnecting, is
   * told 410.
   */
  async #expiredMidStream(principal: Principal, lease: LeaseRow, part: StreamPart): Promise<VaultError> {
    await this.#auditCut(principal, lease, part, 'lease_expired', 'info');
    return expiredError();
  }

  /** A stream cut short, as a deny with its shard. A log that cannot take the event raises an alarm; it does not keep the stream open. */
  async #auditCut(principal: Principal, lease: LeaseRow, part: StreamPart, reason: 'exports_frozen' | 'lease_expired', severity: 'info' | 'high'): Promise<void> {
    await this.#deps.audit
      .appendAlone({
        action: 'dataset.stream',
        decision: 'deny',
        severity,
        actor: principal,
        decisionId: lease.decisionId,
        policyRevision: lease.policyRevision,
        recordCount: 0,
        details: { dataset_id: lease.datasetId, reason, cut: true, ...(part.shard ? { shard: part.shard.index, of: part.shard.of } : {}) },
      })
      .catch((err: unknown) => this.#deps.log?.({ alarm: 'audit_unavailable', dataset_id: lease.datasetId, reason, error: (err as Error).message }, 'a cut stream was not audited'));
  }

  /**
   * One page of one org unit: its rows opened under keys read in this transaction (an erasure
   * waits for it, or it finds the keys gone), encoded and audited; sent only once committed.
   */
  async #page(principal: Principal, lease: LeaseRow, part: StreamPart, unit: number, rows: readonly StreamRow[], keys: LineKeys): Promise<Buffer> {
    const { audit, database, keyRing } = this.#deps;
    return inTransaction(database, async (trx) => {
      const states = await employeeKeyStates(trx, keysUsedBy(rows));
      const cursorOf = keys.cursors.sealPage(rows, (row: StreamRow) => ({ unit, capturedAtMs: row.captured_at.getTime(), eventId: row.event_id }));
      const prefixOf = (row: StreamRow) =>
        `{"cursor":"${cursorOf(row)}","subject":"${keys.subjectOf(row.employee_id)}","captured_at":"${row.captured_at.toISOString()}","kind":"${row.kind}","sensitivity":${row.sensitivity},"payload":`;
      const { body, records, skipped } = await encodePage(keyRing, rows, states, { prefixOf, requireEnrolled: true });
      const done = rows.length < PAGE_RECORDS;
      await audit.append(trx, {
        action: 'dataset.stream',
        decision: 'allow',
        severity: skipped.failed_authentication > 0 ? 'high' : 'info',
        actor: principal,
        decisionId: lease.decisionId,
        policyRevision: lease.policyRevision,
        recordCount: records,
        details: {
          dataset_id: lease.datasetId,
          org_unit: lease.orgUnits[unit],
          ...(part.shard ? { shard: part.shard.index, of: part.shard.of } : {}),
          records,
          bytes: body.length,
          skipped,
          ...(done && unit === lease.orgUnits.length - 1 ? { stream_end: true } : {}),
        },
      });
      return body;
    });
  }
}
