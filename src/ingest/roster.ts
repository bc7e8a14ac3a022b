import type { AuditLog } from '../audit/index.js';
import type { Principal } from '../auth/index.js';
import {
  consentEnrolledWithoutConsent,
  holdBackErased,
  inTransaction,
  latestManifestVersion,
  recordConsents,
  upsertEmployees,
  type EmployeeRow,
  type VaultDatabase,
} from '../db/index.js';
import { VaultError } from '../errors/index.js';
import { isEmployeeId, isOrgUnit, isPlainText, parseTimestamp } from '../model/index.js';

export const MAX_ROSTER_BATCH = 10_000;

export interface RosterEntry {
  readonly employee_id: string;
  readonly org_unit: string;
  readonly region: string;
  readonly enrolled: boolean;
  /** The collection manifest version the employee consented to, and when. */
  readonly consent?: { readonly manifest_version: number; readonly consented_at: string };
}

export interface RosterResult {
  readonly upserted: number;
  readonly created: number;
  /** Consents recorded: those the request carried, and enrolments without one (consent to the manifest in force). */
  readonly consents_recorded: number;
  /** Listed as enrolled but erased since their last consent: kept un-enrolled until a consent dated after the erasure comes. */
  readonly erased_not_reenrolled: string[];
}

/** Consent a roster entry carries. */
interface ConsentEntry {
  readonly employeeId: string;
  readonly version: number;
  readonly at: Date;
}

/** A consent may be dated a few minutes ahead of this clock (the HR system's clock), never more. */
const CONSENT_CLOCK_SKEW_MS = 5 * 60_000;

function invalid(message: string): VaultError {
  return new VaultError('ERR_INVALID_REQUEST', message);
}

function parseConsent(raw: unknown, employeeId: string, where: string, now: number): ConsentEntry {
  const c = raw as { manifest_version?: unknown; consented_at?: unknown } | null;
  if (typeof c !== 'object' || c === null || Array.isArray(c) || Object.keys(c).some((k) => k !== 'manifest_version' && k !== 'consented_at')) {
    throw invalid(`${where} must be {manifest_version, consented_at}`);
  }
  if (typeof c.manifest_version !== 'number' || !Number.isInteger(c.manifest_version) || c.manifest_version < 1 || c.manifest_version > 2 ** 31 - 1) {
    throw invalid(`${where}.manifest_version must be a manifest version`);
  }
  const at = typeof c.consented_at === 'string' ? parseTimestamp(c.consented_at) : undefined;
  if (at === undefined || Number.isNaN(at)) throw invalid(`${where}.consented_at must be an RFC 3339 timestamp`);
  if (at > now + CONSENT_CLOCK_SKEW_MS) throw invalid(`${where}.consented_at is in the future`);
  return { employeeId, version: c.manifest_version, at: new Date(at) };
}

/** The whole roster request is checked before anything is written: one bad entry refuses it all. */
export function parseRoster(body: unknown, now: number = Date.now()): { employees: EmployeeRow[]; consents: ConsentEntry[] } {
  const list = (body as { employees?: unknown } | null)?.employees;
  if (!Array.isArray(list) || list.length === 0) throw invalid('employees must be a non-empty array');
  if (list.length > MAX_ROSTER_BATCH) throw new VaultError('ERR_BATCH_TOO_LARGE', `at most ${MAX_ROSTER_BATCH} employees per request`);
  const seen = new Set<string>();
  const consents: ConsentEntry[] = [];
  const employees = list.map((raw: unknown, i): EmployeeRow => {
    const e = raw as Partial<RosterEntry> | null;
    if (typeof e !== 'object' || e === null) throw invalid(`employees[${i}] must be an object`);
    if (!isEmployeeId(e.employee_id)) throw invalid(`employees[${i}].employee_id is invalid`);
    if (!isOrgUnit(e.org_unit)) throw invalid(`employees[${i}].org_unit is invalid`);
    if (!isPlainText(e.region) || e.region.length === 0 || e.region.length > 64) throw invalid(`employees[${i}].region must be 1-64 characters without control characters`);
    if (typeof e.enrolled !== 'boolean') throw invalid(`employees[${i}].enrolled must be a boolean`);
    if (seen.has(e.employee_id)) throw invalid(`employees[${i}].employee_id appears twice`);
    seen.add(e.employee_id);
    for (const field of Object.keys(e)) {
      if (!['employee_id', 'org_unit', 'region', 'enrolled', 'consent'].includes(field)) throw invalid(`employees[${i}] has an unknown field`);
    }
    if (e.consent !== undefined) consents.push(parseConsent(e.consent, e.employee_id, `employees[${i}].consent`, now));
    return { employeeId: e.employee_id, orgUnit: e.org_unit, region: e.region, enrolled: e.enrolled };
  });
  return { employees, consents };
}

/** The privacy officer's roster upserts. */
export interface RosterService {
  upsert(actor: Principal, body: unknown): Promise<RosterResult>;
}

/** Upserts the roster, audited, in one transaction. Data keys come with an employee's first record of each month (ingest). */
export async function upsertRoster(deps: { database: VaultDatabase; audit: AuditLog }, actor: Principal, body: unknown): Promise<RosterResult> {
  const { employees, consents } = parseRoster(body);
  return inTransaction(deps.database, async (trx) => {
    const created = await upsertEmployees(trx, employees);
    const manifestInForce = await latestManifestVersion(trx);
    const unknownVersion = consents.find((c) => c.version > manifestInForce);
    if (unknownVersion) throw invalid(`consent of ${unknownVersion.employeeId} names manifest version ${unknownVersion.version}, which does not exist`);
    await recordConsents(trx, consents);
    const ids = employees.map((e) => e.employeeId);
    const heldBack = await holdBackErased(trx, ids);
    const implied = manifestInForce > 0 ? await consentEnrolledWithoutConsent(trx, manifestInForce, ids) : 0;
    const enrolled = employees.filter((e) => e.enrolled).length - heldBack.length;
    await deps.audit.append(trx, {
      action: 'roster.upsert',
      decision: 'allow',
      actor,
      recordCount: employees.length,
      details: {
        upserted: employees.length,
        created: created.length,
        enrolled,
        not_enrolled: employees.length - enrolled,
        consents_recorded: consents.length,
        consents_by_enrolment: implied,
        manifest_version: manifestInForce,
        ...(heldBack.length > 0 ? { erased_not_reenrolled: heldBack.length } : {}),
      },
    });
    return { upserted: employees.length, created: created.length, consents_recorded: consents.length + implied, erased_not_reenrolled: heldBack };
  });
}
