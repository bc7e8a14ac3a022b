import { VaultError, type VaultErrorCode } from '../errors/index.js';
import { NEVER_EXPORTED_SENSITIVITY, type Scope } from '../model/index.js';

export interface GuardSubject {
  readonly roles: readonly string[];
  readonly teams: readonly string[];
  readonly purpose: string | undefined;
}

/** The part of a scope the invariants judge: who and what, not when. */
export type GuardScope = Pick<Scope, 'orgUnits' | 'kinds' | 'maxSensitivity'>;

/** Enrolled employees per org unit, as the roster says now. */
export interface RosterReach {
  readonly enrolledByUnit: ReadonlyMap<string, number>;
  readonly totalEnrolled: number;
}

export interface BlastRadiusLimits {
  /** `grants` of the bundle whose policy made the decision. */
  readonly grants: unknown;
  readonly roster: RosterReach;
  readonly maxScopeFraction: number;
  /** The purpose the request states; it must be the token's own. */
  readonly requestPurpose: string;
  /**
   * Whether every org unit must already be on the roster. At run time it must; a pre-activation
   * check also runs before a new unit's employees are enrolled, where such a unit simply reaches no one.
   */
  readonly requireRosterUnits?: boolean;
}

export type InvariantCode = Extract<
  VaultErrorCode,
  'ERR_SUBJECT_INCOMPLETE' | 'ERR_SCOPE_NOT_EXPLICIT' | 'ERR_SCOPE_OUTSIDE_GRANT' | 'ERR_SCOPE_TOO_WIDE' | 'ERR_SENSITIVITY_FORBIDDEN'
>;

export interface InvariantBreach {
  readonly code: InvariantCode;
  /** Stable, for the audit log and alarms. */
  readonly reason: string;
  /** Precise, for the audit log and the operator only. */
  readonly detail: string;
}

interface Grant {
  readonly team: string;
  readonly org_units: readonly string[];
  readonly kinds: readonly string[];
  readonly max_sensitivity: number;
  readonly purposes: readonly string[];
}

const WILDCARD = /[*?%[\]{}()^$|\\+]|^\s*$|^\.$/;

/** Whether a name in a scope or grant is blank, `.`, or pattern syntax (glob, SQL LIKE, regex) rather than a name. */
export const isPattern = (name: string): boolean => WILDCARD.test(name);

const TRAINING_ROLE = 'training-job';

const isStringList = (v: unknown): v is string[] => Array.isArray(v) && v.every((x) => typeof x === 'string');

function grantOf(grants: unknown, team: string): Grant | undefined {
  if (typeof grants !== 'object' || grants === null || !Object.prototype.hasOwnProperty.call(grants, team)) return undefined;
  const g = (grants as Record<string, unknown>)[team] as Record<string, unknown> | null;
  if (typeof g !== 'object' || g === null) return undefined;
  if (!isStringList(g.org_units) || !isStringList(g.kinds) || !isStringList(g.purposes) || !Number.isInteger(g.max_sensitivity)) return undefined;
  return { team, org_units: g.org_units, kinds: g.kinds, max_sensitivity: g.max_sensitivity as number, purposes: g.purposes };
}

/**
 * The records a scope holds belong to `employees` distinct people: records keep the org unit they
 * were captured under, so after a reorg the roster may understate who a unit's records cover.
 */
export function findRecordsReachBreach(employees: number, limits: Pick<BlastRadiusLimits, 'roster' | 'maxScopeFraction'>): InvariantBreach | undefined {
  if (!exceedsScopeFraction(employees, limits.roster, limits.maxScopeFraction)) return undefined;
  return breach('ERR_SCOPE_TOO_WIDE', 'records_reach_too_wide', `records of ${employees} employees, ${limits.roster.totalEnrolled} enrolled (limit ${limits.maxScopeFraction})`);
}

/** Whether `reached` employees exceed the share of all enrolled employees one decision may reach. */
export function exceedsScopeFraction(reached: number, roster: RosterReach, maxScopeFraction: number): boolean {
  return reached > maxScopeFraction * roster.totalEnrolled + 1e-9;
}

/** Distinct enrolled employees in these org units (an employee belongs to one unit). */
export function employeesReached(units: Iterable<string>, roster: RosterReach): number {
  let n = 0;
  for (const u of new Set(units)) n += roster.enrolledByUnit.get(u) ?? 0;
  return n;
}

function tooMany(reached: number, limits: BlastRadiusLimits): boolean {
  return exceedsScopeFraction(reached, limits.roster, limits.maxScopeFraction);
}

const breach = (code: InvariantCode, reason: string, detail: string): InvariantBreach => ({ code, reason, detail });

/**
 * The vault's own limits on a policy's scope, checked after every decision. None of them can be
 * switched off by a policy or a grant: a breach is a deny, whatever the policy answered.
 */
export function findInvariantBreach(subject: GuardSubject, scope: GuardScope, limits: BlastRadiusLimits): InvariantBreach | undefined {
  if (!subject.roles.includes(TRAINING_ROLE)) return breach('ERR_SUBJECT_INCOMPLETE', 'not_training_job', `roles [${subject.roles}]`);
  const teams = subject.teams.filter((t) => typeof t === 'string' && t.trim() !== '');
  if (teams.length === 0 || teams.length !== subject.teams.length) return breach('ERR_SUBJECT_INCOMPLETE', 'no_team_claim', `teams ${JSON.stringify(subject.teams)}`);
  if (!subject.purpose) return breach('ERR_SUBJECT_INCOMPLETE', 'no_purpose_claim', 'the token has no purpose');
  if (subject.purpose !== limits.requestPurpose) return breach('ERR_SUBJECT_INCOMPLETE', 'purpose_not_the_tokens', `request purpose "${limits.requestPurpose}", token purpose "${subject.purpose}"`);

  if (!Number.isInteger(scope.maxSensitivity) || scope.maxSensitivity >= NEVER_EXPORTED_SENSITIVITY || scope.maxSensitivity < 0) {
    return breach('ERR_SENSITIVITY_FORBIDDEN', 'sensitivity_never_exported', `max_sensitivity ${scope.maxSensitivity}`);
  }

  if (scope.orgUnits.length === 0) return breach('ERR_SCOPE_NOT_EXPLICIT', 'no_org_units', 'the scope names no org unit');
  if (scope.kinds.length === 0) return breach('ERR_SCOPE_NOT_EXPLICIT', 'no_kinds', 'the scope names no kind');
  const pattern = [...scope.orgUnits, ...scope.kinds].find((x) => WILDCARD.test(x));
  if (pattern !== undefined) return breach('ERR_SCOPE_NOT_EXPLICIT', 'wildcard_scope', `"${pattern}" is a pattern, not a name`);

  const containing = teams
    .map((t) => grantOf(limits.grants, t))
    .filter((g): g is Grant => g !== undefined && g.purposes.includes(subject.purpose!))
    .filter((g) => scope.orgUnits.every((u) => g.org_units.includes(u)) && scope.kinds.every((k) => g.kinds.includes(k)) && scope.maxSensitivity <= g.max_sensitivity);
  if (containing.length === 0) {
    return breach('ERR_SCOPE_OUTSIDE_GRANT', 'scope_outside_grant', `scope ${JSON.stringify({ org_units: scope.orgUnits, kinds: scope.kinds, max_sensitivity: scope.maxSensitivity })} is not within a grant of teams [${teams}] for purpose "${subject.purpose}"`);
  }

  // After containment, so a caller cannot learn from the reason which units are on the roster.
  if (limits.requireRosterUnits !== false) {
    const unknown = scope.orgUnits.filter((u) => !limits.roster.enrolledByUnit.has(u));
    if (unknown.length) return breach('ERR_SCOPE_NOT_EXPLICIT', 'org_unit_not_on_roster', `not on the roster: ${unknown.join(', ')}`);
  }

  const reached = employeesReached(scope.orgUnits, limits.roster);
  if (tooMany(reached, limits)) {
    return breach('ERR_SCOPE_TOO_WIDE', 'scope_too_wide', `reaches ${reached} of ${limits.roster.totalEnrolled} enrolled employees (limit ${limits.maxScopeFraction})`);
  }
  // A grant that is itself too wide or a pattern is a misconfiguration: nothing is served under it.
  const sound = containing.filter((g) => !g.org_units.some((u) => WILDCARD.test(u)) && !tooMany(employeesReached(g.org_units, limits.roster), limits));
  if (sound.length === 0) {
    const g = containing[0]!;
    return breach('ERR_SCOPE_TOO_WIDE', 'grant_too_wide', `grant of ${g.team} reaches ${employeesReached(g.org_units, limits.roster)} of ${limits.roster.totalEnrolled} enrolled employees or names a pattern`);
  }
  return undefined;
}

export function breachError(found: InvariantBreach, details: Record<string, unknown> = {}): VaultError {
  return new VaultError(found.code, 'the request breaks an invariant of the vault', { details: { reasons: [found.reason], ...details }, internal: { detail: found.detail } });
}
