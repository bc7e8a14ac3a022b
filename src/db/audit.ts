import { sql } from 'kysely';
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

const EVENT_COLUMNS = sql.raw(
  'seq::int8::float8 as seq, event_id, occurred_at, action, decision, severity, actor, actor_roles, teams, purpose, employee_ref, policy_revision, record_count::float8 as record_count, decision_id, details, prev_hash, hash',
);

export async function findSecret(db: Db, name: string): Promise<Uint8Array | undefined> {
  const rows = await sql<{ wrapped: Uint8Array }>`select wrapped from vault_secrets where name = ${name}`.execute(db);
  return rows.rows[0]?.wrapped;
}

/** Stores a wrapped secret unless another instance stored one first; returns the one that won. */
export async function storeSecretOnce(db: Db, name: string, kekId: string, wrapped: Uint8Array): Promise<Uint8Array> {
  await sql`insert into vault_secrets (name, kek_id, wrapped) values (${name}, ${kekId}, ${wrapped}) on conflict (name) do nothing`.execute(db);
  return (await findSecret(db, name))!;
}

export async function initAuditHead(db: Db, head: AuditHead): Promise<void> {
  await sql`insert into audit_head (singleton, seq, hash, mac) values (true, ${head.seq}, ${head.hash}, ${head.mac}) on conflict do nothing`.execute(db);
}

/** The head, locked until the transaction ends: every append in the vault queues here. */
export async function lockAuditHead(db: Db): Promise<AuditHead | undefined> {
  const rows = await sql<AuditHead>`select seq::int8::float8 as seq, hash, mac from audit_head where singleton for update`.execute(db);
  return rows.rows[0];
}

export async function readAuditHead(db: Db): Promise<AuditHead | undefined> {
  const rows = await sql<AuditHead>`select seq::int8::float8 as seq, hash, mac from audit_head where singleton`.execute(db);
  return rows.rows[0];
}

/** Many events in one statement per 1,000 (bulk appends under one head lock). */
export async function insertAuditEvents(db: Db, rows: readonly AuditRow[], head: AuditHead): Promise<void> {
  for (let i = 0; i < rows.length; i += 1000) {
    const values = rows.slice(i, i + 1000).map(
      (row) => sql`(${row.seq}, ${row.event_id}, ${row.occurred_at}, ${row.action}, ${row.decision}, ${row.severity}, ${row.actor},
        ${row.actor_roles}, ${row.teams}, ${row.purpose}, ${row.employee_ref}, ${row.policy_revision}, ${row.record_count},
        ${row.decision_id}, ${row.details}, ${row.prev_hash}, ${row.hash})`,
    );
    await sql`insert into audit_events (seq, event_id, occurred_at, action, decision, severity, actor, actor_roles, teams, purpose,
        employee_ref, policy_revision, record_count, decision_id, details, prev_hash, hash) values ${sql.join(values)}`.execute(db);
  }
  await sql`update audit_head set seq = ${head.seq}, hash = ${head.hash}, mac = ${head.mac} where singleton`.execute(db);
}

/** Events in chain order after `afterSeq`, a page at a time (for verification). */
export async function auditEventsAfter(db: Db, afterSeq: number, limit: number): Promise<AuditRow[]> {
  const rows = await sql<AuditRow>`select ${EVENT_COLUMNS} from audit_events where seq > ${afterSeq} order by seq limit ${limit}`.execute(db);
  return rows.rows;
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
  const where = [sql`true`];
  if (f.actor !== undefined) where.push(sql`actor = ${f.actor}`);
  if (f.team !== undefined) where.push(sql`teams @> array[${f.team}]::text[]`);
  if (f.employeeRef !== undefined) where.push(sql`employee_ref = ${f.employeeRef}`);
  if (f.action !== undefined) where.push(sql`action = ${f.action}`);
  if (f.decision !== undefined) where.push(sql`decision = ${f.decision}`);
  if (f.from !== undefined) where.push(sql`occurred_at >= ${f.from}`);
  if (f.to !== undefined) where.push(sql`occurred_at < ${f.to}`);
  if (f.beforeSeq !== undefined) where.push(sql`seq < ${f.beforeSeq}`);
  const rows = await sql<AuditRow>`select ${EVENT_COLUMNS} from audit_events where ${sql.join(where, sql` and `)} order by seq desc limit ${f.limit}`.execute(db);
  return rows.rows;
}

export interface CheckpointRow {
  readonly seq: number;
  readonly hash: Uint8Array;
  readonly signed_at: Date;
  readonly key_id: string;
  readonly signature: Uint8Array;
}

export async function insertCheckpoint(db: Db, row: CheckpointRow): Promise<void> {
  await sql`insert into audit_checkpoints (seq, hash, signed_at, key_id, signature)
    values (${row.seq}, ${row.hash}, ${row.signed_at}, ${row.key_id}, ${row.signature}) on conflict (seq) do nothing`.execute(db);
}

export async function listCheckpoints(db: Db, limit: number): Promise<CheckpointRow[]> {
  const rows = await sql<CheckpointRow>`select seq::int8::float8 as seq, hash, signed_at, key_id, signature from audit_checkpoints order by seq desc limit ${limit}`.execute(db);
  return rows.rows;
}

/** Events recorded under any of `decisionIds` (a dataset's decision and its stream pages), oldest first. */
export async function auditEventsForDecisions(db: Db, decisionIds: readonly string[]): Promise<AuditRow[]> {
  if (decisionIds.length === 0) return [];
  const rows = await sql<AuditRow>`select ${EVENT_COLUMNS} from audit_events where decision_id = any(${[...decisionIds]}::uuid[]) order by seq`.execute(db);
  return rows.rows;
}

/** Research teams named by any audited actor since `since`. */
export async function teamsInAuditSince(db: Db, since: Date): Promise<string[]> {
  const rows = await sql<{ team: string }>`select distinct unnest(teams) as team from audit_events where occurred_at >= ${since} order by 1`.execute(db);
  return rows.rows.map((r) => r.team);
}
