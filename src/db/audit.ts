import { sql, type ExpressionBuilder } from 'kysely';
import { anyOf } from './any-of.js';
import type { Db } from './database.js';
import type { VaultSchema } from './schema.js';

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

/** One stored vault secret, any: opening it proves the KEK in hand is the store's. */
export async function anyVaultSecret(db: Db): Promise<{ name: string; wrapped: Uint8Array } | undefined> {
  return db.selectFrom('vault_secrets').select(['name', 'wrapped']).orderBy('name').limit(1).executeTakeFirst();
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

/** What wraps a vault secret under the KEK (the key ring). */
export interface SecretSealer {
  wrapVaultSecret(name: string, secret: Uint8Array): Promise<{ wrapped: Uint8Array; kekId: string }>;
  unwrapVaultSecret(name: string, wrapped: Uint8Array): Promise<Buffer>;
}

/** The vault secret `name`, unwrapped; created with `fresh()` once for all instances when none is stored. */
export async function loadOrCreateSecret(db: Db, sealer: SecretSealer, name: string, fresh: () => Buffer): Promise<Buffer> {
  const stored = await findSecret(db, name);
  if (stored) return sealer.unwrapVaultSecret(name, stored);
  const { wrapped, kekId } = await sealer.wrapVaultSecret(name, fresh());
  return sealer.unwrapVaultSecret(name, await storeSecretOnce(db, name, kekId, wrapped));
}

export async function initAuditHead(db: Db, head: AuditHead): Promise<void> {
  await db
    .insertInto('audit_head')
    .values({ singleton: true, seq: head.seq, hash: head.hash, mac: head.mac })
    .onConflict((oc) => oc.doNothing())
    .execute();
}

/** The head, locked until the transaction ends: one sequencer pass at a time, across instances. */
export async function lockAuditHead(db: Db): Promise<AuditHead | undefined> {
  return selectHead(db).forUpdate().executeTakeFirst();
}

export async function readAuditHead(db: Db): Promise<AuditHead | undefined> {
  return selectHead(db).executeTakeFirst();
}

/** An event as an append writes it: before the sequencer gives it a place in the chain. */
export type QueuedAuditRow = Omit<AuditRow, 'seq' | 'prev_hash' | 'hash'> & { readonly mac: Uint8Array };

/** A queued event as the sequencer and verify read it back. */
export type QueuedAuditEvent = QueuedAuditRow & { readonly queue_id: number };

const INSERT_BATCH = 1000;

/** Writes events into the queue in `db`'s transaction; no lock is taken. */
export async function enqueueAuditEvents(db: Db, rows: readonly QueuedAuditRow[]): Promise<void> {
  for (let i = 0; i < rows.length; i += INSERT_BATCH) {
    await db
      .insertInto('audit_queue')
      .values(rows.slice(i, i + INSERT_BATCH))
      .execute();
  }
}

/** The oldest queued events (after `afterQueueId`), in the order they were queued. */
export async function oldestQueuedAuditEvents(db: Db, limit: number, afterQueueId = 0): Promise<QueuedAuditEvent[]> {
  return db
    .selectFrom('audit_queue')
    .select((eb) => [
      eb.cast<number>('queue_id', 'float8').as('queue_id'),
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
      'mac',
    ])
    .where(sql<boolean>`queue_id > ${afterQueueId}`)
    .orderBy('audit_queue.queue_id')
    .limit(limit)
    .execute();
}

/** Queued events whose event id is already in the chain: a replayed copy, never chained twice. */
export async function queuedEventsAlreadyChained(db: Db, eventIds: readonly string[]): Promise<string[]> {
  if (eventIds.length === 0) return [];
  const rows = await db.selectFrom('audit_events').select('event_id').where('event_id', '=', anyOf(eventIds, 'uuid')).execute();
  return rows.map((r) => r.event_id);
}

export async function auditQueueIsEmpty(db: Db): Promise<boolean> {
  return (await db.selectFrom('audit_queue').select('queue_id').limit(1).executeTakeFirst()) === undefined;
}

/**
 * Moves queued events into the chain in `trx`, which holds the head's lock: inserts `rows`
 * (their hashes computed), deletes the queue rows they came from and moves the head.
 */
export async function chainQueuedAuditEvents(trx: Db, rows: readonly AuditRow[], queueIds: readonly number[], head: AuditHead): Promise<void> {
  for (let i = 0; i < rows.length; i += INSERT_BATCH) {
    await trx
      .insertInto('audit_events')
      // An AuditRow is exactly the table's columns.
      .values(rows.slice(i, i + INSERT_BATCH))
      .execute();
  }
  await sql`delete from audit_queue where queue_id = any(${queueIds.map(String)}::bigint[])`.execute(trx);
  await trx.updateTable('audit_head').set({ seq: head.seq, hash: head.hash, mac: head.mac }).where('singleton', '=', true).execute();
}

/** Events in chain order after `afterSeq`, a page at a time (for verification). */
export async function auditEventsAfter(db: Db, afterSeq: number, limit: number): Promise<AuditRow[]> {
  return selectEvents(db).where('seq', '>', afterSeq).orderBy('audit_events.seq').limit(limit).execute();
}

/** Where a walk of the chain found it broken: the first event, in sequence order, failing a check. */
export interface ChainBreak {
  readonly seq: number;
  /** The sequence number this position should hold. */
  readonly expected: number;
  /** Its `prev_hash` equals the previous event's `hash`. */
  readonly linked: boolean;
  /** Its `hash` equals SHA-256(prev_hash || canonical event). */
  readonly intact: boolean;
}

export interface ChainWalk {
  readonly walked: number;
  readonly last: { readonly seq: number; readonly hash: Uint8Array } | undefined;
  readonly broken: ChainBreak | undefined;
}

const json = (column: string) => `pg_catalog.to_json(${column})::text`;
const jsonOrNull = (column: string) => `coalesce(${json(column)}, 'null')`;
// The canonical event of src/audit/chain.ts, built by the server: to_json escapes text exactly as
// JSON.stringify does (the short escapes, \\u00xx below 0x20, nothing else; text cannot hold a lone
// surrogate), and U+2028/2029 are escaped afterwards as canonical JSON wants. A timestamp with
// microseconds the vault never writes keeps them, so it cannot match the hash either.
const CANONICAL_EVENT = `pg_catalog.replace(pg_catalog.replace('{"action":' || ${json('action')} || ',"actor":' || ${jsonOrNull('actor')}
  || ',"actor_roles":' || pg_catalog.array_to_json(actor_roles)::text || ',"decision":' || ${json('decision')}
  || ',"decision_id":' || ${jsonOrNull('decision_id::text')} || ',"details":' || ${json('details')}
  || ',"employee_ref":' || ${jsonOrNull('employee_ref')} || ',"event_id":"' || event_id::text
  || '","occurred_at":"' || pg_catalog.to_char(occurred_at AT TIME ZONE 'UTC', CASE WHEN pg_catalog.date_part('microseconds', occurred_at)::bigint % 1000 = 0
       THEN 'YYYY-MM-DD"T"HH24:MI:SS.MS"Z"' ELSE 'YYYY-MM-DD"T"HH24:MI:SS.US"Z"' END)
  || '","policy_revision":' || ${jsonOrNull('policy_revision')} || ',"purpose":' || ${jsonOrNull('purpose')}
  || ',"record_count":' || coalesce(record_count::text, 'null') || ',"seq":' || seq::text || ',"severity":' || ${json('severity')}
  || ',"teams":' || pg_catalog.array_to_json(teams)::text || ',"v":1}', pg_catalog.chr(8232), E'\\\\u2028'), pg_catalog.chr(8233), E'\\\\u2029')`;

/**
 * Checks up to `limit` events after `afterSeq` (and up to `untilSeq`) inside the database, which
 * hashes each one: the events hold the next sequence numbers, each links to the previous hash
 * (`prevHash` for the first, or the stored hash of event `afterSeq` when it is not given) and each
 * hash is SHA-256(prev_hash || canonical event). Returns the first that fails.
 */
export async function walkAuditChain(db: Db, afterSeq: number, prevHash: Uint8Array | undefined, limit: number, untilSeq?: number): Promise<ChainWalk> {
  // A missing event `afterSeq` leaves nothing to link to: a value no 32-byte hash equals.
  const previous = prevHash ? sql`${prevHash}::bytea` : sql`coalesce((select hash from audit_events where seq = ${afterSeq}), pg_catalog.decode('00', 'hex'))`;
  const until = untilSeq === undefined ? sql`` : sql`and seq <= ${untilSeq}`;
  const { rows } = await sql<{ walked: number; last_seq: number | null; last_hash: Uint8Array | null; seq: number | null; expected: number | null; linked: boolean | null; intact: boolean | null }>`
    with walk as materialized (
      select seq, ${afterSeq}::bigint + row_number() over (order by seq) as expected,
             prev_hash = coalesce(lag(hash) over (order by seq), ${previous}) as linked,
             pg_catalog.sha256(prev_hash || pg_catalog.convert_to(${sql.raw(CANONICAL_EVENT)}, 'UTF8')) = hash as intact,
             hash
        from audit_events where seq > ${afterSeq} ${until} order by seq limit ${limit}
    )
    select (select count(*) from walk)::float8 as walked,
           last.seq::float8 as last_seq, last.hash as last_hash,
           broken.seq::float8 as seq, broken.expected::float8 as expected, broken.linked, broken.intact
      from (select 1) one
      left join lateral (select seq, hash from walk order by seq desc limit 1) last on true
      left join lateral (select seq, expected, linked, intact from walk where seq <> expected or not linked or not intact order by seq limit 1) broken on true`.execute(db);
  const row = rows[0]!;
  return {
    walked: row.walked,
    last: row.last_seq === null ? undefined : { seq: row.last_seq, hash: row.last_hash! },
    broken: row.seq === null ? undefined : { seq: row.seq, expected: row.expected!, linked: row.linked!, intact: row.intact! },
  };
}

/** The stored hash of each event in `seqs` that exists. */
export async function auditEventHashes(db: Db, seqs: readonly number[]): Promise<Map<number, Uint8Array>> {
  if (seqs.length === 0) return new Map();
  const rows = await db
    .selectFrom('audit_events')
    .select((eb) => [eb.cast<number>('seq', 'float8').as('seq'), 'hash'])
    .where('seq', '=', sql<string>`any(${seqs.map(String)}::bigint[])`)
    .execute();
  return new Map(rows.map((r) => [r.seq, r.hash]));
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

/** A half-open window of time, `[from, to)`. */
export interface AuditWindow {
  readonly from: Date;
  readonly to: Date;
}

export interface DecisionsInHour {
  readonly hour: Date;
  readonly allow: number;
  readonly deny: number;
}

export interface RecordsOfTeamInDay {
  /** `YYYY-MM-DD`, in UTC. */
  readonly day: string;
  readonly team: string;
  readonly records: number;
}

export interface AlarmsInHour {
  readonly hour: Date;
  readonly alarms: number;
}

/** An alarm: a high-severity event that was refused or failed. */
function isAlarm(eb: ExpressionBuilder<VaultSchema, 'audit_events'>) {
  return eb.and([eb('severity', '=', 'high'), eb('decision', 'in', ['deny', 'error'])]);
}

const hourOf = sql<Date>`pg_catalog.date_trunc('hour', occurred_at, 'UTC')`;

/** Allowed and denied decisions per UTC hour of `w`, oldest first; hours with none are left out. */
export async function auditDecisionsPerHour(db: Db, w: AuditWindow): Promise<DecisionsInHour[]> {
  return db
    .selectFrom('audit_events')
    .select([
      hourOf.as('hour'),
      sql<number>`(count(*) filter (where decision = 'allow'))::float8`.as('allow'),
      sql<number>`(count(*) filter (where decision = 'deny'))::float8`.as('deny'),
    ])
    .where('occurred_at', '>=', w.from)
    .where('occurred_at', '<', w.to)
    .where('decision', 'in', ['allow', 'deny'])
    .groupBy(hourOf)
    .orderBy(hourOf)
    .execute();
}

/**
 * Records streamed per research team and UTC day of `w`: the allowed `dataset.stream` pages,
 * counted for each team of the lease they were served under. Oldest day first, then by team.
 */
export async function recordsStreamedPerTeamDay(db: Db, w: AuditWindow): Promise<RecordsOfTeamInDay[]> {
  const day = sql<string>`pg_catalog.to_char(e.occurred_at at time zone 'UTC', 'YYYY-MM-DD')`;
  return db
    .selectFrom('audit_events as e')
    .innerJoin('dataset_leases as l', 'l.decision_id', 'e.decision_id')
        // A function in FROM named `team` yields one column of that name: one row per team of the lease.
    .innerJoin(sql<{ team: string }>`pg_catalog.unnest(l.teams)`.as('team'), (join) => join.onTrue())
    .select([day.as('day'), 'team.team as team', sql<number>`coalesce(sum(e.record_count), 0)::float8`.as('records')])
    .where('e.action', '=', 'dataset.stream')
    .where('e.decision', '=', 'allow')
    .where('e.occurred_at', '>=', w.from)
    .where('e.occurred_at', '<', w.to)
    .groupBy([day, 'team.team'])
    .orderBy(day)
    .orderBy('team.team')
    .execute();
}

/** Alarms per UTC hour of `w`, oldest first; hours with none are left out. */
export async function auditAlarmsPerHour(db: Db, w: AuditWindow): Promise<AlarmsInHour[]> {
  return db
    .selectFrom('audit_events')
    .select([hourOf.as('hour'), sql<number>`count(*)::float8`.as('alarms')])
    .where(isAlarm)
    .where('occurred_at', '>=', w.from)
    .where('occurred_at', '<', w.to)
    .groupBy(hourOf)
    .orderBy(hourOf)
    .execute();
}

export interface AlarmFilter {
  readonly from?: Date | undefined;
  readonly to?: Date | undefined;
  /** Only alarms older (smaller seq) than this: the keyset cursor. */
  readonly beforeSeq?: number | undefined;
  /** Only alarms of these actions (all when undefined). */
  readonly actions?: readonly string[] | undefined;
  readonly limit: number;
}

/** Alarms, newest first. */
export async function queryAuditAlarms(db: Db, f: AlarmFilter): Promise<AuditRow[]> {
  let query = selectEvents(db).where(isAlarm);
  if (f.from !== undefined) query = query.where('occurred_at', '>=', f.from);
  if (f.to !== undefined) query = query.where('occurred_at', '<', f.to);
  if (f.beforeSeq !== undefined) query = query.where('seq', '<', f.beforeSeq);
  if (f.actions !== undefined) query = query.where('action', '=', anyOf(f.actions, 'text'));
  return query.orderBy('audit_events.seq', 'desc').limit(f.limit).execute();
}
