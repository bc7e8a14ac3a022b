import type { Category, ClassifierLists } from '../classify/index.js';
import type { DataKeyBundle, RecordBinding } from '../crypto/index.js';
import { VaultError } from '../errors/index.js';
import { ThreadWorker, workerEntry, zeroUnsent } from '../threads/index.js';

/** What a seal worker is started with. */
export interface SealWorkerData {
  readonly aead: 'native' | 'wasm';
}

/** One record to classify and seal: its payload as received, the level its kind and agent set at least, and what the envelope is bound to. */
export interface SealInput {
  readonly payloadText: string;
  readonly floor: number;
  readonly binding: Omit<RecordBinding, 'sensitivity' | 'categories'>;
}

export type SealRequest =
  | {
      readonly op: 'seal';
      readonly revision: string;
      /** Sent once per worker and revision; the worker keeps the classifier it builds from them. */
      readonly lists: ClassifierLists | undefined;
      /** Level 4 is sealed too (VAULT_STORE_LEVEL_4); otherwise a level-4 record is left unsealed. */
      readonly sealLevel4: boolean;
      readonly kekFingerprint: Uint8Array;
      /** The chunk's data keys, moved here; zeroed when the chunk is sealed. */
      readonly keys: DataKeyBundle;
      readonly records: readonly SealInput[];
    }
  | { readonly op: 'shutdown' };

/**
 * A chunk as sealed: per record, what the classifier found and its envelope (`envelopes` up to
 * `ends[i]`, from `ends[i-1]`); a record at level 4 that is not kept has an empty one.
 */
export interface SealedChunk {
  readonly found: ReadonlyArray<{ readonly level: number; readonly categories: readonly Category[] }>;
  readonly envelopes: Uint8Array;
  readonly ends: readonly number[];
}

/** The seal worker does not hold rows from the database: a chunk of 500 records and the classifier. */
const HEAP_LIMITS = { maxYoungGenerationSizeMb: 8, maxOldGenerationSizeMb: 64 };

type SealWorker = ThreadWorker<SealRequest>;

/**
 * Worker threads that classify and seal ingest chunks, so a batch's CPU-bound work runs beside
 * the main thread's (HTTP, validation, the roster, the COPY) on the cores a machine has. The keys
 * are unwrapped in the main thread and moved to a worker chunk by chunk. Works on both stores: a
 * worker touches no database.
 */
export class SealWorkers {
  readonly #workers: Array<SealWorker | undefined>;
  /** The revision whose lists each worker was last sent. */
  readonly #revisions = new WeakMap<SealWorker, string>();
  readonly #data: SealWorkerData;
  readonly #log: (event: Record<string, unknown>, message: string) => void;
  #closed = false;

  constructor(options: { readonly aead: 'native' | 'wasm'; readonly size: number; readonly log?: ((event: Record<string, unknown>, message: string) => void) | undefined }) {
    if (!Number.isInteger(options.size) || options.size < 1) throw new TypeError('a seal worker pool has at least one worker');
    this.#workers = Array.from({ length: options.size }, () => undefined);
    this.#data = { aead: options.aead };
    this.#log = options.log ?? (() => {});
  }

  get size(): number {
    return this.#workers.length;
  }

  /**
   * Classifies and seals one chunk on the least busy worker. `keys` are moved there (zeroed here if
   * they could not be); a worker that stops fails the chunk `ERR_UNAVAILABLE`, and the batch with it.
   */
  async seal(chunk: { revision: string; lists: ClassifierLists; sealLevel4: boolean; kekFingerprint: Uint8Array; keys: DataKeyBundle; records: readonly SealInput[] }): Promise<SealedChunk> {
    try {
      if (this.#closed) throw new VaultError('ERR_UNAVAILABLE', 'the seal workers are stopped');
      const worker = this.#leastBusy();
      const known = this.#revisions.get(worker) === chunk.revision;
      worker.load++;
      try {
        const sealed = await worker.call<SealedChunk>(
          { op: 'seal', revision: chunk.revision, lists: known ? undefined : chunk.lists, sealLevel4: chunk.sealLevel4, kekFingerprint: chunk.kekFingerprint, keys: chunk.keys, records: chunk.records },
          [chunk.keys.bytes.buffer as ArrayBuffer],
        );
        this.#revisions.set(worker, chunk.revision);
        return sealed;
      } finally {
        worker.load--;
      }
    } finally {
      zeroUnsent(chunk.keys.bytes);
    }
  }

  #leastBusy(): SealWorker {
    let best: SealWorker | undefined;
    for (let i = 0; i < this.#workers.length; i++) {
      let worker = this.#workers[i];
      if (!worker || worker.dead) {
        worker = new ThreadWorker<SealRequest>({ name: 'seal_worker', entry: workerEntry(import.meta.url, 'seal-worker'), data: this.#data, limits: HEAP_LIMITS, log: this.#log });
        this.#workers[i] = worker;
      }
      if (!best || worker.load < best.load) best = worker;
    }
    return best!;
  }

  async close(): Promise<void> {
    this.#closed = true;
    await Promise.all(this.#workers.map((worker) => worker?.stop()));
  }
}
