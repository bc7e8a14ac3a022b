import { Worker } from 'node:worker_threads';
import type { DataKeyBundle } from '../crypto/index.js';
import type { DatasetScope, LeaseShard } from '../db/index.js';
import { VaultError, type VaultErrorCode } from '../errors/index.js';
import type { EncodedPage, KeyUse, PagePosition, SkippedRecords } from './page.js';

/** What page workers' connections call themselves in `pg_stat_activity`. */
export const PAGE_WORKER_APPLICATION = 'activity-vault page worker';

/** What a page worker is started with. */
export interface PageWorkerData {
  readonly databaseUrl: string;
  readonly aead: 'native' | 'wasm';
  readonly poolSize: number;
}

export type WorkerRequest =
  | {
      readonly id: number;
      readonly op: 'open';
      readonly stream: number;
      readonly scope: DatasetScope;
      readonly datasetId: string;
      readonly shard: LeaseShard | undefined;
      readonly employees: readonly string[] | undefined;
      /** The dataset's secret, moved here (its ArrayBuffer is transferred, not copied). */
      readonly secret: Uint8Array;
    }
  | { readonly id: number; readonly op: 'read'; readonly stream: number; readonly page: number; readonly orgUnit: string; readonly after: PagePosition | undefined; readonly limit: number }
  | { readonly id: number; readonly op: 'encode'; readonly stream: number; readonly page: number; readonly unit: number; readonly keys: DataKeyBundle; readonly enrolled: readonly string[] }
  | { readonly id: number; readonly op: 'drop'; readonly stream: number; readonly page: number }
  | { readonly id: number; readonly op: 'close'; readonly stream: number }
  | { readonly id: number; readonly op: 'shutdown' };

type DistributiveOmit<T, K extends keyof T> = T extends unknown ? Omit<T, K> : never;

/**
 * A failure as it crosses back: a vault error's code and message, or for any other error only its
 * driver or system code (`cause`, a SQLSTATE or errno), never its text, which may quote values.
 */
export type WorkerFailure = { readonly code: VaultErrorCode; readonly message: string } | { readonly code?: undefined; readonly cause: string | undefined };

export type WorkerReply = { readonly id: number; readonly ok: unknown } | { readonly id: number; readonly error: WorkerFailure };

/** A page as a worker read it: the rows stay in the worker. */
export interface WorkerPage {
  readonly count: number;
  readonly used: readonly KeyUse[];
  readonly last: PagePosition | undefined;
}

/**
 * A worker holds a few pages of rows (~1.5 MB each) at a time. Left to V8's defaults, each worker's
 * heap grew by ~100 MB of garbage between collections while streaming, and a million-record stream
 * took the server past its 256 MB bound; a small young generation collects it early. Exceeding the
 * old generation stops the worker, and its streams fail `ERR_UNAVAILABLE`.
 */
const HEAP_LIMITS = { maxYoungGenerationSizeMb: 8, maxOldGenerationSizeMb: 64 };

/**
 * The most streams one worker serves at once: each holds up to two pages in the worker's heap, and
 * a worker that runs out of it stops with every stream it serves. Further streams run in the main thread.
 */
export const MAX_STREAMS_PER_WORKER = 8;

/** How long a worker has to close its database connections before it is terminated. */
const SHUTDOWN_GRACE_MS = 2000;

const stopped = () => new VaultError('ERR_UNAVAILABLE', 'a page worker stopped; the stream cannot go on');

/** Zeroes key bytes a failed send left in this thread; sent ones are no longer here (their buffer is detached, of length 0). */
function zeroUnsent(bytes: Uint8Array): void {
  if (bytes.byteLength > 0) bytes.fill(0);
}

type Log = (event: Record<string, unknown>, message: string) => void;

function failureOf(error: WorkerFailure): VaultError {
  if (error.code) return new VaultError(error.code, error.message);
  return new VaultError('ERR_INTERNAL', `a page worker failed${error.cause ? ` (${error.cause})` : ''}`);
}

class PageWorker {
  readonly #worker: Worker;
  readonly #pending = new Map<number, { resolve: (value: unknown) => void; reject: (err: Error) => void }>();
  #next = 0;
  #dead = false;
  #stopping = false;
  streams = 0;

  constructor(data: PageWorkerData, log: Log) {
    this.#worker = spawn(data);
    this.#worker.unref();
    this.#worker.on('message', (reply: WorkerReply | { ready: true }) => {
      if (!('id' in reply)) return;
      const waiting = this.#pending.get(reply.id);
      this.#pending.delete(reply.id);
      if (!waiting) return;
      if ('error' in reply) waiting.reject(failureOf(reply.error));
      else waiting.resolve(reply.ok);
    });
    let reason: string | undefined;
    this.#worker.on('error', (err) => {
      reason = (err as { code?: string }).code ?? err.name;
    });
    this.#worker.on('exit', (exitCode) => {
      const stoppedStreams = this.streams;
      if (!this.#stopping) log({ alarm: 'page_worker_stopped', exit_code: exitCode, reason, streams: stoppedStreams }, 'a page worker stopped; its streams were cut');
      this.#dead = true;
      for (const waiting of this.#pending.values()) waiting.reject(stopped());
      this.#pending.clear();
    });
  }

  get dead(): boolean {
    return this.#dead;
  }

  call<T>(request: DistributiveOmit<WorkerRequest, 'id'>, transfer: ArrayBuffer[] = []): Promise<T> {
    if (this.#dead) return Promise.reject(stopped());
    const id = this.#next++;
    return new Promise<T>((resolve, reject) => {
      this.#pending.set(id, { resolve: resolve as (value: unknown) => void, reject });
      try {
        this.#worker.postMessage({ ...request, id }, transfer);
      } catch (err) {
        this.#pending.delete(id);
        reject(err);
      }
    });
  }

  /** Lets the worker close its database connections, then stops it. */
  async stop(): Promise<void> {
    if (this.#dead) return;
    this.#stopping = true;
    const grace = new Promise((resolve) => setTimeout(resolve, SHUTDOWN_GRACE_MS).unref());
    await Promise.race([this.call({ op: 'shutdown' }).catch(() => {}), grace]);
    this.#dead = true;
    await this.#worker.terminate();
  }
}

/**
 * Starts the worker from its compiled file, or under tsx (tests, benchmarks) from its source
 * through tsx's loader, which worker threads do not inherit.
 */
function spawn(workerData: PageWorkerData): Worker {
  const entry = new URL(import.meta.url.endsWith('.ts') ? './page-worker.ts' : './page-worker.js', import.meta.url);
  const options = { workerData, resourceLimits: HEAP_LIMITS };
  if (!import.meta.url.endsWith('.ts')) return new Worker(entry, options);
  const boot = `import('tsx/esm/api').then(({ register }) => { register(); return import(${JSON.stringify(entry.href)}); })`;
  return new Worker(boot, { ...options, eval: true });
}

/**
 * One stream's side of the page workers: its pages are read and opened there, by turns over the
 * workers it was opened on (page N on worker N mod lanes), its keys handed over page by page.
 * Calls after a worker stopped fail `ERR_UNAVAILABLE`.
 */
export class WorkerStream {
  readonly #lanes: ReadonlyArray<{ readonly worker: PageWorker; readonly stream: number }>;
  #page = 0;
  #closed = false;

  constructor(lanes: ReadonlyArray<{ readonly worker: PageWorker; readonly stream: number }>) {
    this.#lanes = lanes;
  }

  #lane(page: number) {
    return this.#lanes[page % this.#lanes.length]!;
  }

  async read(orgUnit: string, after: PagePosition | undefined, limit: number): Promise<{ page: number } & WorkerPage> {
    const page = this.#page++;
    const { worker, stream } = this.#lane(page);
    const read = await worker.call<WorkerPage>({ op: 'read', stream, page, orgUnit, after, limit });
    return { page, ...read };
  }

  /** Moves `keys` to the worker: the bundle's bytes are gone from this thread once sent, and zeroed here if they could not be. */
  async encode(page: number, unit: number, keys: DataKeyBundle, enrolled: readonly string[]): Promise<EncodedPage> {
    const { worker, stream } = this.#lane(page);
    try {
      const done = await worker.call<{ body: Uint8Array; records: number; skipped: SkippedRecords }>({ op: 'encode', stream, page, unit, keys, enrolled }, [keys.bytes.buffer as ArrayBuffer]);
      return { body: Buffer.from(done.body.buffer, done.body.byteOffset, done.body.byteLength), records: done.records, skipped: done.skipped };
    } finally {
      zeroUnsent(keys.bytes);
    }
  }

  drop(page: number): void {
    const { worker, stream } = this.#lane(page);
    void worker.call({ op: 'drop', stream, page }).catch(() => {});
  }

  close(): void {
    if (this.#closed) return;
    this.#closed = true;
    for (const { worker, stream } of this.#lanes) {
      worker.streams--;
      void worker.call({ op: 'close', stream }).catch(() => {});
    }
  }
}

/**
 * Worker threads that read and open dataset pages, so a stream's CPU-bound work (parsing rows,
 * decrypting, writing NDJSON) runs beside the main thread's (HTTP, keys, audit) on the cores a
 * machine has. PostgreSQL only: the embedded store lives in the main thread.
 */
export class PageWorkers {
  readonly #data: PageWorkerData;
  readonly #workers: Array<PageWorker | undefined>;
  #nextStream = 0;
  #closed = false;

  readonly #log: Log;

  constructor(options: { readonly databaseUrl: string; readonly aead: 'native' | 'wasm'; readonly size: number; readonly log?: Log | undefined }) {
    const { size } = options;
    if (!Number.isInteger(size) || size < 1) throw new TypeError('a page worker pool has at least one worker');
    // A read ahead and a read for each of a few streams at once.
    this.#data = { databaseUrl: options.databaseUrl, aead: options.aead, poolSize: 4 };
    this.#workers = Array.from({ length: size }, () => undefined);
    this.#log = options.log ?? (() => {});
  }

  get size(): number {
    return this.#workers.length;
  }

  /** Stream lanes the workers serve now. */
  get streams(): number {
    return this.#workers.reduce((n, worker) => n + (worker && !worker.dead ? worker.streams : 0), 0);
  }

  /**
   * A stream on up to `lanes` of the workers with the fewest streams, each given its own copy of
   * `secret` (the dataset's); undefined when every worker serves {@link MAX_STREAMS_PER_WORKER} already.
   */
  async open(init: { scope: DatasetScope; datasetId: string; shard: LeaseShard | undefined; employees: readonly string[] | undefined; secret: Uint8Array; lanes: number }): Promise<WorkerStream | undefined> {
    if (this.#closed) throw stopped();
    for (let i = 0; i < this.#workers.length; i++) {
      const worker = this.#workers[i];
      if (!worker || worker.dead) this.#workers[i] = new PageWorker(this.#data, this.#log);
    }
    const chosen = (this.#workers as PageWorker[])
      .filter((worker) => worker.streams < MAX_STREAMS_PER_WORKER)
      .sort((a, b) => a.streams - b.streams)
      .slice(0, Math.max(1, init.lanes));
    if (chosen.length === 0) return undefined;
    const { scope } = init;
    // The lease row carries more than its scope (the requester, the wrapped secret): only the scope goes to the worker.
    const plainScope: DatasetScope = { orgUnits: scope.orgUnits, kinds: scope.kinds, maxSensitivity: scope.maxSensitivity, from: scope.from, to: scope.to, frozenAt: scope.frozenAt, snapshot: scope.snapshot };
    const lanes: Array<{ worker: PageWorker; stream: number }> = [];
    const opening = chosen.map(async (worker) => {
      const stream = this.#nextStream++;
      const secret = new Uint8Array(new ArrayBuffer(init.secret.length));
      secret.set(init.secret);
      worker.streams++;
      lanes.push({ worker, stream });
      try {
        await worker.call({ op: 'open', stream, scope: plainScope, datasetId: init.datasetId, shard: init.shard, employees: init.employees, secret }, [secret.buffer]);
      } finally {
        zeroUnsent(secret);
      }
    });
    const opened = new WorkerStream(lanes);
    try {
      await Promise.all(opening);
    } catch (err) {
      opened.close();
      throw err;
    }
    return opened;
  }

  async close(): Promise<void> {
    this.#closed = true;
    await Promise.all(this.#workers.map((worker) => worker?.stop()));
  }
}
