import type { Principal } from '../auth/index.js';
import { employeeKeyStates, findLease, inTransaction, shardEmployees, type LeaseRow, type LeaseShard } from '../db/index.js';
import { loggableError, VaultError } from '../errors/index.js';
import { isUuid } from '../model/index.js';
import { CursorSeal, type StreamPosition } from './cursor.js';
import { nowOf, type DatasetDeps } from './deps.js';
import { lineKeys } from './lines.js';
import type { PagePosition } from './page.js';
import { pageSource, type PageSource, type ReadPage, type StreamPart } from './page-source.js';
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

/**
 * Pages read ahead at once in this process, over all streams: each holds a page of rows more in
 * memory, and the 256 MB bound of a server streaming a million records (4 shards at once) has room
 * for about one.
 */
const READ_AHEAD_PAGES = 1;

/** A page being read before the stream needs it; `release` returns its slot, once. */
interface PageReadAhead {
  readonly page: Promise<ReadPage>;
  readonly release: () => void;
}

/** A count of interchangeable permits, taken without waiting. */
class Slots {
  readonly #count: number;
  #free: number;
  constructor(count: number) {
    this.#count = count;
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
  get taken(): number {
    return this.#count - this.#free;
  }
}

/** What a process's dataset streams hold now: for /metrics, where a leak would show as a level that never falls. */
export interface StreamLoad {
  /** Streams opened and not yet closed. */
  readonly open: number;
  /** Pages read ahead and not yet sent or dropped. */
  readonly pagesReadAhead: number;
  /** Stream lanes page workers serve: one per shard, up to two per lone stream. */
  readonly workerLanes: number;
}

/**
 * A lease's records as NDJSON pages: read as the RLS-confined reader, opened under each
 * employee's data key, pseudonymised per dataset. A page is sent only after its audit event
 * committed in the transaction that looked up its keys. With page workers (PostgreSQL), pages are
 * read and opened in a worker thread; the keys are unwrapped here, page by page.
 */
export class DatasetStreams {
  readonly #deps: DatasetDeps;
  readonly #readAheadSlots = new Slots(READ_AHEAD_PAGES);
  #open = 0;

  constructor(deps: DatasetDeps) {
    this.#deps = deps;
  }

  load(): StreamLoad {
    return { open: this.#open, pagesReadAhead: this.#readAheadSlots.taken, workerLanes: this.#deps.pageWorkers?.lanes ?? 0 };
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
    const secret = await this.#deps.keyRing.unwrapVaultSecret(`dataset:${lease.datasetId}`, lease.pseudonymKey);
    const keys = lineKeys(secret, lease.datasetId, part.shard);
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
      const source = await pageSource(this.#deps, lease, part, keys, secret);
      this.#open++;
      const cut = new AbortController();
      // Set when the stream is released: a page loop still running stops at its next step.
      const closed = new AbortController();
      let pages: AsyncGenerator<Buffer> | undefined;
      let first: IteratorResult<Buffer> | undefined;
      let handedOver = false;
      let stopListening = () => {};
      // A page loop paused at its first page still holds its read ahead: returning it releases that.
      const stopPages = () => pages?.return(undefined).catch(() => undefined);
      const release = once(() => {
        closed.abort();
        this.#open--;
        stopListening();
        void stopPages();
        // A first page read but never sent (a freeze, a client gone) is plaintext: zeroed, not left to the allocator.
        if (!handedOver && first && !first.done) first.value.fill(0);
        source.close();
        keys.forget();
      });
      stopListening = this.#deps.exports.onFreeze(() => {
        if (cut.signal.aborted) return;
        cut.abort(frozenError());
        void this.#auditCut(principal, lease, part, 'exports_frozen', 'high');
      });
      try {
        if (this.#deps.exports.frozen()) throw frozenError();
        pages = this.#pages(principal, lease, part, source, start, cut.signal, closed.signal);
        first = await pages.next();
        if (cut.signal.aborted) throw frozenError();
      } catch (err) {
        await stopPages();
        release();
        throw err;
      }
      const [loop, opened] = [pages, first];
      async function* all(): AsyncGenerator<Buffer> {
        try {
          if (closed.signal.aborted) return;
          handedOver = true;
          if (!opened.done) yield opened.value;
          yield* loop;
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

  async *#pages(principal: Principal, lease: LeaseRow, part: StreamPart, source: PageSource, start: StreamPosition | undefined, cut: AbortSignal, closed: AbortSignal): AsyncGenerator<Buffer> {
    let ahead: PageReadAhead | undefined;
    try {
      for (let unit = start?.unit ?? 0; unit < lease.orgUnits.length; unit++) {
        let position: PagePosition | undefined = start && unit === start.unit ? { capturedAt: new Date(start.capturedAtMs), eventId: start.eventId } : undefined;
        for (;;) {
          // Released: no one reads on, so nothing more is read, opened or audited.
          if (closed.aborted) return;
          // Thrown, not returned: a stream that ends cleanly here would read as the whole dataset.
          if (lease.expiresAt <= nowOf(this.#deps)) throw await this.#expiredMidStream(principal, lease, part);
          if (cut.aborted || this.#deps.exports.frozen()) throw frozenError();
          const page = ahead ? await ahead.page : await source.read(unit, position);
          ahead?.release();
          ahead = undefined;
          if (closed.aborted) {
            page.drop();
            return;
          }
          const done = page.endsUnit;
          position = page.last;
          // The next page is read while this one is opened, encoded and audited, so the database
          // works while this process does. Shards are not read ahead: they are N streams at once
          // already, and N pages more would be held. A page read ahead and never sent is dropped unaudited.
          // Its keys are looked up when it is sent: a row that retention deleted in between is sent
          // as if read a moment earlier (and audited as sent); a key destroyed in between skips it.
          if (!done && position && !part.shard && this.#readAheadSlots.take()) ahead = this.#readAhead(source, unit, position);
          const body = await this.#page(principal, lease, part, unit, page);
          if (body.length > 0) yield body;
          if (done || !position) break;
        }
      }
    } finally {
      // Its slot comes back once the read is over: until then its rows are in memory.
      if (ahead) {
        const { page, release } = ahead;
        page.then((read) => read.drop(), () => {}).finally(release);
      }
    }
  }

  /** The next page read now, holding one of the process's read-ahead slots until it is taken or dropped. */
  #readAhead(source: PageSource, unit: number, position: PagePosition): PageReadAhead {
    const page = source.read(unit, position);
    // Awaited on the next turn of the page loop; a stream that ends first must not leave it unhandled.
    page.catch(() => undefined);
    return { page, release: once(() => this.#readAheadSlots.give()) };
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
      .catch((err: unknown) => this.#deps.log?.({ alarm: 'audit_unavailable', dataset_id: lease.datasetId, reason, error: loggableError(err) }, 'a cut stream was not audited'));
  }

  /**
   * One page of one org unit: opened under keys read in this transaction (an erasure waits for it,
   * or it finds the keys gone), encoded and audited; sent only once committed.
   */
  async #page(principal: Principal, lease: LeaseRow, part: StreamPart, unit: number, page: ReadPage): Promise<Buffer> {
    const { audit, database } = this.#deps;
    // Plaintext that is not sent (its audit event or the commit failed) is zeroed, not left to the allocator.
    let opened: Buffer | undefined;
    return inTransaction(database, async (trx) => {
      const states = await employeeKeyStates(trx, page.used);
      const { body, records, skipped } = await page.encode(states);
      opened = body;
      const done = page.endsUnit;
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
    }).catch((err: unknown) => {
      opened?.fill(0);
      throw err;
    });
  }
}
