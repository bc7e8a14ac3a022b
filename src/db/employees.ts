import { sql } from 'kysely';
import { anyOf } from './any-of.js';
import type { Db } from './database.js';

export interface EmployeeRow {
  readonly employeeId: string;
  readonly orgUnit: string;
  readonly region: string;
  readonly enrolled: boolean;
}

export interface LiveDataKeyRow {
  readonly employeeId: string;
  readonly dekVersion: number;
  readonly wrappedKey: Uint8Array;
}

export interface EmployeeForIngest {
  readonly orgUnit: string;
  readonly enrolled: boolean;
  /** The newest live data key, or null when the employee's keys were destroyed. */
  readonly key: LiveDataKeyRow | null;
}

/** Inserts or updates roster rows; returns the ids that were new. */
export async function upsertEmployees(db: Db, employees: readonly EmployeeRow[]): Promise<string[]> {
  if (employees.length === 0) return [];
  const rows = await db
    .insertInto('employees')
    .values(employees.map((e) => ({ employee_id: e.employeeId, org_unit: e.orgUnit, region: e.region, enrolled: e.enrolled })))
    .onConflict((oc) =>
      oc.column('employee_id').doUpdateSet((eb) => ({
        org_unit: eb.ref('excluded.org_unit'),
        region: eb.ref('excluded.region'),
        enrolled: eb.ref('excluded.enrolled'),
        updated_at: sql<Date>`now()`,
      })),
    )
    .returning(['employee_id', sql<boolean>`xmax = 0`.as('inserted')])
    .execute();
  return rows.filter((r) => r.inserted).map((r) => r.employee_id);
}

/**
 * Among `employeeIds`, those who need a data key: enrolled, or new to the vault, and without a
 * live one. Each gets the version after the newest it ever had, so a key destroyed by erasure is
 * never replaced under its old version.
 */
export async function employeesNeedingDataKey(db: Db, employeeIds: readonly string[]): Promise<Array<{ employeeId: string; dekVersion: number }>> {
  if (employeeIds.length === 0) return [];
  const rows = await sql<{ employee_id: string; next: number }>`
    select e.employee_id, coalesce(max(k.dek_version), 0) + 1 as next
      from employees e left join employee_data_keys k on k.employee_id = e.employee_id
     where e.employee_id = ${anyOf(employeeIds, 'text')}
     group by e.employee_id, e.enrolled
    having count(k.wrapped_key) = 0 and (e.enrolled or count(k.dek_version) = 0)`.execute(db);
  return rows.rows.map((r) => ({ employeeId: r.employee_id, dekVersion: Number(r.next) }));
}

/**
 * Keeps un-enrolled whoever among `employeeIds` was erased after their last consent: a roster
 * sync that still lists an erased employee as enrolled does not restart their collection. A
 * consent dated after the erasure re-enrols them. Returns the ids held back.
 */
export async function holdBackErased(trx: Db, employeeIds: readonly string[]): Promise<string[]> {
  if (employeeIds.length === 0) return [];
  const rows = await sql<{ employee_id: string }>`
    update employees e set enrolled = false
     where e.employee_id = ${anyOf(employeeIds, 'text')} and e.enrolled
       and exists (select 1 from employee_erasures x
                    where x.employee_id = e.employee_id and x.erased_at >= coalesce(e.consented_at, '-infinity'::timestamptz))
    returning e.employee_id`.execute(trx);
  return rows.rows.map((r) => r.employee_id).sort();
}

export async function insertDataKeys(db: Db, keys: ReadonlyArray<LiveDataKeyRow & { kekId: string }>): Promise<void> {
  if (keys.length === 0) return;
  await db
    .insertInto('employee_data_keys')
    .values(keys.map((k) => ({ employee_id: k.employeeId, dek_version: k.dekVersion, kek_id: k.kekId, wrapped_key: k.wrappedKey })))
    .execute();
}

/** Roster facts and the newest live data key of each known employee among `employeeIds`. */
export async function findEmployeesForIngest(db: Db, employeeIds: readonly string[]): Promise<Map<string, EmployeeForIngest>> {
  const found = new Map<string, EmployeeForIngest>();
  if (employeeIds.length === 0) return found;
  const rows = await db
    .selectFrom('employees as e')
    .leftJoinLateral(
      (eb) =>
        eb
          .selectFrom('employee_data_keys as k')
          .select(['k.dek_version', 'k.wrapped_key'])
          .whereRef('k.employee_id', '=', 'e.employee_id')
          .where('k.wrapped_key', 'is not', null)
          .orderBy('k.dek_version', 'desc')
          .limit(1)
          .as('k'),
      (join) => join.onTrue(),
    )
    .select(['e.employee_id', 'e.org_unit', 'e.enrolled', 'k.dek_version', 'k.wrapped_key'])
    .where('e.employee_id', '=', anyOf(employeeIds, 'text'))
    .execute();
  for (const r of rows) {
    found.set(r.employee_id, {
      orgUnit: r.org_unit,
      enrolled: r.enrolled,
      key:
        r.dek_version != null && r.wrapped_key != null
          ? { employeeId: r.employee_id, dekVersion: r.dek_version, wrappedKey: r.wrapped_key }
          : null,
    });
  }
  return found;
}

export interface DataKeyCounts {
  readonly employees: number;
  readonly liveKeys: number;
  readonly destroyedKeys: number;
  readonly kekIds: string[];
}

export async function countDataKeys(db: Db): Promise<DataKeyCounts> {
  const [employees, keys] = await Promise.all([
    db.selectFrom('employees').select(sql<number>`count(*)::int`.as('n')).executeTakeFirstOrThrow(),
    db
      .selectFrom('employee_data_keys')
      .select([
        sql<number>`count(*) filter (where wrapped_key is not null)::int`.as('live'),
        sql<number>`count(*) filter (where wrapped_key is null)::int`.as('destroyed'),
        sql<string[]>`coalesce(array_agg(distinct kek_id) filter (where wrapped_key is not null), '{}')`.as('kek_ids'),
      ])
      .executeTakeFirstOrThrow(),
  ]);
  return { employees: employees.n, liveKeys: keys.live, destroyedKeys: keys.destroyed, kekIds: keys.kek_ids };
}

export interface ConsentState {
  readonly enrolled: boolean;
  readonly region: string;
  /** The collection manifest version the employee consented to; null when none. */
  readonly consentedVersion: number | null;
  readonly liveKeyVersions: ReadonlySet<number>;
}

/**
 * Enrollment and live key versions of `employeeIds`, with their rows locked FOR SHARE until the
 * transaction ends: an un-enrolment or an erasure either waits for this write or is seen by it.
 */
export async function lockConsentState(db: Db, employeeIds: readonly string[]): Promise<Map<string, ConsentState>> {
  const employees = await db
    .selectFrom('employees')
    .select(['employee_id', 'enrolled', 'region', 'consented_version'])
    .where('employee_id', '=', anyOf(employeeIds, 'text'))
    .forShare()
    .execute();
  const keys = await db
    .selectFrom('employee_data_keys')
    .select(['employee_id', 'dek_version'])
    .where('employee_id', '=', anyOf(employeeIds, 'text'))
    .where('wrapped_key', 'is not', null)
    .forShare()
    .execute();
  const live = new Map<string, Set<number>>();
  for (const k of keys) live.set(k.employee_id, (live.get(k.employee_id) ?? new Set()).add(k.dek_version));
  return new Map(
    employees.map((e) => [e.employee_id, { enrolled: e.enrolled, region: e.region, consentedVersion: e.consented_version, liveKeyVersions: live.get(e.employee_id) ?? new Set() }]),
  );
}

/** Enrolled employees per org unit (every unit on the roster, even with no one enrolled). */
export async function countEnrolledByOrgUnit(db: Db): Promise<{ enrolledByUnit: Map<string, number>; totalEnrolled: number }> {
  const rows = await db
    .selectFrom('employees')
    .select((eb) => ['org_unit', eb.cast<number>(eb.fn.countAll().filterWhere('enrolled', '=', true), 'integer').as('enrolled')])
    .groupBy('org_unit')
    .execute();
  const enrolledByUnit = new Map(rows.map((r) => [r.org_unit, r.enrolled]));
  return { enrolledByUnit, totalEnrolled: rows.reduce((n, r) => n + r.enrolled, 0) };
}
