import type { AuditEventInput } from '../audit/index.js';
import { loggableError } from '../errors/index.js';

/** Writes the given events durably, all or none (one transaction). */
export type AuditBatchWriter = (events: readonly AuditEventInput[]) => Promise<void>;

export interface RefusalTallyOptions {
  readonly write: AuditBatchWriter;
  /** The action of the events written (default `auth.refused`). */
  readonly action?: string;
  /** Their severity: `high` makes each second's tally an alarm (default `info`). */
  readonly severity?: 'info' | 'high';
  readonly log?: (event: Record<string, unknown>, message: string) => void;
  /** Distinct (source, reason) pairs kept per second; the rest share one catch-all bucket. */
  readonly maxKeysPerSecond?: number;
  /** Seconds of tallies kept while the log refuses them; older ones are dropped and counted as lost. */
  readonly maxPendingSeconds?: number;
}

interface Bucket {
  readonly source: string;
  readonly reason: string;
  count: number;
  readonly routes: Set<string>;
  /** What the first refusal of the pair carried, for whoever reads the tally (bounded by the caller). */
  readonly sample: Readonly<Record<string, unknown>> | undefined;
}

interface Window {
  readonly second: number;
  readonly buckets: Map<string, Bucket>;
  /** What arrived once `buckets` was full. */
  overflow: Bucket | undefined;
}

export const REFUSAL_ACTION = 'auth.refused';
/** Source and reason of the bucket that counts what the per-second key cap turned away. */
export const OVERFLOW_KEY = '*';
const MAX_ROUTES_PER_BUCKET = 8;
const MAX_WINDOWS_PER_WRITE = 10;
// Fire just after the second closes, so one timer flushes the whole second.
const FLUSH_DELAY_AFTER_SECOND_MS = 20;
const RETRY_MS = 1000;

/**
 * Counts unauthenticated refusals per (client address, reason, second) and writes each second's
 * tally as one audit event per pair with its count. Without it an anonymous flood turns every
 * refused token into a durable, serialised append and starves legitimate writers of the log.
 * Memory is bounded by a key cap per second (overflow goes to a catch-all bucket) and by the
 * number of seconds held while the log refuses writes.
 */
export class RefusalTally {
  readonly #write: AuditBatchWriter;
  readonly #event: { readonly action: string; readonly severity: 'info' | 'high' };
  readonly #log: (event: Record<string, unknown>, message: string) => void;
  readonly #maxKeys: number;
  readonly #maxPending: number;
  #current: Window | undefined;
  readonly #pending: Window[] = [];
  #timer: NodeJS.Timeout | undefined;
  #flushing: Promise<void> | undefined;
  #closed = false;
  #failing = false;
  #lost = 0;

  constructor(options: RefusalTallyOptions) {
    this.#write = options.write;
    this.#event = { action: options.action ?? REFUSAL_ACTION, severity: options.severity ?? 'info' };
    this.#log = options.log ?? (() => {});
    this.#maxKeys = options.maxKeysPerSecond ?? 256;
    this.#maxPending = options.maxPendingSeconds ?? 300;
    if (!(this.#maxKeys >= 1) || !(this.#maxPending >= 1)) throw new TypeError('RefusalTally limits must be at least 1');
  }

  /**
   * Counts one refusal; never waits for the database. Returns the refusals of this pair (or the
   * catch-all) this second. `sample` is kept from the first refusal of the pair in the second.
   */
  count(source: string, reason: string, route: string, sample?: Readonly<Record<string, unknown>>): number {
    const second = Math.floor(Date.now() / 1000);
    if (this.#current && this.#current.second !== second) this.#seal();
    this.#current ??= { second, buckets: new Map(), overflow: undefined };
    const window = this.#current;
    const key = `${source}\u0000${reason}`;
    let bucket = window.buckets.get(key);
    if (!bucket) {
      if (window.buckets.size < this.#maxKeys) {
        bucket = { source, reason, count: 0, routes: new Set(), sample };
        window.buckets.set(key, bucket);
      } else {
        bucket = window.overflow ??= { source: OVERFLOW_KEY, reason: OVERFLOW_KEY, count: 0, routes: new Set(), sample: undefined };
      }
    }
    bucket.count++;
    if (bucket.routes.size < MAX_ROUTES_PER_BUCKET) bucket.routes.add(route);
    if (this.#closed) void this.flush();
    else this.#schedule(FLUSH_DELAY_AFTER_SECOND_MS + (second + 1) * 1000 - Date.now());
    return bucket.count;
  }

  /** False while tallied refusals cannot be written to the audit log. */
  get healthy(): boolean {
    return !this.#failing;
  }

  /** Writes every completed second (all of them, the open one too, when `all`). */
  flush(all = false): Promise<void> {
    if (all || this.#closed) this.#seal();
    else if (this.#current && this.#current.second < Math.floor(Date.now() / 1000)) this.#seal();
    const run = async (): Promise<void> => {
      await this.#flushing?.catch(() => {});
      while (this.#pending.length > 0) {
        const batch = this.#pending.slice(0, MAX_WINDOWS_PER_WRITE);
        const events = batch.flatMap((w) => eventsOf(w, this.#event));
        try {
          await this.#write(events);
        } catch (err) {
          this.#failing = true;
          this.#log(
            { alarm: 'audit_unavailable', action: this.#event.action, refusals: sum(events), pending_seconds: this.#pending.length, lost: this.#lost, error: loggableError(err) },
            'refused requests could not be audited; retrying',
          );
          if (!this.#closed) this.#schedule(RETRY_MS);
          return;
        }
        // A long outage may have dropped the oldest windows meanwhile: remove exactly these.
        for (const written of batch) {
          const at = this.#pending.indexOf(written);
          if (at >= 0) this.#pending.splice(at, 1);
        }
        if (this.#failing) this.#log({ alarm: 'audit_recovered', action: this.#event.action, refusals: sum(events) }, 'tallied refusals audited after a failure');
        this.#failing = false;
      }
    };
    const flushing = run();
    this.#flushing = flushing;
    return flushing;
  }

  /** Stops the timer and writes everything tallied so far. */
  async close(): Promise<void> {
    this.#closed = true;
    if (this.#timer) clearTimeout(this.#timer);
    this.#timer = undefined;
    await this.flush(true);
  }

  #seal(): void {
    if (!this.#current) return;
    this.#pending.push(this.#current);
    this.#current = undefined;
    while (this.#pending.length > this.#maxPending) {
      const dropped = this.#pending.shift()!;
      const count = bucketsOf(dropped).reduce((n, b) => n + b.count, 0);
      this.#lost += count;
      this.#log({ alarm: 'audit_refusals_lost', action: this.#event.action, refusals: count, lost: this.#lost }, 'tallied refusals dropped: the audit log refused them for too long');
    }
  }

  #schedule(delayMs: number): void {
    if (this.#timer || this.#closed) return;
    this.#timer = setTimeout(() => {
      this.#timer = undefined;
      void this.flush().then(() => {
        if (this.#current && !this.#closed) this.#schedule(FLUSH_DELAY_AFTER_SECOND_MS + (this.#current.second + 1) * 1000 - Date.now());
      });
    }, Math.max(0, delayMs));
    this.#timer.unref();
  }
}

function sum(events: readonly AuditEventInput[]): number {
  return events.reduce((n, e) => n + Number(e.details?.count ?? 0), 0);
}

function bucketsOf(window: Window): Bucket[] {
  return window.overflow ? [...window.buckets.values(), window.overflow] : [...window.buckets.values()];
}

function eventsOf(window: Window, event: { readonly action: string; readonly severity: 'info' | 'high' }): AuditEventInput[] {
  const windowStart = new Date(window.second * 1000).toISOString();
  return bucketsOf(window).map((b) => ({
    action: event.action,
    decision: 'deny',
    severity: event.severity,
    actor: null,
    details: { source: b.source, reason: b.reason, count: b.count, window_start: windowStart, routes: [...b.routes].sort(), ...(b.sample ? { sample: b.sample } : {}) },
  }));
}
