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

/**
 * A seal worker holds the chunks queued for it (each at most {@link MAX_CHUNK_PAYLOAD_BYTES} of
 * payload text, or one record of up to 4 MB), one payload's parse tree at a time, its sealed
 * envelopes and two revisions' classifiers.
 */
const HEAP_LIMITS = { maxYoungGenerationSizeMb: 8, maxOldGenerationSizeMb: 128 };

/** A chunk sent to a seal worker ends at 500 records or this much payload text, whichever comes first (one record at least). */
export const MAX_CHUNK_PAYLOAD_BYTES = 2 * 1024 * 1024;

/**
 * A chunk not sealed in this long took a worker that hangs: it is stopped and the batch fails 503,
 * rather than hold the batch's transaction, and the consent and collection locks it holds, for ever.
 */
const SEAL_DEADLINE_MS = 30_000;

type SealWorker = ThreadWorker<SealRequest>;

/** A reply that does not account for every record of its chunk, in order, is refused rather than written. */
function assertWhole(sealed: SealedChunk, records: number): void {
  const { found, ends, envelopes } = sealed;
  let previous = 0;
  const whole = found.length === records && ends.length === records && ends.every((end) => Number.isSafeInteger(end) && end >= previous && (previous = end) <= envelopes.byteLength);
  if (!whole) throw new VaultError('ERR_INTERNAL', 'a seal worker answered for other records than it was sent');
}

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
      // A worker takes its requests in order, and keeps the classifier of the revision it was sent last.
      const known = this.#revisions.get(worker) === chunk.revision;
      this.#revisions.set(worker, chunk.revision);
      worker.load++;
      try {
        const sealed = await worker.call<SealedChunk>(
          { op: 'seal', revision: chunk.revision, lists: known ? undefined : chunk.lists, sealLevel4: chunk.sealLevel4, kekFingerprint: chunk.kekFingerprint, keys: chunk.keys, records: chunk.records },
          [chunk.keys.bytes.buffer as ArrayBuffer],
          { deadlineMs: SEAL_DEADLINE_MS },
        );
        assertWhole(sealed, chunk.records.length);
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
