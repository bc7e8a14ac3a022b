import { sql } from 'kysely';
import type { Db, VaultDatabase } from './database.js';

/** Identifies the retention job's advisory lock (one instance at a time runs it). */
const RETENTION_LOCK = 'activity-vault/retention';

/**
 * Runs `work` while this instance holds the retention lock: a session-level advisory lock on a
 * connection of its own, kept until `work` ends (`work` uses the pool as usual). Resolves
 * undefined at once when another instance holds it. The embedded store has one session and one
 * process, so there the caller's own serialisation is the lock.
 */
export async function withRetentionLock<T>(database: VaultDatabase, work: () => Promise<T>): Promise<T | undefined> {
  if (database.kind === 'embedded') return work();
  return database.db.connection().execute(async (conn) => {
    const got = await sql<{ ok: boolean }>`select pg_try_advisory_lock(hashtext(${RETENTION_LOCK})) as ok`.execute(conn);
    if (!got.rows[0]!.ok) return undefined;
    try {
      return await work();
    } finally {
      await sql`select pg_advisory_unlock(hashtext(${RETENTION_LOCK}))`.execute(conn);
    }
  });
}

/** The record partitions as `YYYY-MM`, oldest first. */
export async function recordPartitions(db: Db): Promise<string[]> {
  const rows = await sql<{ name: string }>`
    select c.relname as name from pg_inherits i join pg_class c on c.oid = i.inhrelid
     where i.inhparent = 'activity_records'::regclass order by 1`.execute(db);
  return rows.rows.map((r) => r.name.replace(/^activity_records_(\d{4})_(\d{2})$/, '$1-$2')).filter((m) => /^\d{4}-\d{2}$/.test(m));
}

/**
 * Drops a whole month partition: its rows are first taken off the record tallies, then the
 * partition is detached and dropped. Waits at most 200 ms for the parent's lock (a long read holds
 * it, and ingest and export queue behind the wait); returns the rows dropped, or undefined when the
 * lock was not had (the next run retries).
 */
export async function dropRecordPartition(trx: Db, month: string): Promise<number | undefined> {
  const name = `activity_records_${month.replace('-', '_')}`;
  if (!/^activity_records_\d{4}_\d{2}$/.test(name)) throw new TypeError(`not a month: ${month}`);
  const table = sql.table(name);
  await sql`set local lock_timeout = '200ms'`.execute(trx);
  try {
    const tallied = await sql<{ n: number }>`
      with counted as (select employee_id, dek_version, count(*) as n from ${table} group by 1, 2),
           ins as (insert into record_tallies (employee_id, dek_version, records) select employee_id, dek_version, -n from counted returning records)
      select coalesce(sum(-records), 0)::float8 as n from ins`.execute(trx);
    await sql`alter table activity_records detach partition ${table}`.execute(trx);
    await sql`drop table ${table}`.execute(trx);
    return tallied.rows[0]!.n;
  } catch (err) {
    if ((err as { code?: string }).code === '55P03') return undefined;
    throw err;
  }
}

/** Deletes a kind's records captured after `after` (when given) and at or before `cutoff`; returns how many. */
export async function deleteExpiredRecords(trx: Db, kind: string, after: Date | undefined, cutoff: Date): Promise<number> {
  const from = after ? sql`and captured_at > ${after}` : sql``;
  const deleted = await sql<{ n: number }>`
    with d as (delete from activity_records where kind = ${kind} and captured_at <= ${cutoff} ${from} returning employee_id, dek_version),
         ins as (insert into record_tallies (employee_id, dek_version, records) select employee_id, dek_version, -count(*) from d group by 1, 2 returning records)
    select coalesce(sum(-records), 0)::float8 as n from ins`.execute(trx);
  return deleted.rows[0]!.n;
}

export async function retentionWatermarks(db: Db): Promise<Map<string, Date>> {
  const rows = await db.selectFrom('retention_watermarks').select(['kind', 'done_through']).execute();
  return new Map(rows.map((r) => [r.kind, r.done_through]));
}

export async function setRetentionWatermark(trx: Db, kind: string, doneThrough: Date): Promise<void> {
  await trx
    .insertInto('retention_watermarks')
    .values({ kind, done_through: doneThrough })
    .onConflict((oc) => oc.column('kind').doUpdateSet({ done_through: doneThrough }))
    .execute();
}

/** Destroys keys from before month keys that no stored record uses any more; returns how many. */
export async function destroyUnusedLegacyKeys(trx: Db): Promise<number> {
  const rows = await sql`
    update employee_data_keys k set wrapped_key = null, destroyed_at = now()
     where k.key_month is null and k.wrapped_key is not null
       and not exists (select 1 from activity_records r where r.employee_id = k.employee_id and r.dek_version = k.dek_version)`.execute(trx);
  return Number(rows.numAffectedRows ?? 0);
}

/**
 * Folds the tallies of each key that has more than one row into one, and drops those of destroyed
 * keys. Only those rows are rewritten: a quiet minute costs one scan of the table, not a rewrite.
 */
export async function compactRecordTallies(trx: Db): Promise<void> {
  await sql`
    with todo as (
      select t.employee_id, t.dek_version from record_tallies t
        left join employee_data_keys k on k.employee_id = t.employee_id and k.dek_version = t.dek_version
       group by 1, 2 having count(*) > 1 or bool_or(k.wrapped_key is null)),
    gone as (
      delete from record_tallies t using todo
       where t.employee_id = todo.employee_id and t.dek_version = todo.dek_version
      returning t.employee_id, t.dek_version, t.records)
    insert into record_tallies (employee_id, dek_version, records)
    select g.employee_id, g.dek_version, sum(g.records) from gone g
      join employee_data_keys k on k.employee_id = g.employee_id and k.dek_version = g.dek_version and k.wrapped_key is not null
     group by 1, 2 having sum(g.records) <> 0`.execute(trx);
}
