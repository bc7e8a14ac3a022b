import { createHmac, createPrivateKey, createPublicKey, generateKeyPairSync, randomBytes, randomUUID, sign, timingSafeEqual, verify, type KeyObject } from 'node:crypto';
import type { Principal } from '../auth/index.js';
import type { KeyRing } from '../crypto/index.js';
import {
  auditEventsAfter,
  auditEventsForDecisions,
  findSecret,
  inTransaction,
  initAuditHead,
  insertAuditEvents,
  insertCheckpoint,
  listCheckpoints,
  lockAuditHead,
  queryAuditEvents,
  readAuditHead,
  storeSecretOnce,
  teamsInAuditSince,
  type AuditRow,
  type Db,
  type VaultDatabase,
} from '../db/index.js';
import { canonicalJson } from '../encoding/canonical-json.js';
import { VaultError } from '../errors/index.js';
import { canonicalEvent, chainHash, checkpointStatement, GENESIS_HASH, headMac } from './chain.js';
import { FileWitness, findWitnessBreach, type WitnessBreach } from './witness.js';
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

/** Whether the database still agrees with the witness, as the readiness probe sees it. */
export interface WitnessStatus {
  readonly ok: boolean;
  readonly reason?: string;
}

const MAC_SECRET = 'audit-mac';
const CHECKPOINT_SECRET = 'audit-checkpoint-ed25519';
const VERIFY_PAGE = 5000;
const SIGNATURES_CHECKED = 1000;
export const MAX_QUERY_LIMIT = 1000;

function unavailable(cause: unknown): VaultError {
  return new VaultError('ERR_UNAVAILABLE', 'the audit log cannot record this action; it was not carried out', { cause, internal: { alarm: 'audit_unavailable' } });
}

/**
 * The hash-chained access log. `append` runs inside the caller's transaction, so the action and its
 * event commit together or not at all; it takes the head's row lock, so appends are serialised and
 * the chain never forks. Call it last in the transaction: the lock is held until commit.
 */
export class AuditLog {
  readonly #database: VaultDatabase;
  readonly #macKey: Buffer;
  readonly #signingKey: KeyObject;
  readonly #witness: FileWitness | undefined;
  readonly #log: NonNullable<AuditLogOptions['log']>;
  /** The newest checkpoint known to be in the witness. */
  #witnessed: Checkpoint | undefined;
  #witnessWriteFailed = false;
  /** Set once the database is seen to disagree with the witness; only a restart re-examines it. */
  #witnessMismatch: WitnessBreach | undefined;
  readonly publicKey: KeyObject;
  readonly keyId: string;

  private constructor(database: VaultDatabase, macKey: Buffer, signingKey: KeyObject, witness: FileWitness | undefined, options: AuditLogOptions) {
    this.#database = database;
    this.#macKey = macKey;
    this.#signingKey = signingKey;
    this.#witness = witness;
    this.#log = options.log ?? (() => {});
    this.publicKey = createPublicKey(signingKey);
    this.keyId = `audit-${createHmac('sha256', 'activity-vault/audit-key-id').update(this.publicKey.export({ type: 'spki', format: 'der' })).digest('hex').slice(0, 16)}`;
  }

  /**
   * Loads (or creates, once for all instances) the log's MAC key and checkpoint signing key, opens
   * the witness (`ERR_CONFIG` when it cannot be appended to) and compares its newest checkpoint
   * with the database.
   */
  static async open(database: VaultDatabase, keyRing: KeyRing, options: AuditLogOptions = {}): Promise<AuditLog> {
    const secret = async (name: string, fresh: () => Buffer): Promise<Buffer> => {
      const stored = await findSecret(database.db, name);
      if (stored) return keyRing.unwrapVaultSecret(name, stored);
      const { wrapped, kekId } = await keyRing.wrapVaultSecret(name, fresh());
      return keyRing.unwrapVaultSecret(name, await storeSecretOnce(database.db, name, kekId, wrapped));
    };
    const macKey = await secret(MAC_SECRET, () => randomBytes(32));
    const der = await secret(CHECKPOINT_SECRET, () => generateKeyPairSync('ed25519').privateKey.export({ type: 'pkcs8', format: 'der' }) as Buffer);
    const witness = options.witness === undefined ? undefined : await FileWitness.open(options.witness);
    const log = new AuditLog(database, macKey, createPrivateKey({ key: der, format: 'der', type: 'pkcs8' }), witness, options);
    await initAuditHead(database.db, { seq: 0, hash: GENESIS_HASH, mac: headMac(macKey, 0, GENESIS_HASH) });
    await log.#compareWithWitness(true).catch(() => undefined);
    return log;
  }

  /** The keyed hash that stands for an employee id in the log. */
  employeeRef(employeeId: string): string {
    return createHmac('sha256', this.#macKey).update('activity-vault/audit-employee/v1').update(employeeId).digest('hex').slice(0, 32);
  }

  /** Appends inside `trx`. Throws `ERR_UNAVAILABLE` when the event cannot be written; the caller's transaction then rolls back. */
  async append(trx: Db, input: AuditEventInput): Promise<{ seq: number; eventId: string }> {
    const [first] = await this.appendMany(trx, [input]);
    return first!;
  }

  /** Appends several events in order under one lock of the head (a batch of related events). */
  async appendMany(trx: Db, inputs: readonly AuditEventInput[]): Promise<Array<{ seq: number; eventId: string }>> {
    try {
      const head = await lockAuditHead(trx);
      if (!head) throw new Error('audit head missing');
      if (!timingSafeEqual(Buffer.from(head.mac), headMac(this.#macKey, head.seq, head.hash))) {
        throw new VaultError('ERR_UNAVAILABLE', 'the audit log head fails its MAC: the log was tampered with', { internal: { alarm: 'audit_tampered' } });
      }
      let prev: Uint8Array = head.hash;
      const rows: AuditRow[] = inputs.map((input, i) => {
        const row = this.#row(input, head.seq + 1 + i);
        const hash = chainHash(prev, canonicalEvent(row));
        const full = { ...row, prev_hash: Buffer.from(prev), hash };
        prev = hash;
        return full;
      });
      const last = rows.at(-1);
      if (!last) return [];
      await insertAuditEvents(trx, rows, { seq: last.seq, hash: last.hash, mac: headMac(this.#macKey, last.seq, last.hash) });
      return rows.map((r) => ({ seq: r.seq, eventId: r.event_id }));
    } catch (err) {
      if (err instanceof VaultError) throw err;
      throw unavailable(err);
    }
  }

  #row(input: AuditEventInput, seq: number): Omit<AuditRow, 'prev_hash' | 'hash'> {
    return {
      seq,
      event_id: randomUUID(),
      occurred_at: new Date(),
      action: input.action,
      decision: input.decision,
      severity: input.severity ?? 'info',
      actor: input.actor?.sub ?? null,
      actor_roles: [...(input.actor?.roles ?? [])],
      teams: [...(input.actor?.teams ?? [])],
      purpose: input.actor?.purpose ?? null,
      employee_ref: input.employeeId === undefined ? null : this.employeeRef(input.employeeId),
      policy_revision: input.policyRevision ?? null,
      record_count: input.recordCount ?? null,
      decision_id: input.decisionId ?? null,
      details: canonicalJson(input.details ?? {}),
    };
  }

  /** Appends in a transaction of its own (events with no other write, such as a refused token). */
  appendAlone(input: AuditEventInput): Promise<{ seq: number; eventId: string }> {
    return inTransaction(this.#database, (trx) => this.append(trx, input)).then(
      (appended) => {
        // Committed: the HTTP adapter must not audit the refusal that follows a second time.
        if (input.decision === 'deny') noteDurableDeny();
        return appended;
      },
      (err: unknown) => {
        throw err instanceof VaultError ? err : unavailable(err);
      },
    );
  }

  /**
   * Runs `work` and appends the event describing its result in one transaction, the append last:
   * if the event cannot be written, the work rolls back and its result is never returned.
   */
  async runAudited<T>(work: (trx: Db) => Promise<T>, eventOf: (result: T) => AuditEventInput): Promise<T> {
    let worked = false;
    try {
      return await inTransaction(this.#database, async (trx) => {
        const result = await work(trx);
        worked = true;
        await this.append(trx, eventOf(result));
        return result;
      });
    } catch (err) {
      // Past the work only the append or the commit can fail; either way the event is not on the log.
      throw worked && !(err instanceof VaultError) ? unavailable(err) : err;
    }
  }

  /** True when the head can be read and its MAC holds: appends can proceed. */
  async headIsIntact(): Promise<boolean> {
    try {
      const head = await readAuditHead(this.#database.db);
      return Boolean(head && timingSafeEqual(Buffer.from(head.mac), headMac(this.#macKey, head.seq, head.hash)));
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
    // Read before the walk: every checkpoint witnessed by then covers events the walk will reach.
    const witnessed = (await this.#witness?.entries()) ?? [];
    const witnessedHashes = new Map(witnessed.map((cp) => [cp.seq, undefined as string | undefined]));
    let prev: Uint8Array = GENESIS_HASH;
    let expected = 1;
    const broken = (at: number, reason: string): VerifyResult => ({ ok: false, checked: expected - 1, broken_at: at, reason });
    for (;;) {
      const page = await auditEventsAfter(db, expected - 1, VERIFY_PAGE);
      for (const row of page) {
        if (row.seq !== expected) return broken(expected, 'event missing or out of order');
        if (!Buffer.from(row.prev_hash).equals(Buffer.from(prev))) return broken(row.seq, 'previous hash does not match');
        if (!chainHash(prev, canonicalEvent(row)).equals(Buffer.from(row.hash))) return broken(row.seq, 'event was altered');
        if (witnessedHashes.has(row.seq)) witnessedHashes.set(row.seq, hex(row.hash));
        prev = row.hash;
        expected++;
      }
      if (page.length < VERIFY_PAGE) break;
    }
    const last = expected - 1;
    const head = await readAuditHead(db);
    if (!head || !timingSafeEqual(Buffer.from(head.mac), headMac(this.#macKey, head.seq, head.hash))) return broken(head?.seq ?? last, 'log head fails its MAC');
    if (head.seq > last) return broken(last + 1, 'newest events were deleted');
    if (head.seq < last || !Buffer.from(head.hash).equals(Buffer.from(prev))) return broken(head.seq + 1, 'events were added behind the log head');
    const stored = await listCheckpoints(db, this.#witness ? Number.MAX_SAFE_INTEGER : SIGNATURES_CHECKED);
    for (const cp of stored.slice(0, SIGNATURES_CHECKED)) {
      const statement = checkpointStatement(cp.seq, hex(cp.hash), cp.signed_at.toISOString(), cp.key_id);
      if (cp.key_id !== this.keyId || !verify(null, statement, this.publicKey, cp.signature)) return broken(cp.seq, 'checkpoint signature is invalid');
      if (cp.seq > last) return broken(last + 1, 'events covered by a signed checkpoint are missing');
      const [row] = await auditEventsAfter(db, cp.seq - 1, 1);
      if (!row || !Buffer.from(row.hash).equals(Buffer.from(cp.hash))) return broken(cp.seq, 'event differs from its signed checkpoint');
    }
    const storedHashes = new Map(stored.map((cp) => [cp.seq, hex(cp.hash)]));
    const breach = findWitnessBreach(witnessed, { end: last, eventHash: (seq) => witnessedHashes.get(seq), checkpointHash: (seq) => storedHashes.get(seq) }, (cp) => this.#signedHere(cp));
    if (breach) {
      this.#mismatchFound(breach);
      return broken(breach.at, breach.reason);
    }
    return { ok: true, checked: last };
  }

  #signedHere(cp: Checkpoint): boolean {
    const statement = checkpointStatement(cp.seq, cp.hash, cp.signed_at, cp.key_id);
    return cp.key_id === this.keyId && verify(null, statement, this.publicKey, Buffer.from(cp.signature, 'base64'));
  }

  #mismatchFound(breach: WitnessBreach): void {
    if (!this.#witnessMismatch) this.#log({ alarm: 'audit_witness_mismatch', at: breach.at, reason: breach.reason }, 'the audit log disagrees with its witness');
    this.#witnessMismatch ??= breach;
  }

  /**
   * Compares the witness's newest checkpoint with the database in a few indexed reads: the head
   * must have reached it, the event there must carry its hash, and the database's newest
   * checkpoint must not be behind it. A full comparison is `verify`'s.
   */
  async #compareWithWitness(readWitness = false): Promise<void> {
    if (!this.#witness) return;
    if (readWitness) {
      try {
        this.#witnessed = await this.#witness.newest();
      } catch (err) {
        this.#mismatchFound({ at: 0, reason: 'the audit witness cannot be read' });
        throw err;
      }
    }
    const newest = this.#witnessed;
    if (!newest || this.#witnessMismatch) return;
    const { db } = this.#database;
    const head = await readAuditHead(db);
    const [event] = await auditEventsAfter(db, newest.seq - 1, 1);
    const [stored] = await listCheckpoints(db, 1);
    const breach = findWitnessBreach(
      [newest],
      {
        end: head?.seq ?? 0,
        eventHash: (seq) => (event?.seq === seq ? hex(event.hash) : undefined),
        // A newer stored checkpoint stands in for the one at `seq`: looking that one up is verify's job.
        checkpointHash: (seq) => (stored && stored.seq > seq ? newest.hash : stored?.seq === seq ? hex(stored.hash) : undefined),
      },
      (cp) => this.#signedHere(cp),
    );
    if (breach) this.#mismatchFound(breach);
  }

  /**
   * For the readiness probe, in one read of the head: not ready once the witness could not be
   * written or the database was seen to disagree with it (at start, at a checkpoint, in a verify),
   * or when the head is now behind the newest witnessed checkpoint (a rewind).
   */
  async witnessStatus(): Promise<WitnessStatus> {
    if (!this.#witness) return { ok: true };
    if (this.#witnessMismatch) return { ok: false, reason: 'the audit log disagrees with its witness' };
    if (this.#witnessWriteFailed) return { ok: false, reason: 'the audit witness cannot be written' };
    const newest = this.#witnessed;
    if (!newest) return { ok: true };
    const head = await readAuditHead(this.#database.db).catch(() => undefined);
    if (!head) return { ok: false, reason: 'the audit log head cannot be read' };
    if (head.seq < newest.seq) {
      this.#mismatchFound({ at: head.seq + 1, reason: 'the log was rewound: events covered by a witnessed checkpoint are missing' });
      return { ok: false, reason: 'the audit log disagrees with its witness' };
    }
    return { ok: true };
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
    await this.#compareWithWitness();
    if (this.#witnessMismatch) {
      throw new VaultError('ERR_UNAVAILABLE', 'the audit log disagrees with its witness; no checkpoint is signed', { internal: { alarm: 'audit_witness_mismatch', ...this.#witnessMismatch } });
    }
    const checkpoint = eventOf ? await this.runAudited((trx) => this.#storeCheckpoint(trx), eventOf) : await this.#storeCheckpoint(this.#database.db);
    if (checkpoint) await this.#witnessCheckpoint(checkpoint);
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

  async #witnessCheckpoint(checkpoint: Checkpoint): Promise<void> {
    if (!this.#witness || (this.#witnessed && this.#witnessed.seq >= checkpoint.seq)) return;
    try {
      await this.#witness.append(checkpoint);
    } catch (err) {
      this.#witnessWriteFailed = true;
      this.#log({ alarm: 'audit_witness_unavailable', seq: checkpoint.seq, error: ((err as Error).cause as Error | undefined)?.message ?? (err as Error).message }, 'audit checkpoint not witnessed');
      throw err;
    }
    this.#witnessed = checkpoint;
    this.#witnessWriteFailed = false;
  }

  /** Newest first. */
  async checkpoints(limit = 100, db: Db = this.#database.db): Promise<Checkpoint[]> {
    return (await listCheckpoints(db, limit)).map((cp) => ({
      seq: cp.seq,
      hash: Buffer.from(cp.hash).toString('hex'),
      signed_at: cp.signed_at.toISOString(),
      key_id: cp.key_id,
      signature: Buffer.from(cp.signature).toString('base64'),
    }));
  }

  /** Research teams named by any audited actor since `since`. */
  teamsSeenSince(since: Date): Promise<string[]> {
    return teamsInAuditSince(this.#database.db, since);
  }

  /** Per decision id, the allowed `dataset.stream` pages it served: count, records, first and last. */
  async streamSummaries(decisionIds: readonly string[]): Promise<Map<string, StreamSummary>> {
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

  /** Newest first, keyset-paged: `next_cursor` continues where the page ended. */
  async query(q: AuditQuery, db: Db = this.#database.db): Promise<AuditPage> {
    const limit = Math.min(Math.max(q.limit ?? 100, 1), MAX_QUERY_LIMIT);
    let beforeSeq: number | undefined;
    if (q.cursor !== undefined) {
      beforeSeq = Number(Buffer.from(q.cursor, 'base64url').toString().replace(/^seq:/, ''));
      if (!Number.isSafeInteger(beforeSeq) || beforeSeq < 1) throw new VaultError('ERR_INVALID_REQUEST', 'cursor is not one this log issued');
    }
    const rows = await queryAuditEvents(db, {
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
    const next = rows.length > limit ? Buffer.from(`seq:${page.at(-1)!.seq}`).toString('base64url') : null;
    return { events: page.map(viewOf), next_cursor: next };
  }
}

function hex(bytes: Uint8Array): string {
  return Buffer.from(bytes).toString('hex');
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
    hash: Buffer.from(row.hash).toString('hex'),
  };
}
