import { sql } from 'kysely';
import { arrayLiteral } from './any-of.js';
import type { Db } from './database.js';

/** Adds, per employee and data-key version, the records a batch wrote (rows are appended, never updated). */
export async function tallyRecords(trx: Db, tallies: ReadonlyArray<{ employeeId: string; dekVersion: number; records: number }>): Promise<void> {
  if (tallies.length === 0) return;
  await sql`insert into record_tallies (employee_id, dek_version, records)
    select * from unnest(${arrayLiteral(tallies.map((t) => t.employeeId))}::text[], ${arrayLiteral(tallies.map((t) => t.dekVersion))}::int[], ${arrayLiteral(tallies.map((t) => t.records))}::int8[])`.execute(trx);
}

/** The records sealed under `versions` of an employee, from the tallies (not a count of the rows). */
export async function talliedRecords(db: Db, employeeId: string, versions: readonly number[]): Promise<number> {
  if (versions.length === 0) return 0;
  const row = await db
    .selectFrom('record_tallies')
    .select(sql<number>`coalesce(sum(records), 0)::float8`.as('n'))
    .where('employee_id', '=', employeeId)
    .where('dek_version', '=', sql<number>`any(${[...versions]}::int[])`)
    .executeTakeFirstOrThrow();
  return row.n;
}

/** The employee's row, locked until the transaction ends (an ingest holding it FOR SHARE finishes first); undefined when unknown. */
export async function lockEmployeeForErasure(trx: Db, employeeId: string): Promise<{ enrolled: boolean } | undefined> {
  return trx.selectFrom('employees').select('enrolled').where('employee_id', '=', employeeId).forUpdate().executeTakeFirst();
}

/** Destroys every live data-key version of the employee and un-enrols them; returns the versions destroyed now. */
export async function destroyEmployeeKeys(trx: Db, employeeId: string): Promise<{ destroyed: number[]; alreadyDestroyed: number[]; at: Date }> {
  const now = await sql<{ now: Date }>`select now()`.execute(trx);
  const at = new Date(now.rows[0]!.now);
  const destroyed = await trx
    .updateTable('employee_data_keys')
    .set({ wrapped_key: null, destroyed_at: at })
    .where('employee_id', '=', employeeId)
    .where('wrapped_key', 'is not', null)
    .returning('dek_version')
    .execute();
  const before = await trx
    .selectFrom('employee_data_keys')
    .select('dek_version')
    .where('employee_id', '=', employeeId)
    .where('destroyed_at', '<', at)
    .execute();
  await trx.updateTable('employees').set({ enrolled: false, updated_at: at }).where('employee_id', '=', employeeId).execute();
  const versions = (rows: Array<{ dek_version: number }>) => rows.map((r) => r.dek_version).sort((a, b) => a - b);
  return { destroyed: versions(destroyed), alreadyDestroyed: versions(before), at };
}

export interface ErasureRow {
  readonly erasureId: string;
  readonly employeeId: string;
  readonly erasedAt: Date;
  readonly erasedBy: string;
  readonly keyVersions: readonly number[];
  readonly recordsUnreadable: number;
}

export async function insertErasure(trx: Db, e: ErasureRow): Promise<void> {
  await trx
    .insertInto('employee_erasures')
    .values({
      erasure_id: e.erasureId,
      employee_id: e.employeeId,
      erased_at: e.erasedAt,
      erased_by: e.erasedBy,
      key_versions: [...e.keyVersions],
      records_unreadable: e.recordsUnreadable,
    })
    .execute();
}

/** Erasures whose rows are not all deleted yet, oldest first. */
export async function pendingErasures(db: Db, limit: number): Promise<ErasureRow[]> {
  const rows = await db
    .selectFrom('employee_erasures')
    .select(['erasure_id', 'employee_id', 'erased_at', 'erased_by', 'key_versions', sql<number>`records_unreadable::float8`.as('records_unreadable')])
    .where('rows_deleted_at', 'is', null)
    .orderBy('erased_at')
    .limit(limit)
    .execute();
  return rows.map((r) => ({
    erasureId: r.erasure_id,
    employeeId: r.employee_id,
    erasedAt: r.erased_at,
    erasedBy: r.erased_by,
    keyVersions: r.key_versions,
    recordsUnreadable: r.records_unreadable,
  }));
}

/** Deletes up to `limit` rows sealed under destroyed `versions` of the employee; returns how many. */
export async function deleteShreddedRecords(db: Db, employeeId: string, versions: readonly number[], limit: number): Promise<number> {
  if (versions.length === 0) return 0;
  const result = await sql`delete from activity_records where (event_id, captured_at) in (
      select event_id, captured_at from activity_records
      where employee_id = ${employeeId} and dek_version = any(${[...versions]}::int[]) limit ${limit})`.execute(db);
  return Number(result.numAffectedRows ?? 0);
}

/** Marks an erasure's rows deleted and drops the tallies of its versions (nothing is sealed under them any more). */
export async function finishErasure(trx: Db, erasure: Pick<ErasureRow, 'erasureId' | 'employeeId' | 'keyVersions'>): Promise<void> {
  await trx.updateTable('employee_erasures').set({ rows_deleted_at: sql<Date>`now()` }).where('erasure_id', '=', erasure.erasureId).execute();
  if (erasure.keyVersions.length > 0) {
    await trx
      .deleteFrom('record_tallies')
      .where('employee_id', '=', erasure.employeeId)
      .where('dek_version', '=', sql<number>`any(${[...erasure.keyVersions]}::int[])`)
      .execute();
  }
}

/** Adds rows deleted by one step of the background deletion. */
export async function countErasureProgress(db: Db, erasureId: string, deleted: number): Promise<void> {
  await db
    .updateTable('employee_erasures')
    .set((eb) => ({ rows_deleted: eb('rows_deleted', '+', deleted) }))
    .where('erasure_id', '=', erasureId)
    .execute();
}

export interface RecordSummaryRow {
  readonly month: string;
  readonly kind: string;
  readonly records: number;
  /** Of them, records no key can open any more (erased, or a destroyed month). */
  readonly unreadable: number;
}

/** An employee's stored records counted per calendar month (UTC) and kind. */
export async function employeeRecordSummary(db: Db, employeeId: string): Promise<RecordSummaryRow[]> {
  const rows = await sql<{ month: string; kind: string; records: number; unreadable: number }>`
    select to_char(r.captured_at at time zone 'UTC', 'YYYY-MM') as month, r.kind,
      count(*)::float8 as records,
      count(*) filter (where k.wrapped_key is null)::float8 as unreadable
    from activity_records r
    left join employee_data_keys k on k.employee_id = r.employee_id and k.dek_version = r.dek_version
    where r.employee_id = ${employeeId}
    group by 1, 2 order by 1, 2`.execute(db);
  return rows.rows;
}

/** The org units an employee's records sit in (records keep the unit they were captured in) and their unit now. */
export async function employeeOrgUnits(db: Db, employeeId: string): Promise<{ current: string; ofRecords: string[] } | undefined> {
  const employee = await db.selectFrom('employees').select('org_unit').where('employee_id', '=', employeeId).executeTakeFirst();
  if (!employee) return undefined;
  const units = await db.selectFrom('activity_records').select('org_unit').distinct().where('employee_id', '=', employeeId).execute();
  return { current: employee.org_unit, ofRecords: units.map((u) => u.org_unit).sort() };
}
