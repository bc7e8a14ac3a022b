import { setImmediate as nextTurn } from 'node:timers/promises';
import {
  auditQueueIsEmpty,
  boundSequencerPass,
  chainQueuedAuditEvents,
  inTransaction,
  lockAuditHead,
  oldestQueuedAuditEvents,
  queuedEventsAlreadyChained,
  type AuditRow,
  type VaultDatabase,
} from '../db/index.js';
import { loggableError, VaultError } from '../errors/index.js';
import { canonicalEvent, chainHash, headIsGenuine, headMac, queuedEventIsGenuine } from './chain.js';

export interface SequencerOptions {
  readonly log: (event: Record<string, unknown>, message: string) => void;
  /** How long after an append the sequencer runs: appends arriving meanwhile share the pass. */
  readonly delayMs?: number;
  /** How often it looks for events queued by other instances, or retries after a failure. */
  readonly idleMs?: number;
}

const BATCH = 2000;
/** While faulted, how soon a pass is retried after an append or a probe asks. */
const FAULTED_RETRY_MS = 250;

/**
 * Chains queued events in batches (ADR 0006). A pass takes the head's row lock, checks the head's
 * MAC and every queued event's MAC, gives the events the next sequence numbers and hashes, moves
 * them into `audit_events` and moves the head, all in one transaction. Any instance may run a pass;
 * the head's lock makes them take turns.
 */
export class AuditSequencer {
  readonly #database: VaultDatabase;
  readonly #macKey: Buffer;
  readonly #options: Required<SequencerOptions>;
  #passesStarted = 0;
  #current: { readonly generation: number; readonly done: Promise<void> } | undefined;
  #wakeTimer: NodeJS.Timeout | undefined;
  #idleTimer: NodeJS.Timeout | undefined;
  /** Why the last pass failed (tampering, the database, a refused insert); the next successful pass clears it. */
  #fault: VaultError | undefined;

  constructor(database: VaultDatabase, macKey: Buffer, options: SequencerOptions) {
    this.#database = database;
    this.#macKey = macKey;
    this.#options = { delayMs: 15, idleMs: 1000, ...options };
  }

  start(): void {
    this.#idleTimer ??= setInterval(() => {
      if (this.#current || this.#wakeTimer) return;
      // Most seconds the queue is empty: only a pass with work (or a fault to clear) takes the head's lock.
      if (this.#fault) return this.#kick();
      auditQueueIsEmpty(this.#database.db).then((empty) => empty || this.#kick(), () => this.#kick());
    }, this.#options.idleMs);
    this.#idleTimer.unref();
  }

  async stop(): Promise<void> {
    clearInterval(this.#idleTimer);
    clearTimeout(this.#wakeTimer);
    this.#idleTimer = undefined;
    this.#wakeTimer = undefined;
    await this.#current?.done.catch(() => undefined);
  }

  /**
   * Why appends must be refused now, if they must: the last pass found the log tampered with or
   * could not chain (a session holding the head's lock makes a pass fail within seconds). Asking
   * also schedules a pass, so the log is usable again as soon as one succeeds.
   */
  get fault(): VaultError | undefined {
    if (this.#fault) this.wake();
    return this.#fault;
  }

  /** Asks for a pass shortly: appends within `delayMs` of each other are chained together. */
  wake(): void {
    if (this.#wakeTimer || !this.#idleTimer) return;
    this.#wakeTimer = setTimeout(
      () => {
        this.#wakeTimer = undefined;
        this.#kick();
      },
      this.#fault ? FAULTED_RETRY_MS : this.#options.delayMs,
    );
    this.#wakeTimer.unref();
  }

  /**
   * Resolves once every event committed before the call is chained (read-your-writes for readers
   * of the log), or throws what stopped the pass. Never call it inside a transaction: on the
   * embedded store the pass needs the one connection.
   */
  async drain(): Promise<void> {
    const wanted = this.#passesStarted + 1;
    for (;;) {
      const current = this.#current;
      if (!current) return this.#startPass().done;
      if (current.generation >= wanted) return current.done;
      await current.done.catch(() => undefined);
    }
  }

  #kick(): void {
    this.drain().catch(() => undefined);
  }

  #startPass(): { readonly generation: number; readonly done: Promise<void> } {
    const generation = ++this.#passesStarted;
    const done = this.#pass().finally(() => {
      if (this.#current?.generation === generation) this.#current = undefined;
    });
    this.#current = { generation, done };
    return this.#current;
  }

  async #pass(): Promise<void> {
    try {
      // Until the queue is drained, so a reader waiting on this pass sees every event committed
      // before it; the event loop gets a turn between batches (the embedded store never yields).
      while ((await this.#chainBatch()) === BATCH) await nextTurn();
      this.#fault = undefined;
    } catch (err) {
      const fault =
        err instanceof VaultError
          ? err
          : new VaultError('ERR_UNAVAILABLE', 'the audit log cannot chain its events; no action is carried out', { cause: err, internal: { alarm: 'audit_unavailable' } });
      if (this.#fault?.message !== fault.message) {
        this.#options.log({ ...fault.internal, error: loggableError(err) }, 'audit events cannot be chained; appends are refused');
      }
      this.#fault = fault;
      throw fault;
    }
  }

  /** One batch in one transaction; returns how many events it chained. */
  #chainBatch(): Promise<number> {
    return inTransaction(this.#database, async (trx) => {
      await boundSequencerPass(trx);
      const head = await lockAuditHead(trx);
      if (!head) throw new Error('audit head missing');
      if (!headIsGenuine(this.#macKey, head)) {
        throw new VaultError('ERR_UNAVAILABLE', 'the audit log head fails its MAC: the log was tampered with', { internal: { alarm: 'audit_tampered' } });
      }
      const queued = await oldestQueuedAuditEvents(trx, BATCH);
      if (queued.length === 0) return 0;
      const replayed = await queuedEventsAlreadyChained(trx, queued.map((q) => q.event_id));
      if (replayed.length > 0) {
        throw new VaultError('ERR_UNAVAILABLE', 'a queued audit event is already in the chain: a replayed copy', { internal: { alarm: 'audit_tampered', event_ids: replayed } });
      }
      let prev: Uint8Array = head.hash;
      const rows: AuditRow[] = queued.map(({ queue_id, mac, ...event }, i) => {
        if (!queuedEventIsGenuine(this.#macKey, event, mac)) {
          throw new VaultError('ERR_UNAVAILABLE', 'a queued audit event fails its MAC: the log was tampered with', { internal: { alarm: 'audit_tampered', queue_id, event_id: event.event_id } });
        }
        const row = { ...event, seq: head.seq + 1 + i };
        const hash = chainHash(prev, canonicalEvent(row));
        const chained = { ...row, prev_hash: Buffer.from(prev), hash };
        prev = hash;
        return chained;
      });
      const last = rows.at(-1)!;
      await chainQueuedAuditEvents(trx, rows, queued.map((q) => q.queue_id), { seq: last.seq, hash: last.hash, mac: headMac(this.#macKey, last.seq, last.hash) });
      return rows.length;
    });
  }
}
