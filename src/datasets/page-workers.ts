import type { DataKeyBundle } from '../crypto/index.js';
import type { DatasetScope, LeaseShard, PageBound } from '../db/index.js';
import { VaultError } from '../errors/index.js';
import { ThreadWorker, workerEntry, zeroUnsent } from '../threads/index.js';
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
      readonly op: 'open';
      readonly stream: number;
      readonly scope: DatasetScope;
      readonly datasetId: string;
      readonly shard: LeaseShard | undefined;
      readonly employees: readonly string[] | undefined;
      /** The dataset's secret, moved here (its ArrayBuffer is transferred, not copied). */
      readonly secret: Uint8Array;
    }
  | { readonly op: 'read'; readonly stream: number; readonly page: number; readonly orgUnit: string; readonly after: PagePosition | undefined; readonly bound: PageBound }
  | { readonly op: 'encode'; readonly stream: number; readonly page: number; readonly unit: number; readonly keys: DataKeyBundle; readonly enrolled: readonly string[] }
  | { readonly op: 'drop'; readonly stream: number; readonly page: number }
  | { readonly op: 'close'; readonly stream: number }
  | { readonly op: 'shutdown' };

/** A page as a worker read it: the rows stay in the worker. */
export interface WorkerPage {
  readonly count: number;
  /** The org unit has no more records after this page. */
  readonly final: boolean;
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

type PageWorker = ThreadWorker<WorkerRequest>;

type Log = (event: Record<string, unknown>, message: string) => void;

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

  async read(orgUnit: string, after: PagePosition | undefined, bound: PageBound): Promise<{ page: number } & WorkerPage> {
    const page = this.#page++;
    const { worker, stream } = this.#lane(page);
    const read = await worker.call<WorkerPage>({ op: 'read', stream, page, orgUnit, after, bound });
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
      worker.load--;
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
    // Up to 8 streams, each with a read and a read ahead, take turns on these.
    this.#data = { databaseUrl: options.databaseUrl, aead: options.aead, poolSize: 4 };
    this.#workers = Array.from({ length: size }, () => undefined);
    this.#log = options.log ?? (() => {});
  }

  get size(): number {
    return this.#workers.length;
  }

  /** Stream lanes the workers serve now. */
  get lanes(): number {
    return this.#workers.reduce((n, worker) => n + (worker && !worker.dead ? worker.load : 0), 0);
  }

  /**
   * A stream on up to `lanes` of the workers with the fewest streams, each given its own copy of
   * `secret` (the dataset's); undefined when every worker serves {@link MAX_STREAMS_PER_WORKER} already.
   */
  async open(init: { scope: DatasetScope; datasetId: string; shard: LeaseShard | undefined; employees: readonly string[] | undefined; secret: Uint8Array; lanes: number }): Promise<WorkerStream | undefined> {
    if (this.#closed) throw new VaultError('ERR_UNAVAILABLE', 'the page workers are stopped');
    for (let i = 0; i < this.#workers.length; i++) {
      const worker = this.#workers[i];
      if (!worker || worker.dead) this.#workers[i] = new ThreadWorker<WorkerRequest>({ name: 'page_worker', entry: workerEntry(import.meta.url, 'page-worker'), data: this.#data, limits: HEAP_LIMITS, log: this.#log });
    }
    const chosen = (this.#workers as PageWorker[])
      .filter((worker) => worker.load < MAX_STREAMS_PER_WORKER)
      .sort((a, b) => a.load - b.load)
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
      worker.load++;
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
