import type { AuditLog } from '../audit/index.js';
import { isEmployeeSelf, type Principal } from '../auth/index.js';
import { countEnrolledByOrgUnit, datasetsReachingEmployee, employeeOrgUnits, type VaultDatabase } from '../db/index.js';
import { leaseOfEmployee, type DatasetRequests, type LeaseOfEmployee } from '../datasets/index.js';
import { VaultError } from '../errors/index.js';
import { grantsOf } from '../guard/index.js';
import { NEVER_EXPORTED_SENSITIVITY, type DatasetRequest } from '../model/index.js';
import type { PolicyEngine } from '../policy/index.js';

/** One team's way to the employee's records under one purpose. */
export interface ExposurePath {
  readonly purpose: string;
  readonly org_units: string[];
  readonly kinds: string[];
  readonly max_sensitivity: number;
}

export interface Exposure {
  readonly employee_id: string;
  readonly policy_revision: string;
  readonly computed_at: string;
  /** The units the employee's records sit in, and their unit now: what a request must name to reach them. */
  readonly org_units: string[];
  /** Teams a dataset request could be granted this employee's records today, per purpose. */
  readonly teams: Array<{ team: string; paths: ExposurePath[] }>;
  /** Leases open now whose frozen scope holds records of the employee. */
  readonly open_leases: LeaseOfEmployee[];
}

export interface ExposureDeps {
  readonly database: VaultDatabase;
  readonly audit: AuditLog;
  readonly policy: Pick<PolicyEngine, 'grantsInForce'>;
  readonly requests: Pick<DatasetRequests, 'wouldGrant'>;
  readonly kinds: readonly string[];
}

/** Teams seen in the audit log this recently count even if no grant names them (as in the access diff). */
const RECENT_TEAMS_DAYS = 30;
/** The window the questions ask about: the same as the access diff's. */
const WINDOW_DAYS = 30;

const strings = (v: unknown): string[] => (Array.isArray(v) ? v.filter((x): x is string => typeof x === 'string') : []);
const sorted = (s: Iterable<string>) => [...new Set(s)].sort();

/**
 * "Who could read me now": for every team a grant names or the log has seen, and every purpose a
 * grant names, the vault asks itself the dataset requests that team could make for the employee's
 * org units (each unit, with all kinds and each kind, at each level) and judges them exactly as a real request is judged
 * (policy in force, invariants, narrowing), writing nothing. The answer is audited.
 */
export class ExposureReports {
  readonly #deps: ExposureDeps;

  constructor(deps: ExposureDeps) {
    this.#deps = deps;
  }

  async exposure(actor: Principal, employeeId: string): Promise<Exposure> {
    const { audit, database } = this.#deps;
    const refuse = (error: VaultError, reason: string, severity: 'info' | 'high'): Promise<never> => audit.refuse(error, { action: 'employee.exposure', actor: actor, employeeId, reason, severity });
    const self = isEmployeeSelf(actor, employeeId);
    if (!self && !actor.roles.some((r) => r === 'auditor' || r === 'privacy-officer')) {
      return refuse(new VaultError('ERR_FORBIDDEN', "an employee may read only their own exposure"), 'not_own_exposure', 'high');
    }
    const units = await employeeOrgUnits(database.db, employeeId);
    if (!units) return refuse(new VaultError('ERR_NOT_FOUND', 'no such employee'), 'no_such_employee', 'info');
    const { grants, revision } = this.#deps.policy.grantsInForce();
    const now = new Date();
    const orgUnits = sorted([units.current, ...units.ofRecords]);
    const teams = await this.#teamsToAsk(grants);
    const purposes = sorted(Object.values(grantsOf(grants)).flatMap((g) => strings(g?.purposes)));
    const roster = await countEnrolledByOrgUnit(database.db);
    const window = { from: new Date(now.getTime() - WINDOW_DAYS * 86_400_000), to: now };
    const reached: Exposure['teams'] = [];
    for (const team of teams) {
      const paths: ExposurePath[] = [];
      for (const purpose of purposes) {
        const principal: Principal = { sub: `exposure:${team}`, roles: ['training-job'], teams: [team], purpose, jti: undefined };
        const path = await this.#pathOf(principal, purpose, orgUnits, window, roster);
        if (path) paths.push(path);
      }
      if (paths.length > 0) reached.push({ team, paths });
    }
    const leases = (await datasetsReachingEmployee(database.db, employeeId)).filter((d) => d.revokedAt === null && d.expiresAt > now && d.employeeRecords > 0);
    const answer: Exposure = {
      employee_id: employeeId,
      policy_revision: revision,
      computed_at: now.toISOString(),
      org_units: orgUnits,
      teams: reached,
      open_leases: leases.map(leaseOfEmployee),
    };
    await audit.appendAlone({
      action: 'employee.exposure',
      decision: 'allow',
      actor,
      employeeId,
      policyRevision: revision,
      recordCount: 0,
      details: { teams_asked: teams.length, purposes_asked: purposes.length, teams_reaching: reached.map((t) => t.team), open_leases: answer.open_leases.length },
    });
    return answer;
  }

  async #teamsToAsk(grants: unknown): Promise<string[]> {
    const recent = await this.#deps.audit.teamsSeenSince(new Date(Date.now() - RECENT_TEAMS_DAYS * 86_400_000));
    return sorted([...Object.keys(grantsOf(grants)), ...recent]).filter((t) => t !== '');
  }

  /** The union of what each question grants for the employee's units; undefined when none is granted. */
  async #pathOf(
    principal: Principal,
    purpose: string,
    orgUnits: readonly string[],
    window: { from: Date; to: Date },
    roster: Awaited<ReturnType<typeof countEnrolledByOrgUnit>>,
  ): Promise<ExposurePath | undefined> {
    const { kinds } = this.#deps;
    const questions: DatasetRequest[] = [];
    for (const unit of orgUnits) {
      const ask = (kindsAsked: readonly string[], maxSensitivity: number | undefined): DatasetRequest => ({ purpose, kinds: kindsAsked, orgUnits: [unit], ...window, maxSensitivity });
      // A policy may refuse a question wider than a grant rather than narrow it: each kind and each
      // level is asked on its own too, and the request without a level takes the grant's own.
      for (const asked of [kinds, ...kinds.map((k) => [k])]) {
        questions.push(ask(asked, undefined));
        for (let level = 0; level < NEVER_EXPORTED_SENSITIVITY; level++) questions.push(ask(asked, level));
      }
    }
    const units = new Set<string>();
    const kindsGranted = new Set<string>();
    let maxSensitivity = -1;
    for (const question of questions) {
      const scope = await this.#deps.requests.wouldGrant(principal, question, roster);
      if (!scope) continue;
      const reaching = scope.orgUnits.filter((u) => orgUnits.includes(u));
      if (reaching.length === 0) continue;
      for (const u of reaching) units.add(u);
      for (const k of scope.kinds) kindsGranted.add(k);
      maxSensitivity = Math.max(maxSensitivity, scope.maxSensitivity);
    }
    if (units.size === 0 || kindsGranted.size === 0 || maxSensitivity < 0) return undefined;
    return { purpose, org_units: sorted(units), kinds: sorted(kindsGranted), max_sensitivity: maxSensitivity };
  }
}
