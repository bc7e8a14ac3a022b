import type { AuditLog } from '../audit/index.js';
import type { Principal } from '../auth/index.js';
import type { KeyRing } from '../crypto/index.js';
import { employeesWithoutDataKey, inTransaction, insertDataKeys, upsertEmployees, type EmployeeRow, type VaultDatabase } from '../db/index.js';
import { VaultError } from '../errors/index.js';
import { isEmployeeId, isOrgUnit, isPlainText } from '../model/index.js';

export const MAX_ROSTER_BATCH = 10_000;

export interface RosterEntry {
  readonly employee_id: string;
  readonly org_unit: string;
  readonly region: string;
  readonly enrolled: boolean;
}

export interface RosterResult {
  readonly upserted: number;
  readonly created: number;
  readonly keys_created: number;
}

function invalid(message: string): VaultError {
  return new VaultError('ERR_INVALID_REQUEST', message);
}

/** The whole roster request is checked before anything is written: one bad entry refuses it all. */
export function parseRoster(body: unknown): EmployeeRow[] {
  const list = (body as { employees?: unknown } | null)?.employees;
  if (!Array.isArray(list) || list.length === 0) throw invalid('employees must be a non-empty array');
  if (list.length > MAX_ROSTER_BATCH) throw new VaultError('ERR_BATCH_TOO_LARGE', `at most ${MAX_ROSTER_BATCH} employees per request`);
  const seen = new Set<string>();
  return list.map((raw: unknown, i): EmployeeRow => {
    const e = raw as Partial<RosterEntry> | null;
    if (typeof e !== 'object' || e === null) throw invalid(`employees[${i}] must be an object`);
    if (!isEmployeeId(e.employee_id)) throw invalid(`employees[${i}].employee_id is invalid`);
    if (!isOrgUnit(e.org_unit)) throw invalid(`employees[${i}].org_unit is invalid`);
    if (!isPlainText(e.region) || e.region.length === 0 || e.region.length > 64) throw invalid(`employees[${i}].region must be 1-64 characters without control characters`);
    if (typeof e.enrolled !== 'boolean') throw invalid(`employees[${i}].enrolled must be a boolean`);
    if (seen.has(e.employee_id)) throw invalid(`employees[${i}].employee_id appears twice`);
    seen.add(e.employee_id);
    return { employeeId: e.employee_id, orgUnit: e.org_unit, region: e.region, enrolled: e.enrolled };
  });
}

/** The privacy officer's roster upserts. */
export interface RosterService {
  upsert(actor: Principal, body: unknown): Promise<RosterResult>;
}

/** Upserts the roster and gives every new employee a fresh random data key, audited, in one transaction. */
export async function upsertRoster(deps: { database: VaultDatabase; keyRing: KeyRing; audit: AuditLog }, actor: Principal, body: unknown): Promise<RosterResult> {
  const employees = parseRoster(body);
  return inTransaction(deps.database, async (trx) => {
    const created = await upsertEmployees(trx, employees);
    const keyless = await employeesWithoutDataKey(trx, employees.map((e) => e.employeeId));
    const keys = await Promise.all(keyless.map((id) => deps.keyRing.createDataKey(id, 1)));
    await insertDataKeys(trx, keys);
    const enrolled = employees.filter((e) => e.enrolled).length;
    if (keys.length > 0) {
      await deps.audit.append(trx, {
        action: 'key.create',
        decision: 'info',
        actor,
        recordCount: keys.length,
        details: { data_keys_created: keys.length, dek_version: 1, kek_id: deps.keyRing.kekId },
      });
    }
    await deps.audit.append(trx, {
      action: 'roster.upsert',
      decision: 'allow',
      actor,
      recordCount: employees.length,
      details: { upserted: employees.length, created: created.length, enrolled, not_enrolled: employees.length - enrolled },
    });
    return { upserted: employees.length, created: created.length, keys_created: keys.length };
  });
}
