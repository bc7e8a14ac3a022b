import { sql } from 'kysely';
import { anyOf, arrayLiteral } from './any-of.js';
import type { Db } from './database.js';

export interface MonthKeyRow {
  readonly employeeId: string;
  readonly month: string;
  readonly dekVersion: number;
  readonly wrappedKey: Uint8Array;
}

/** The live data keys of these employees for these months. */
export async function liveMonthKeys(db: Db, employeeIds: readonly string[], months: readonly string[]): Promise<MonthKeyRow[]> {
  if (employeeIds.length === 0 || months.length === 0) return [];
  const rows = await db
    .selectFrom('employee_data_keys')
    .select(['employee_id', 'key_month', 'dek_version', 'wrapped_key'])
    .where('employee_id', '=', anyOf(employeeIds, 'text'))
    .where('key_month', '=', anyOf(months, 'text'))
    .where('wrapped_key', 'is not', null)
    .execute();
  return rows.map((r) => ({ employeeId: r.employee_id, month: r.key_month!, dekVersion: r.dek_version, wrappedKey: r.wrapped_key! }));
}

/** The next unused data-key version of each employee (destroyed versions count as used). */
export async function nextDataKeyVersions(db: Db, employeeIds: readonly string[]): Promise<Map<string, number>> {
  const rows = await sql<{ employee_id: string; next: number }>`
    select e.id as employee_id, coalesce(max(k.dek_version), 0) + 1 as next
      from unnest(${arrayLiteral(employeeIds)}::text[]) as e(id) left join employee_data_keys k on k.employee_id = e.id
     group by e.id`.execute(db);
  return new Map(rows.rows.map((r) => [r.employee_id, Number(r.next)]));
}

/**
 * Stores new month keys of enrolled employees for months not expired; run it in a transaction. A key another instance
 * stored first for the same employee and month (or version) wins: this one is simply not stored.
 */
export async function insertMonthKeys(db: Db, keys: ReadonlyArray<MonthKeyRow & { kekId: string }>): Promise<number> {
  if (keys.length === 0) return 0;
  // The enrolled rows, locked until the keys commit: an erasure either waits for them (and destroys
  // them too) or has un-enrolled the employee before, and no key is stored.
  await sql`select employee_id from employees where employee_id = ${anyOf([...new Set(keys.map((k) => k.employeeId))], 'text')} and enrolled for share`.execute(db);
  const result = await sql`
    insert into employee_data_keys (employee_id, dek_version, kek_id, wrapped_key, key_month)
    select k.employee_id, k.dek_version, k.kek_id, k.wrapped_key, k.key_month
      from unnest(${keys.map((k) => k.employeeId)}::text[], ${keys.map((k) => k.dekVersion)}::int[], ${keys.map((k) => k.kekId)}::text[],
                  ${keys.map((k) => Buffer.from(k.wrappedKey))}::bytea[], ${keys.map((k) => k.month)}::text[])
           as k(employee_id, dek_version, kek_id, wrapped_key, key_month)
      join employees e on e.employee_id = k.employee_id and e.enrolled
     where k.key_month >= coalesce((select base from month_ratchet_anchor), '0000-01')
    on conflict do nothing`.execute(db);
  return Number(result.numAffectedRows ?? 0);
}

export async function readRatchetAnchor(db: Db): Promise<{ base: string; check: string } | undefined> {
  const row = await db.selectFrom('month_ratchet_anchor').select(['base', 'check_value']).executeTakeFirst();
  return row && { base: row.base, check: row.check_value };
}

/** Stores the anchor unless one exists; returns the one stored. */
export async function claimRatchetAnchor(db: Db, anchor: { base: string; check: string }): Promise<{ base: string; check: string }> {
  await db.insertInto('month_ratchet_anchor').values({ base: anchor.base, check_value: anchor.check }).onConflict((oc) => oc.doNothing()).execute();
  return (await readRatchetAnchor(db))!;
}

export async function advanceRatchetAnchor(db: Db, anchor: { base: string; check: string }): Promise<void> {
  await db
    .updateTable('month_ratchet_anchor')
    .set({ base: anchor.base, check_value: anchor.check, moved_at: sql<Date>`now()` })
    .where('base', '<', anchor.base)
    .execute();
}

/** Destroys every live data key of a month before `month`; returns how many per month. */
export async function destroyMonthKeysBefore(trx: Db, month: string): Promise<Array<{ employeeId: string; dekVersion: number; month: string }>> {
  const rows = await trx
    .updateTable('employee_data_keys')
    .set({ wrapped_key: null, destroyed_at: sql<Date>`now()` })
    .where('key_month', '<', month)
    .where('wrapped_key', 'is not', null)
    .returning(['employee_id', 'dek_version', 'key_month'])
    .execute();
  return rows.map((r) => ({ employeeId: r.employee_id, dekVersion: r.dek_version, month: r.key_month! }));
}

/** Replaces the anchor `expected` with `next` while no month-keyed data key exists; returns whether it did. */
export async function replaceUnusedRatchetAnchor(db: Db, expected: { base: string; check: string }, next: { base: string; check: string }): Promise<boolean> {
  const result = await sql`
    update month_ratchet_anchor set base = ${next.base}, check_value = ${next.check}, moved_at = now()
     where check_value = ${expected.check}
       and not exists (select 1 from employee_data_keys where key_month is not null)`.execute(db);
  return Number(result.numAffectedRows ?? 0) === 1;
}
