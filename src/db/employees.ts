import { sql } from 'kysely';
import { anyOf, arrayLiteral } from './any-of.js';
import type { Db } from './database.js';

export interface EmployeeRow {
  readonly employeeId: string;
  readonly orgUnit: string;
  readonly region: string;
  readonly enrolled: boolean;
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

export interface EmployeeForIngest {
  readonly orgUnit: string;
  readonly enrolled: boolean;
}

/** Roster facts of each known employee among `employeeIds`. */
export async function findEmployeesForIngest(db: Db, employeeIds: readonly string[]): Promise<Map<string, EmployeeForIngest>> {
  const found = new Map<string, EmployeeForIngest>();
  if (employeeIds.length === 0) return found;
  const rows = await db.selectFrom('employees').select(['employee_id', 'org_unit', 'enrolled']).where('employee_id', '=', anyOf(employeeIds, 'text')).execute();
  for (const r of rows) found.set(r.employee_id, { orgUnit: r.org_unit, enrolled: r.enrolled });
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
  /** Of the key versions the batch asked about, those still live. */
  readonly liveKeyVersions: ReadonlySet<number>;
}

/**
 * Enrollment of `employeeIds` and which of the key versions in `used` are live, with their rows locked FOR SHARE until the
 * transaction ends: an un-enrolment or an erasure either waits for this write or is seen by it.
 */
export async function lockConsentState(db: Db, employeeIds: readonly string[], used: ReadonlyArray<{ employeeId: string; dekVersion: number }>): Promise<Map<string, ConsentState>> {
  const employees = await db
    .selectFrom('employees')
    .select(['employee_id', 'enrolled', 'region', 'consented_version'])
    .where('employee_id', '=', anyOf(employeeIds, 'text'))
    .forShare()
    .execute();
  // Only the key versions the batch seals under: an employee has a key per month.
  const keys = await sql<{ employee_id: string; dek_version: number }>`
    select k.employee_id, k.dek_version
      from employee_data_keys k join unnest(${arrayLiteral(used.map((u) => u.employeeId))}::text[], ${arrayLiteral(used.map((u) => u.dekVersion))}::int[]) as u(employee_id, dek_version)
        on k.employee_id = u.employee_id and k.dek_version = u.dek_version
     where k.wrapped_key is not null
       for share of k`.execute(db);
  const live = new Map<string, Set<number>>();
  for (const k of keys.rows) live.set(k.employee_id, (live.get(k.employee_id) ?? new Set()).add(k.dek_version));
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
