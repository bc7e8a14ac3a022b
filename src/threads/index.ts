/**
 * Worker threads that do a job's CPU-bound part beside the main thread: a request/reply channel
 * with typed failures, an alarm when a worker stops unasked, and a graceful stop. The jobs
 * (dataset pages, ingest sealing) define their own requests.
 */
import { parentPort, Worker, type ResourceLimits } from 'node:worker_threads';
import { isVaultError, VaultError, type VaultErrorCode } from '../errors/index.js';

/**
 * A failure as it crosses back: a vault error's code and message, or for any other error only its
 * driver or system code (`cause`, a SQLSTATE or errno), never its text, which may quote values.
 */
export type ThreadFailure = { readonly code: VaultErrorCode; readonly message: string } | { readonly code?: undefined; readonly cause: string | undefined };

export type ThreadReply = { readonly id: number; readonly ok: unknown } | { readonly id: number; readonly error: ThreadFailure };

/** Every request names its operation; `shutdown` asks a worker to release what it holds before it is stopped. */
export type ThreadRequest = { readonly op: string };

type Log = (event: Record<string, unknown>, message: string) => void;

/** How long a worker has to release what it holds (database connections) before it is terminated. */
const SHUTDOWN_GRACE_MS = 2000;

/** Zeroes key bytes a failed send left in this thread; sent ones are no longer here (their buffer is detached, of length 0). */
export function zeroUnsent(bytes: Uint8Array): void {
  if (bytes.byteLength > 0) bytes.fill(0);
}

export interface ThreadOptions {
  /** `page_worker`, `seal_worker`: names the worker in errors and in its `<name>_stopped` alarm. */
  readonly name: string;
  /** The worker's module, next to the caller's (`./page-worker.js`); under tsx, its `.ts` source. */
  readonly entry: URL;
  readonly data: unknown;
  readonly limits: ResourceLimits;
  readonly log: Log;
}

/**
 * Starts a worker from its compiled file, or under tsx (tests, benchmarks) from its source through
 * tsx's loader, which worker threads do not inherit.
 */
function spawn({ entry, data, limits }: ThreadOptions): Worker {
  const options = { workerData: data, resourceLimits: limits };
  if (!entry.pathname.endsWith('.ts')) return new Worker(entry, options);
  const boot = `import('tsx/esm/api').then(({ register }) => { register(); return import(${JSON.stringify(entry.href)}); })`;
  return new Worker(boot, { ...options, eval: true });
}

/** The module URL of a worker `name` beside `base` (the caller's `import.meta.url`), compiled or under tsx. */
export function workerEntry(base: string, name: string): URL {
  return new URL(`./${name}${base.endsWith('.ts') ? '.ts' : '.js'}`, base);
}

/**
 * One worker thread and its pending calls. A worker that stops (it ran out of heap, or crashed)
 * fails every call in flight and after with `ERR_UNAVAILABLE`, and unless it was asked to stop,
 * raises the alarm `<name>_stopped`.
 */
export class ThreadWorker<Request extends ThreadRequest> {
  readonly #worker: Worker;
  readonly #name: string;
  readonly #pending = new Map<number, { resolve: (value: unknown) => void; reject: (err: Error) => void }>();
  #next = 0;
  #dead = false;
  #stopping = false;
  /** Why the worker stopped, when it did not exit on its own: its error's code, or `deadline`. */
  #reason: string | undefined;
  /** What the job has given this worker to do now (streams, chunks in flight); reported with its alarm. */
  load = 0;

  constructor(options: ThreadOptions) {
    this.#name = options.name;
    this.#worker = spawn(options);
    this.#worker.unref();
    this.#worker.on('message', (reply: ThreadReply | { ready: true }) => {
      if (!('id' in reply)) return;
      const waiting = this.#pending.get(reply.id);
      this.#pending.delete(reply.id);
      if (!waiting) return;
      if ('error' in reply) waiting.reject(this.#failureOf(reply.error));
      else waiting.resolve(reply.ok);
    });
    this.#worker.on('error', (err) => {
      this.#reason = (err as { code?: string }).code ?? err.name;
    });
    this.#worker.on('exit', (exitCode) => {
      if (!this.#stopping) options.log({ alarm: `${this.#name}_stopped`, exit_code: exitCode, reason: this.#reason, load: this.load }, `a ${this.#name.replace('_', ' ')} stopped; its work was cut`);
      this.#dead = true;
      for (const waiting of this.#pending.values()) waiting.reject(this.stopped());
      this.#pending.clear();
    });
  }

  get dead(): boolean {
    return this.#dead;
  }

  stopped(): VaultError {
    return new VaultError('ERR_UNAVAILABLE', `a ${this.#name.replace('_', ' ')} stopped; its work cannot go on`);
  }

  #failureOf(error: ThreadFailure): VaultError {
    if (error.code) return new VaultError(error.code, error.message);
    return new VaultError('ERR_INTERNAL', `a ${this.#name.replace('_', ' ')} failed${error.cause ? ` (${error.cause})` : ''}`);
  }

  /**
   * Sends `request` (moving `transfer`). With `deadlineMs`, a worker that has not answered by then
   * is taken for hung: it is terminated (raising its alarm, reason `deadline`) and every call on it fails.
   */
  call<T>(request: Request, transfer: ArrayBuffer[] = [], options: { readonly deadlineMs?: number } = {}): Promise<T> {
    // A worker being stopped has released what its work needs: only its shutdown goes through.
    if (this.#dead || (this.#stopping && request.op !== 'shutdown')) return Promise.reject(this.stopped());
    const id = this.#next++;
    return new Promise<T>((resolve, reject) => {
      const deadline =
        options.deadlineMs === undefined
          ? undefined
          : setTimeout(() => {
              if (!this.#pending.has(id)) return;
              this.#reason = 'deadline';
              void this.#worker.terminate();
            }, options.deadlineMs).unref();
      const settle = () => clearTimeout(deadline);
      this.#pending.set(id, {
        resolve: (value) => {
          settle();
          resolve(value as T);
        },
        reject: (err) => {
          settle();
          reject(err);
        },
      });
      try {
        this.#worker.postMessage({ ...request, id }, transfer);
      } catch (err) {
        this.#pending.delete(id);
        settle();
        reject(err);
      }
    });
  }

  /** Lets the worker release what it holds (its `shutdown` request), then stops it. */
  async stop(): Promise<void> {
    if (this.#dead) return;
    this.#stopping = true;
    const grace = new Promise((resolve) => setTimeout(resolve, SHUTDOWN_GRACE_MS).unref());
    await Promise.race([this.call({ op: 'shutdown' } as Request).catch(() => {}), grace]);
    this.#dead = true;
    await this.#worker.terminate();
  }
}

/** What crosses back of an error that is not the vault's own: its SQLSTATE or errno, if it has one. */
function causeOf(err: unknown): string | undefined {
  const code = (err as { code?: unknown } | null)?.code;
  return typeof code === 'string' && /^[A-Z0-9_]{1,32}$/.test(code) ? code : undefined;
}

/** The worker side: answers each request with `handle`'s result (moving `transfer`), or its failure by code. */
export function serveThread<Request extends ThreadRequest>(handle: (request: Request) => Promise<{ result: unknown; transfer?: ArrayBuffer[] }>): void {
  parentPort!.on('message', (request: Request & { readonly id: number }) => {
    handle(request).then(
      ({ result, transfer }) => parentPort!.postMessage({ id: request.id, ok: result } satisfies ThreadReply, transfer ?? []),
      (err: unknown) =>
        parentPort!.postMessage({
          id: request.id,
          error: isVaultError(err) ? { code: err.code, message: err.message } : { cause: causeOf(err) },
        } satisfies ThreadReply),
    );
  });
  parentPort!.postMessage({ ready: true });
}
