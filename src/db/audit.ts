import { sql } from 'kysely';
import { anyOf } from './any-of.js';
import type { Db } from './database.js';

export interface AuditRow {
  readonly seq: number;
  readonly event_id: string;
  readonly occurred_at: Date;
  readonly action: string;
  readonly decision: string;
  readonly severity: string;
  readonly actor: string | null;
  readonly actor_roles: string[];
  readonly teams: string[];
  readonly purpose: string | null;
  readonly employee_ref: string | null;
  readonly policy_revision: string | null;
  readonly record_count: number | null;
  readonly decision_id: string | null;
  readonly details: string;
  readonly prev_hash: Uint8Array;
  readonly hash: Uint8Array;
}

export interface AuditHead {
  readonly seq: number;
  readonly hash: Uint8Array;
  readonly mac: Uint8Array;
}

// Sequence numbers and counts are read as float8, so they are numbers on both stores (pg returns int8
// as a string). Orderings name the table's column, not the float8 alias, so they walk the primary key.
function selectEvents(db: Db) {
  return db.selectFrom('audit_events').select((eb) => [
    eb.cast<number>('seq', 'float8').as('seq'),
    'event_id',
    'occurred_at',
    'action',
    'decision',
    'severity',
    'actor',
    'actor_roles',
    'teams',
    'purpose',
    'employee_ref',
    'policy_revision',
    eb.cast<number | null>('record_count', 'float8').as('record_count'),
    'decision_id',
    'details',
    'prev_hash',
    'hash',
  ]);
}

function selectHead(db: Db) {
  return db
    .selectFrom('audit_head')
    .select((eb) => [eb.cast<number>('seq', 'float8').as('seq'), 'hash', 'mac'])
    .where('singleton', '=', true);
}

export async function findSecret(db: Db, name: string): Promise<Uint8Array | undefined> {
  const row = await db.selectFrom('vault_secrets').select('wrapped').where('name', '=', name).executeTakeFirst();
  return row?.wrapped;
}

/** Stores a wrapped secret unless another instance stored one first; returns the one that won. */
export async function storeSecretOnce(db: Db, name: string, kekId: string, wrapped: Uint8Array): Promise<Uint8Array> {
  await db
    .insertInto('vault_secrets')
    .values({ name, kek_id: kekId, wrapped })
    .onConflict((oc) => oc.column('name').doNothing())
    .execute();
  return (await findSecret(db, name))!;
}

export async function initAuditHead(db: Db, head: AuditHead): Promise<void> {
  await db
    .insertInto('audit_head')
    .values({ singleton: true, seq: head.seq, hash: head.hash, mac: head.mac })
    .onConflict((oc) => oc.doNothing())
    .execute();
}

/** The head, locked until the transaction ends: every append in the vault queues here. */
export async function lockAuditHead(db: Db): Promise<AuditHead | undefined> {
  return selectHead(db).forUpdate().executeTakeFirst();
}

export async function readAuditHead(db: Db): Promise<AuditHead | undefined> {
  return selectHead(db).executeTakeFirst();
}

/** Many events in one statement per 1,000 (bulk appends under one head lock). */
export async function insertAuditEvents(db: Db, rows: readonly AuditRow[], head: AuditHead): Promise<void> {
  for (let i = 0; i < rows.length; i += 1000) {
    await db
      .insertInto('audit_events')
      // An AuditRow is exactly the table's columns.
      .values(rows.slice(i, i + 1000))
      .execute();
  }
  await db.updateTable('audit_head').set({ seq: head.seq, hash: head.hash, mac: head.mac }).where('singleton', '=', true).execute();
}

/** Events in chain order after `afterSeq`, a page at a time (for verification). */
export async function auditEventsAfter(db: Db, afterSeq: number, limit: number): Promise<AuditRow[]> {
  return selectEvents(db).where('seq', '>', afterSeq).orderBy('audit_events.seq').limit(limit).execute();
}

export interface AuditFilter {
  readonly actor?: string | undefined;
  readonly team?: string | undefined;
  readonly employeeRef?: string | undefined;
  readonly action?: string | undefined;
  readonly decision?: string | undefined;
  readonly from?: Date | undefined;
  readonly to?: Date | undefined;
  /** Only events older (smaller seq) than this: the keyset cursor. */
  readonly beforeSeq?: number | undefined;
  readonly limit: number;
}

/** Newest first. */
export async function queryAuditEvents(db: Db, f: AuditFilter): Promise<AuditRow[]> {
  let query = selectEvents(db);
  if (f.actor !== undefined) query = query.where('actor', '=', f.actor);
  if (f.team !== undefined) query = query.where('teams', '@>', sql<string[]>`array[${f.team}]::text[]`);
  if (f.employeeRef !== undefined) query = query.where('employee_ref', '=', f.employeeRef);
  if (f.action !== undefined) query = query.where('action', '=', f.action);
  if (f.decision !== undefined) query = query.where('decision', '=', f.decision);
  if (f.from !== undefined) query = query.where('occurred_at', '>=', f.from);
  if (f.to !== undefined) query = query.where('occurred_at', '<', f.to);
  if (f.beforeSeq !== undefined) query = query.where('seq', '<', f.beforeSeq);
  return query.orderBy('audit_events.seq', 'desc').limit(f.limit).execute();
}

export interface CheckpointRow {
  readonly seq: number;
  readonly hash: Uint8Array;
  readonly signed_at: Date;
  readonly key_id: string;
  readonly signature: Uint8Array;
}

export async function insertCheckpoint(db: Db, row: CheckpointRow): Promise<void> {
  await db
    .insertInto('audit_checkpoints')
    .values({ seq: row.seq, hash: row.hash, signed_at: row.signed_at, key_id: row.key_id, signature: row.signature })
    .onConflict((oc) => oc.column('seq').doNothing())
    .execute();
}

export async function listCheckpoints(db: Db, limit: number): Promise<CheckpointRow[]> {
  return db
    .selectFrom('audit_checkpoints')
    .select((eb) => [eb.cast<number>('seq', 'float8').as('seq'), 'hash', 'signed_at', 'key_id', 'signature'])
    .orderBy('audit_checkpoints.seq', 'desc')
    .limit(limit)
    .execute();
}

/** Events recorded under any of `decisionIds` (a dataset's decision and its stream pages), oldest first. */
export async function auditEventsForDecisions(db: Db, decisionIds: readonly string[]): Promise<AuditRow[]> {
  if (decisionIds.length === 0) return [];
  return selectEvents(db).where('decision_id', '=', anyOf(decisionIds, 'uuid')).orderBy('audit_events.seq').execute();
}

/** Research teams named by any audited actor since `since`. */
export async function teamsInAuditSince(db: Db, since: Date): Promise<string[]> {
  const rows = await db
    .selectFrom('audit_events')
    .select((eb) => eb.fn<string>('unnest', ['teams']).as('team'))
    .distinct()
    .where('occurred_at', '>=', since)
    .orderBy('team')
    .execute();
  return rows.map((r) => r.team);
}
