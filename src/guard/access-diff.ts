import { NEVER_EXPORTED_SENSITIVITY } from '../model/index.js';
import { describeGrantViolation, findGrantViolations } from './grants.js';
import { employeesReached, findInvariantBreach, type GuardScope, type RosterReach } from './invariants.js';

/** What the diff needs of a policy revision: its evaluation and its grants (a `PolicyEvaluator` fits). */
export interface AccessPolicy {
  readonly revision: string;
  readonly grants: unknown;
  evaluate(input: {
    subject: { sub: string; roles: readonly string[]; teams: readonly string[]; purpose: string | undefined };
    action: string;
    request: Record<string, unknown>;
    now: string;
  }): Promise<{ allow: boolean; scope: GuardScope | undefined }>;
}

export interface AccessDiffInput {
  readonly next: AccessPolicy;
  /** The revision in force; none: every team's reach starts from nothing. */
  readonly active: AccessPolicy | undefined;
  readonly roster: RosterReach;
  /** Declared record kinds. */
  readonly kinds: readonly string[];
  /** Teams seen in the audit log recently: tokens carrying them exist even if no grant names them. */
  readonly recentTeams: readonly string[];
  readonly maxScopeFraction: number;
}

export interface TeamReach {
  readonly team: string;
  readonly units_before: string[];
  readonly units_after: string[];
  readonly gained: string[];
  readonly lost: string[];
  readonly employees_before: number;
  readonly employees_after: number;
}

export interface AccessDiff {
  readonly against: string | null;
  readonly revision: string;
  readonly subjects: number;
  readonly evaluations: number;
  readonly teams: TeamReach[];
  /**
   * Grants of the new bundle refused on their own, then invariant breaches the new policy would
   * commit: activation is refused, whoever approves.
   */
  readonly violations: string[];
  /** Reach that grows by whole org units or more than 2x: activation needs a second security admin. */
  readonly growth: string[];
}

interface Subject {
  readonly label: string;
  /** The team whose reach this subject measures; synthetic subjects have none and may reach nothing. */
  readonly team: string | undefined;
  readonly roles: string[];
  readonly teams: string[];
  readonly purpose: string | undefined;
  readonly requestPurpose: string;
}

const NON_TRAINING_ROLES = ['ingest-agent', 'privacy-officer', 'security-admin', 'auditor', 'employee'];
const UNKNOWN_TEAM = 'probe-unknown-team';
const UNKNOWN_PURPOSE = 'probe-unknown-purpose';
const MAX_VIOLATIONS = 100;
/** Above this the diff refuses rather than freeze the vault: split the grants or the roster's units. */
export const MAX_EVALUATIONS = 2_000_000;
const YIELD_EVERY = 2_000;

/** A bundle's `grants` by team; anything that is not an object grants nothing. */
export function grantsOf(grants: unknown): Record<string, Record<string, unknown>> {
  return typeof grants === 'object' && grants !== null ? (grants as Record<string, Record<string, unknown>>) : {};
}

const strings = (v: unknown): string[] => (Array.isArray(v) ? v.filter((x): x is string => typeof x === 'string') : []);
const sorted = (s: Iterable<string>) => [...new Set(s)].sort();

function subjectsFor(teams: string[], purposes: string[]): Subject[] {
  const training = ['training-job'];
  const all: Subject[] = [];
  for (const team of teams) {
    for (const purpose of [...purposes, UNKNOWN_PURPOSE]) all.push({ label: `team ${team} / ${purpose}`, team, roles: training, teams: [team], purpose, requestPurpose: purpose });
  }
  const anyTeam = teams[0] ?? UNKNOWN_TEAM;
  const anyPurpose = purposes[0] ?? UNKNOWN_PURPOSE;
  for (const purpose of purposes.length ? purposes : [UNKNOWN_PURPOSE]) {
    all.push({ label: `no team claim / ${purpose}`, team: undefined, roles: training, teams: [], purpose, requestPurpose: purpose });
    all.push({ label: `empty-string team / ${purpose}`, team: undefined, roles: training, teams: [''], purpose, requestPurpose: purpose });
    all.push({ label: `unknown team / ${purpose}`, team: undefined, roles: training, teams: [UNKNOWN_TEAM], purpose, requestPurpose: purpose });
    for (const team of teams) {
      all.push({ label: `team ${team}, no purpose claim, request says ${purpose}`, team: undefined, roles: training, teams: [team], purpose: undefined, requestPurpose: purpose });
      const other = purposes.find((p) => p !== purpose) ?? UNKNOWN_PURPOSE;
      all.push({ label: `team ${team} / ${purpose}, request says ${other}`, team: undefined, roles: training, teams: [team], purpose, requestPurpose: other });
    }
  }
  for (const role of NON_TRAINING_ROLES) {
    all.push({ label: `role ${role} (no training-job) / team ${anyTeam}`, team: undefined, roles: [role], teams: [anyTeam], purpose: anyPurpose, requestPurpose: anyPurpose });
  }
  return all;
}

/** What `after` grants that `before` did not, in words; undefined when it grants nothing more. */
function grantWidening(before: Record<string, unknown> | undefined, after: Record<string, unknown> | undefined): string | undefined {
  if (!after) return undefined;
  const gained = (field: string) => strings(after[field]).filter((x) => !strings(before?.[field]).includes(x));
  const parts: string[] = [];
  for (const field of ['org_units', 'kinds', 'purposes']) {
    const more = gained(field);
    if (more.length) parts.push(`${field} +${more.join(',')}`);
  }
  const was = typeof before?.max_sensitivity === 'number' ? before.max_sensitivity : -1;
  if (typeof after.max_sensitivity === 'number' && after.max_sensitivity > was) parts.push(`max_sensitivity ${was < 0 ? 'none' : was} -> ${after.max_sensitivity}`);
  return parts.length ? parts.join('; ') : undefined;
}

/**
 * Judges each grant of the new bundle on its own, then evaluates the new and the active policy
 * over subjects x org units x kinds x sensitivities and reports, per team, the org units and
 * employees each would reach, every invariant the new policy would breach, and every growth that
 * needs a second security admin.
 */
export async function computeAccessDiff(input: AccessDiffInput): Promise<AccessDiff> {
  const { next, active, roster } = input;
  const [nextGrants, activeGrants] = [grantsOf(next.grants), grantsOf(active?.grants)];
  const grants = [nextGrants, activeGrants];
  const teams = sorted([...grants.flatMap((g) => Object.keys(g)), ...input.recentTeams].filter((t) => t !== ''));
  const purposes = sorted(grants.flatMap((g) => Object.values(g).flatMap((x) => strings(x?.purposes))));
  const units = sorted([...roster.enrolledByUnit.keys(), ...grants.flatMap((g) => Object.values(g).flatMap((x) => strings(x?.org_units)))]);
  const kinds = sorted([...input.kinds, ...grants.flatMap((g) => Object.values(g).flatMap((x) => strings(x?.kinds)))]);
  const now = new Date();
  const window = { from: new Date(now.getTime() - 30 * 86_400_000).toISOString(), to: now.toISOString() };
  const requests: Array<Record<string, unknown>> = [{}, { org_units: units }];
  for (const u of units) {
    requests.push({ org_units: [u] });
    for (const k of kinds) requests.push({ org_units: [u], kinds: [k] }, { org_units: [u], kinds: [k], max_sensitivity: NEVER_EXPORTED_SENSITIVITY - 1 });
  }
  for (const k of kinds) requests.push({ kinds: [k] });
  for (let s = 0; s <= NEVER_EXPORTED_SENSITIVITY; s++) requests.push({ max_sensitivity: s });

  // A grant no subject reaches today is one policy edit away from being served: each is judged alone.
  const grantViolations = findGrantViolations(next.grants, roster, input.maxScopeFraction).slice(0, MAX_VIOLATIONS).map(describeGrantViolation);
  const subjects = subjectsFor(teams, purposes);
  const planned = subjects.length * requests.length * (active ? 2 : 1);
  if (planned > MAX_EVALUATIONS) {
    const tooBig = `the access diff would take ${planned} evaluations (limit ${MAX_EVALUATIONS}): too many teams, purposes, org units or kinds to check`;
    return { against: active?.revision ?? null, revision: next.revision, subjects: subjects.length, evaluations: 0, teams: [], growth: [], violations: [...grantViolations, tooBig] };
  }
  const violations = new Map<string, string>();
  const reach = { before: new Map<string, Set<string>>(), after: new Map<string, Set<string>>() };
  let evaluations = 0;

  for (const subject of subjects) {
    for (const [policy, side] of [[next, 'after'], [active, 'before']] as const) {
      if (!policy) continue;
      for (const asked of requests) {
        // Evaluation is synchronous wasm: let the vault's other requests through now and then.
        if (++evaluations % YIELD_EVERY === 0) await new Promise((resolve) => setImmediate(resolve));
        const decision = await policy.evaluate({
          subject: { sub: 'access-diff', roles: subject.roles, teams: subject.teams, purpose: subject.purpose },
          action: 'dataset.request',
          request: { purpose: subject.requestPurpose, ...asked, ...window },
          now: now.toISOString(),
        });
        if (!decision.allow || !decision.scope) continue;
        const wanted = strings(asked.org_units);
        const reached = wanted.length ? decision.scope.orgUnits.filter((u) => wanted.includes(u)) : decision.scope.orgUnits;
        if (subject.team !== undefined) {
          const map = reach[side];
          const set = map.get(subject.team) ?? new Set<string>();
          for (const u of reached) set.add(u);
          map.set(subject.team, set);
        }
        if (side === 'after' && violations.size < MAX_VIOLATIONS) {
          const breach = findInvariantBreach(subject, decision.scope, {
            grants: next.grants,
            roster,
            maxScopeFraction: input.maxScopeFraction,
            requestPurpose: subject.requestPurpose,
            requireRosterUnits: false,
          });
          const key = `${subject.label}: ${breach?.reason}`;
          if (breach && !violations.has(key)) violations.set(key, `${key}: ${breach.detail}`);
        }
      }
    }
  }

  const table: TeamReach[] = teams.map((team) => {
    const before = sorted(reach.before.get(team) ?? []);
    const after = sorted(reach.after.get(team) ?? []);
    return {
      team,
      units_before: before,
      units_after: after,
      gained: after.filter((u) => !before.includes(u)),
      lost: before.filter((u) => !after.includes(u)),
      employees_before: employeesReached(before, roster),
      employees_after: employeesReached(after, roster),
    };
  });
  const growth: string[] = [];
  for (const t of table) {
    if (t.gained.length) growth.push(`team ${t.team} gains org units ${t.gained.join(', ')} (${t.employees_before} -> ${t.employees_after} employees)`);
    else if (t.employees_before > 0 && t.employees_after > 2 * t.employees_before) growth.push(`team ${t.team} reach grows more than 2x (${t.employees_before} -> ${t.employees_after} employees)`);
    // The invariants cap every decision at the token's grant, so a wider grant is wider access
    // even where the policy hides it from this matrix (behind a sub, a date, a request shape).
    const widened = grantWidening(activeGrants[t.team], nextGrants[t.team]);
    if (widened) growth.push(`team ${t.team} grant widens: ${widened}`);
  }
  return {
    against: active?.revision ?? null,
    revision: next.revision,
    subjects: subjects.length,
    evaluations,
    teams: table,
    violations: [...grantViolations, ...violations.values()],
    growth,
  };
}
