import { createHmac, createPrivateKey, createPublicKey, generateKeyPairSync, randomBytes, randomUUID, sign, verify, type KeyObject } from 'node:crypto';
import type { Principal } from '../auth/index.js';
import type { KeyRing } from '../crypto/index.js';
import {
  auditEventHashes,
  auditEventsForDecisions,
  enqueueAuditEvents,
  loadOrCreateSecret,
  inReadOnlySnapshot,
  inTransaction,
  queuedEventsAlreadyChained,
  initAuditHead,
  insertCheckpoint,
  listCheckpoints,
  oldestQueuedAuditEvents,
  queryAuditEvents,
  readAuditHead,
  teamsInAuditSince,
  walkAuditChain,
  type AuditRow,
  type ChainBreak,
  type Db,
  type QueuedAuditRow,
  type VaultDatabase,
} from '../db/index.js';
import { canonicalJson } from '../encoding/canonical-json.js';
import { VaultError } from '../errors/index.js';
import { isUuid } from '../model/index.js';
import { checkpointStatement, GENESIS_HASH, headIsGenuine, headMac, hex, queuedEventIsGenuine, queuedEventMac } from './chain.js';
import { GroupCommit } from './group-commit.js';
import { AuditSequencer } from './sequencer.js';
import { FileWitness, findWitnessBreach } from './witness.js';
import { WitnessWatch, type WitnessStatus } from './witness-watch.js';
import { noteDurableDeny } from './request-scope.js';

export type AuditDecision = 'allow' | 'deny' | 'info' | 'error';

/** The part of a principal the log records. */
export type AuditActor = Pick<Principal, 'sub' | 'roles' | 'teams' | 'purpose'>;

/** What a caller records. Tokens and payloads never go in; an employee id is stored as a keyed hash. */
export interface AuditEventInput {
  readonly action: string;
  readonly decision: AuditDecision;
  readonly severity?: 'info' | 'high';
  readonly actor?: AuditActor | null;
  readonly employeeId?: string;
  readonly policyRevision?: string | null;
  readonly recordCount?: number;
  readonly decisionId?: string;
  readonly details?: Record<string, unknown>;
}

export interface AuditEventView {
  readonly seq: number;
  readonly event_id: string;
  readonly occurred_at: string;
  readonly action: string;
  readonly decision: string;
  readonly severity: string;
  readonly actor: string | null;
  readonly roles: string[];
  readonly teams: string[];
  readonly purpose: string | null;
  readonly employee_ref: string | null;
  readonly policy_revision: string | null;
  readonly record_count: number | null;
  readonly decision_id: string | null;
  readonly details: Record<string, unknown>;
  readonly hash: string;
}

export interface AuditQuery {
  readonly actor?: string;
  readonly team?: string;
  readonly employeeId?: string;
  readonly action?: string;
  readonly decision?: string;
  readonly from?: Date;
  readonly to?: Date;
  readonly limit?: number;
  readonly cursor?: string;
}

export interface AuditPage {
  readonly events: AuditEventView[];
  readonly next_cursor: string | null;
}

export interface VerifyResult {
  readonly ok: boolean;
  readonly checked: number;
  readonly broken_at?: number;
  readonly reason?: string;
}

/** What the log shows of the allowed `dataset.stream` pages served under one decision. */
export interface StreamSummary {
  readonly pages: number;
  readonly records_served: number;
  readonly first_at: string | null;
  readonly last_at: string | null;
}

export interface Checkpoint {
  readonly seq: number;
  readonly hash: string;
  readonly signed_at: string;
  readonly key_id: string;
  readonly signature: string;
}

export interface AuditLogOptions {
  /** `VAULT_AUDIT_WITNESS`: where every checkpoint is also appended, outside the database. */
  readonly witness?: string;
  /** Operator log; alarms carry an `alarm` field a SIEM can match on. */
  readonly log?: (event: Record<string, unknown>, message: string) => void;
}


const MAC_SECRET = 'audit-mac';
const CHECKPOINT_SECRET = 'audit-checkpoint-ed25519';
/** Events hashed by the database per statement of a verify, and statements run side by side. */
const VERIFY_CHUNK = 50_000;
const VERIFY_PARALLEL = 2;
const SIGNATURES_CHECKED = 1000;
const QUEUE_PAGE = 5000;
export const MAX_QUERY_LIMIT = 1000;

function unavailable(cause: unknown): VaultError {
  return new VaultError('ERR_UNAVAILABLE', 'the audit log cannot record this action; it was not carried out', { cause, internal: { alarm: 'audit_unavailable' } });
}

/**
 * The hash-chained access log. `append` queues the event inside the caller's transaction, so the
 * action and its event commit together or not at all, and takes no lock; the sequencer chains
 * queued events moments later, one batch at a time, so the chain never forks (ADR 0006). Readers
 * here first wait for the events committed before them to be chained.
 */
export class AuditLog {
  readonly #database: VaultDatabase;
  readonly #macKey: Buffer;
  readonly #signingKey: KeyObject;
  readonly #witness: WitnessWatch;
  readonly #sequencer: AuditSequencer;
  readonly #alone: GroupCommit;
  readonly #log: NonNullable<AuditLogOptions['log']>;
  readonly publicKey: KeyObject;
  readonly keyId: string;

  private constructor(database: VaultDatabase, macKey: Buffer, signingKey: KeyObject, witness: FileWitness | undefined, options: AuditLogOptions) {
    this.#database = database;
    this.#macKey = macKey;
    this.#signingKey = signingKey;
    this.#log = options.log ?? (() => {});
    this.#witness = new WitnessWatch(witness, database, (cp) => this.#signedHere(cp), this.#log);
    this.#sequencer = new AuditSequencer(database, macKey, { log: this.#log });
    this.#alone = new GroupCommit(database);
    this.publicKey = createPublicKey(signingKey);
    this.keyId = `audit-${createHmac('sha256', 'activity-vault/audit-key-id').update(this.publicKey.export({ type: 'spki', format: 'der' })).digest('hex').slice(0, 16)}`;
  }

  /**
   * Loads (or creates, once for all instances) the log's MAC key and checkpoint signing key, opens
   * the witness (`ERR_CONFIG` when it cannot be appended to) and compares its newest checkpoint
   * with the database.
   */
  static async open(database: VaultDatabase, keyRing: KeyRing, options: AuditLogOptions = {}): Promise<AuditLog> {
    const secret = (name: string, fresh: () => Buffer) => loadOrCreateSecret(database.db, keyRing, name, fresh);
    const macKey = await secret(MAC_SECRET, () => randomBytes(32));
    const der = await secret(CHECKPOINT_SECRET, () => generateKeyPairSync('ed25519').privateKey.export({ type: 'pkcs8', format: 'der' }) as Buffer);
    const witness = options.witness === undefined ? undefined : await FileWitness.open(options.witness);
    const log = new AuditLog(database, macKey, createPrivateKey({ key: der, format: 'der', type: 'pkcs8' }), witness, options);
    await initAuditHead(database.db, { seq: 0, hash: GENESIS_HASH, mac: headMac(macKey, 0, GENESIS_HASH) });
    await log.#witness.compare(true).catch(() => undefined);
    log.#sequencer.start();
    return log;
  }

  /** Stops the sequencer after its pass in flight; events still queued are chained by the next start. */
  close(): Promise<void> {
    return this.#sequencer.stop();
  }

  /**
   * Resolves once every event committed before the call is chained; throws `ERR_UNAVAILABLE` when
   * the sequencer cannot chain them. Not inside a transaction.
   */
  sequenced(): Promise<void> {
    return this.#sequencer.drain();
  }

  /**
   * Signs a statement the vault attests to (an erasure receipt) with the checkpoint key, so anyone
   * holding the public key checks it as they check a checkpoint (Ed25519, `openssl pkeyutl -verify`).
   */
  signStatement(statement: Uint8Array): { key_id: string; signature: string; public_key_pem: string } {
    return {
      key_id: this.keyId,
      signature: sign(null, statement, this.#signingKey).toString('base64'),
      public_key_pem: this.publicKey.export({ type: 'spki', format: 'pem' }) as string,
    };
  }

  /** The keyed hash that stands for an employee id in the log. */
  employeeRef(employeeId: string): string {
    return createHmac('sha256', this.#macKey).update('activity-vault/audit-employee/v1').update(employeeId).digest('hex').slice(0, 32);
  }

  /** Appends inside `trx`. Throws `ERR_UNAVAILABLE` when the event cannot be written; the caller's transaction then rolls back. */
  async append(trx: Db, input: AuditEventInput): Promise<{ eventId: string }> {
    const [first] = await this.appendMany(trx, [input]);
    return first!;
  }

  /** Appends several events, chained in this order. */
  async appendMany(trx: Db, inputs: readonly AuditEventInput[]): Promise<Array<{ eventId: string }>> {
    let rows: QueuedAuditRow[];
    try {
      rows = this.#queuedRows(inputs);
      await enqueueAuditEvents(trx, rows);
    } catch (err) {
      throw err instanceof VaultError ? err : unavailable(err);
    }
    this.#sequencer.wake();
    return rows.map((r) => ({ eventId: r.event_id }));
  }

  /**
   * The rows as the database will give them back, so the MAC still holds when the sequencer reads
   * them: text made well-formed (a lone surrogate would come back as U+FFFD) and the decision id in
   * the one spelling a uuid column returns.
   */
  #queuedRows(inputs: readonly AuditEventInput[]): QueuedAuditRow[] {
    const fault = this.#sequencer.fault;
    if (fault) throw fault;
    // Node 20 has String.prototype.toWellFormed; the ES2022 lib the project compiles against does not declare it.
    const text = (value: string): string => (value as string & { toWellFormed(): string }).toWellFormed();
    const textOrNull = (value: string | undefined | null): string | null => (value == null ? null : text(value));
    return inputs.map((input) => {
      if (input.decisionId !== undefined && !isUuid(input.decisionId)) throw new TypeError('an audit decision id must be a UUID');
      const event = {
        event_id: randomUUID(),
        occurred_at: new Date(),
        action: text(input.action),
        decision: input.decision,
        severity: input.severity ?? 'info',
        actor: textOrNull(input.actor?.sub),
        actor_roles: (input.actor?.roles ?? []).map(text),
        teams: (input.actor?.teams ?? []).map(text),
        purpose: textOrNull(input.actor?.purpose),
        employee_ref: input.employeeId === undefined ? null : this.employeeRef(input.employeeId),
        policy_revision: textOrNull(input.policyRevision),
        record_count: input.recordCount ?? null,
        decision_id: input.decisionId?.toLowerCase() ?? null,
        details: canonicalJson(input.details ?? {}),
      };
      return { ...event, mac: queuedEventMac(this.#macKey, event) };
    });
  }

  /** Appends several events in one transaction of their own (a tally of anonymous refusals). */
  async appendManyAlone(inputs: readonly AuditEventInput[]): Promise<void> {
    await inTransaction(this.#database, (trx) => this.appendMany(trx, inputs));
  }

  /** Appends in a transaction of its own (events with no other write, such as a refused token). */
  async appendAlone(input: AuditEventInput): Promise<{ eventId: string }> {
    let row: QueuedAuditRow;
    try {
      [row] = this.#queuedRows([input]) as [QueuedAuditRow];
      await this.#alone.write(row);
    } catch (err) {
      throw err instanceof VaultError ? err : unavailable(err);
    }
    this.#sequencer.wake();
    // Committed: the HTTP adapter must not audit the refusal that follows a second time.
    if (input.decision === 'deny') noteDurableDeny();
    return { eventId: row.event_id };
  }

  /**
   * A refusal that concerns one employee: its deny event is appended (the precise `reason` goes
   * to the log only), then `error` is thrown for the caller.
   */
  async refuse(error: VaultError, event: { action: string; actor: AuditActor; employeeId: string; reason: string; severity: 'info' | 'high' }): Promise<never> {
    await this.appendAlone({ action: event.action, decision: 'deny', severity: event.severity, actor: event.actor, employeeId: event.employeeId, recordCount: 0, details: { reason: event.reason } });
    throw error;
  }

  /**
   * Runs `work` and appends the event describing its result in one transaction, the append last:
   * if the event cannot be written, the work rolls back and its result is never returned.
   */
  async runAudited<T>(work: (trx: Db) => Promise<T>, eventOf: (result: T) => AuditEventInput): Promise<T> {
    let worked = false;
    let denied = false;
    try {
      const result = await inTransaction(this.#database, async (trx) => {
        const done = await work(trx);
        worked = true;
        const event = eventOf(done);
        denied = event.decision === 'deny';
        await this.append(trx, event);
        return done;
      });
      // Committed: the HTTP adapter must not audit the refusal that follows a second time.
      if (denied) noteDurableDeny();
      return result;
    } catch (err) {
      // Past the work only the append or the commit can fail; either way the event is not on the log.
      throw worked && !(err instanceof VaultError) ? unavailable(err) : err;
    }
  }

  /** True when the head can be read, its MAC holds and the sequencer is not failing: appends can proceed. */
  async headIsIntact(): Promise<boolean> {
    if (this.#sequencer.fault) return false;
    try {
      const head = await readAuditHead(this.#database.db);
      return Boolean(head && headIsGenuine(this.#macKey, head));
    } catch {
      return false;
    }
  }

  /**
   * Walks the chain end to end, then checks the head's MAC, the signed checkpoints and every
   * checkpoint in the witness against it. Throws `ERR_UNAVAILABLE` when the witness cannot be read.
   */
  async verify(): Promise<VerifyResult> {
    const { db } = this.#database;
    // A sequencer that cannot chain (a forged row holding the next seq) must not hide the break from the walk.
    await this.#sequencer.drain().catch(() => undefined);
    // Read before the walk: every checkpoint witnessed by then covers events the walk will reach.
    const witnessed = await this.#witness.entries();
    let prev: Uint8Array = GENESIS_HASH;
    let last = 0;
    // Up to the head as it stands now, ranges are hashed side by side on separate connections.
    const ranges: Array<[number, number]> = [];
    for (let from = 0, end = (await readAuditHead(db))?.seq ?? 0; from < end; from += VERIFY_CHUNK) ranges.push([from, Math.min(from + VERIFY_CHUNK, end)]);
    for (let i = 0; i < ranges.length; i += VERIFY_PARALLEL) {
      const batch = ranges.slice(i, i + VERIFY_PARALLEL);
      const walks = await Promise.all(batch.map(([from, to]) => walkAuditChain(db, from, from === 0 ? GENESIS_HASH : undefined, to - from, to)));
      for (const [k, walk] of walks.entries()) {
        const [from, to] = batch[k]!;
        if (walk.broken) return chainBreak(walk.broken);
        if (walk.walked < to - from) return { ok: false, checked: from + walk.walked, broken_at: from + walk.walked + 1, reason: 'event missing or out of order' };
        ({ seq: last, hash: prev } = walk.last!);
      }
    }
    // The rest reads one snapshot: a pass committing meanwhile would otherwise look like events
    // deleted or added behind the head.
    return inReadOnlySnapshot(this.#database, (trx) => this.#verifyFromSnapshot(trx, { last, prev }, witnessed));
  }

  /** Walks what was chained since the ranges, then checks the head, checkpoints, queue and witness, in `trx`'s snapshot. */
  async #verifyFromSnapshot(trx: Db, walked: { last: number; prev: Uint8Array }, witnessed: readonly Checkpoint[]): Promise<VerifyResult> {
    let { last, prev } = walked;
    for (;;) {
      const walk = await walkAuditChain(trx, last, prev, VERIFY_CHUNK);
      if (walk.broken) return chainBreak(walk.broken);
      if (!walk.last) break;
      ({ seq: last, hash: prev } = walk.last);
      if (walk.walked < VERIFY_CHUNK) break;
    }
    const broken = (at: number, reason: string): VerifyResult => ({ ok: false, checked: last, broken_at: at, reason });
    const head = await readAuditHead(trx);
    if (!head || !headIsGenuine(this.#macKey, head)) return broken(head?.seq ?? last, 'log head fails its MAC');
    if (head.seq > last) return broken(last + 1, 'newest events were deleted');
    if (head.seq < last || !Buffer.from(head.hash).equals(Buffer.from(prev))) return broken(head.seq + 1, 'events were added behind the log head');
    const stored = await listCheckpoints(trx, witnessed.length > 0 ? Number.MAX_SAFE_INTEGER : SIGNATURES_CHECKED);
    const hashes = await auditEventHashes(trx, [...new Set([...stored.slice(0, SIGNATURES_CHECKED), ...witnessed].map((cp) => cp.seq))]);
    const eventHash = (seq: number): string | undefined => {
      const hash = seq <= last ? hashes.get(seq) : undefined;
      return hash && hex(hash);
    };
    for (const cp of stored.slice(0, SIGNATURES_CHECKED)) {
      const statement = checkpointStatement(cp.seq, hex(cp.hash), cp.signed_at.toISOString(), cp.key_id);
      if (cp.key_id !== this.keyId || !verify(null, statement, this.publicKey, cp.signature)) return broken(cp.seq, 'checkpoint signature is invalid');
      if (cp.seq > last) return broken(last + 1, 'events covered by a signed checkpoint are missing');
      if (eventHash(cp.seq) !== hex(cp.hash)) return broken(cp.seq, 'event differs from its signed checkpoint');
    }
    for (let after = 0; ; ) {
      const queued = await oldestQueuedAuditEvents(trx, QUEUE_PAGE, after);
      for (const { queue_id, mac, ...event } of queued) {
        if (!queuedEventIsGenuine(this.#macKey, event, mac)) return broken(last + 1, `queued event ${event.event_id} (queue id ${queue_id}) fails its MAC`);
      }
      const [replayed] = await queuedEventsAlreadyChained(trx, queued.map((q) => q.event_id));
      if (replayed) return broken(last + 1, `queued event ${replayed} is a copy of an event already in the chain`);
      if (queued.length < QUEUE_PAGE) break;
      after = queued.at(-1)!.queue_id;
    }
    const storedHashes = new Map(stored.map((cp) => [cp.seq, hex(cp.hash)]));
    const breach = findWitnessBreach(witnessed, { end: last, eventHash, checkpointHash: (seq) => storedHashes.get(seq) }, (cp) => this.#signedHere(cp));
    if (breach) {
      this.#witness.mismatchFound(breach);
      return broken(breach.at, breach.reason);
    }
    return { ok: true, checked: last };
  }

  #signedHere(cp: Checkpoint): boolean {
    const statement = checkpointStatement(cp.seq, cp.hash, cp.signed_at, cp.key_id);
    return cp.key_id === this.keyId && verify(null, statement, this.publicKey, Buffer.from(cp.signature, 'base64'));
  }

  /** For the readiness probe: see `WitnessWatch.status`. */
  witnessStatus(): Promise<WitnessStatus> {
    return this.#witness.status();
  }

  /**
   * Signs (seq, hash) of the newest event unless a checkpoint already covers it, stores it and,
   * once committed, appends it to the witness. `eventOf`, when given, is appended in the
   * checkpoint's transaction. `undefined` while the log is empty. Throws `ERR_UNAVAILABLE` while
   * the database disagrees with the witness (signing a rewound log would bless it) and when the
   * witness cannot be written (the checkpoint is then stored but not witnessed, and the vault is
   * not ready until a later one is).
   */
  async checkpoint(eventOf?: (checkpoint: Checkpoint | undefined) => AuditEventInput): Promise<Checkpoint | undefined> {
    await this.#sequencer.drain();
    await this.#witness.compare();
    const mismatch = this.#witness.mismatch;
    if (mismatch) {
      throw new VaultError('ERR_UNAVAILABLE', 'the audit log disagrees with its witness; no checkpoint is signed', { internal: { alarm: 'audit_witness_mismatch', ...mismatch } });
    }
    const checkpoint = eventOf ? await this.runAudited((trx) => this.#storeCheckpoint(trx), eventOf) : await this.#storeCheckpoint(this.#database.db);
    if (checkpoint) await this.#witness.record(checkpoint);
    return checkpoint;
  }

  async #storeCheckpoint(db: Db): Promise<Checkpoint | undefined> {
    const head = await readAuditHead(db);
    if (!head || head.seq === 0) return undefined;
    const [newest] = await listCheckpoints(db, 1);
    if (newest?.seq !== head.seq) {
      const hashHex = hex(head.hash);
      const signedAt = new Date();
      const signature = sign(null, checkpointStatement(head.seq, hashHex, signedAt.toISOString(), this.keyId), this.#signingKey);
      await insertCheckpoint(db, { seq: head.seq, hash: head.hash, signed_at: signedAt, key_id: this.keyId, signature });
    }
    return (await this.checkpoints(1, db))[0];
  }

  /** Newest first. */
  async checkpoints(limit = 100, db: Db = this.#database.db): Promise<Checkpoint[]> {
    return (await listCheckpoints(db, limit)).map((cp) => ({
      seq: cp.seq,
      hash: hex(cp.hash),
      signed_at: cp.signed_at.toISOString(),
      key_id: cp.key_id,
      signature: Buffer.from(cp.signature).toString('base64'),
    }));
  }

  /** Research teams named by any audited actor since `since`. */
  async teamsSeenSince(since: Date): Promise<string[]> {
    await this.#sequencer.drain();
    return teamsInAuditSince(this.#database.db, since);
  }

  /** Per decision id, the allowed `dataset.stream` pages it served: count, records, first and last. */
  async streamSummaries(decisionIds: readonly string[]): Promise<Map<string, StreamSummary>> {
    await this.#sequencer.drain();
    const events = await auditEventsForDecisions(this.#database.db, decisionIds);
    const summaries = new Map<string, StreamSummary>();
    for (const id of decisionIds) {
      const streams = events.filter((e) => e.decision_id === id && e.action === 'dataset.stream' && e.decision === 'allow');
      summaries.set(id, {
        pages: streams.length,
        records_served: streams.reduce((n, e) => n + (e.record_count ?? 0), 0),
        first_at: streams[0]?.occurred_at.toISOString() ?? null,
        last_at: streams.at(-1)?.occurred_at.toISOString() ?? null,
      });
    }
    return summaries;
  }

  /**
   * Newest first, keyset-paged: `next_cursor` continues where the page ended. Given a transaction,
   * the caller must have waited for `sequenced()` before opening it.
   */
  async query(q: AuditQuery, db?: Db): Promise<AuditPage> {
    if (db === undefined) await this.#sequencer.drain();
    const limit = Math.min(Math.max(q.limit ?? 100, 1), MAX_QUERY_LIMIT);
    const beforeSeq = q.cursor === undefined ? undefined : seqOfCursor(q.cursor);
    const rows = await queryAuditEvents(db ?? this.#database.db, {
      actor: q.actor,
      team: q.team,
      employeeRef: q.employeeId === undefined ? undefined : this.employeeRef(q.employeeId),
      action: q.action,
      decision: q.decision,
      from: q.from,
      to: q.to,
      beforeSeq,
      limit: limit + 1,
    });
    const page = rows.slice(0, limit);
    const next = rows.length > limit ? cursorBefore(page.at(-1)!.seq) : null;
    return { events: page.map(viewOf), next_cursor: next };
  }
}

/** The keyset cursor of a newest-first page that ended at `seq`: opaque to callers. */
export function cursorBefore(seq: number): string {
  return Buffer.from(`seq:${seq}`).toString('base64url');
}

/** The sequence number a cursor from `cursorBefore` continues below; `ERR_INVALID_REQUEST` for any other text. */
export function seqOfCursor(cursor: string): number {
  const seq = Number(Buffer.from(cursor, 'base64url').toString().replace(/^seq:/, ''));
  if (!Number.isSafeInteger(seq) || seq < 1) throw new VaultError('ERR_INVALID_REQUEST', 'cursor is not one this log issued');
  return seq;
}

function chainBreak(broken: ChainBreak): VerifyResult {
  const checked = broken.expected - 1;
  if (broken.seq !== broken.expected) return { ok: false, checked, broken_at: broken.expected, reason: 'event missing or out of order' };
  return { ok: false, checked, broken_at: broken.seq, reason: broken.linked ? 'event was altered' : 'previous hash does not match' };
}


function viewOf(row: AuditRow): AuditEventView {
  return {
    seq: row.seq,
    event_id: row.event_id,
    occurred_at: row.occurred_at.toISOString(),
    action: row.action,
    decision: row.decision,
    severity: row.severity,
    actor: row.actor,
    roles: row.actor_roles,
    teams: row.teams,
    purpose: row.purpose,
    employee_ref: row.employee_ref,
    policy_revision: row.policy_revision,
    record_count: row.record_count,
    decision_id: row.decision_id,
    details: JSON.parse(row.details) as Record<string, unknown>,
    hash: hex(row.hash),
  };
}
