import { isKind, isOrgUnit, isTeamId, NEVER_EXPORTED_SENSITIVITY } from '../model/index.js';
import { employeesReached, exceedsScopeFraction, isPattern, type RosterReach } from './invariants.js';

/** Why a grant is refused on its own, before any subject reaches it. */
export type GrantViolationReason =
  | 'grants_not_an_object'
  | 'team_name_empty'
  | 'team_name_wildcard'
  | 'team_name_invalid'
  | 'grant_malformed'
  | 'grant_names_pattern'
  | 'grant_names_every_unit'
  | 'grant_too_wide'
  | 'grant_reaches_level_4';

export interface GrantViolation {
  /** The grant's key as the bundle spells it; undefined when `grants` as a whole is wrong. */
  readonly team: string | undefined;
  /** Stable, for the audit log and alarms. */
  readonly reason: GrantViolationReason;
  /** Precise, for the security admin and the audit log. */
  readonly detail: string;
}

const FIELDS = ['org_units', 'kinds', 'max_sensitivity', 'purposes'];
// Read by a person, or by a later policy edit, as "every unit": never a unit's literal name.
const EVERY_UNIT = /^(?:all|any|every|everyone|everybody|(?:all|any|every)[-_.]?units?)$/i;
// Control and format characters (bidi overrides, zero-width) make two purposes look alike.
const INVISIBLE = /[\p{Cc}\p{Cf}]/u;
const NAME_SHOWN = 64;
// Purposes are free text ("autocomplete (v2)"): only blanks and glob wildcards are refused.
const isPurposePattern = (p: string): boolean => p.trim() === '' || /[*?]/.test(p);

/** A name from an untrusted bundle, safe to print in a log line or a terminal. */
export function printableName(name: string): string {
  const cut = name.length > NAME_SHOWN ? `${name.slice(0, NAME_SHOWN)}...` : name;
  return JSON.stringify(cut).replace(/[^\x20-\x7e]/g, (c) => `\\u${c.charCodeAt(0).toString(16).padStart(4, '0')}`);
}

const isPlainObject = (v: unknown): v is Record<string, unknown> => typeof v === 'object' && v !== null && !Array.isArray(v);

function kindOf(v: unknown): string {
  if (v === null) return 'null';
  if (Array.isArray(v)) return 'an array';
  return typeof v === 'object' ? 'an object' : `a ${typeof v}`;
}

function teamNameViolation(team: string): GrantViolation | undefined {
  if (team.trim() === '') return { team, reason: 'team_name_empty', detail: 'the team name is empty: no token names this team, and a policy that drops its empty-team filter grants it to anyone' };
  if (isPattern(team)) return { team, reason: 'team_name_wildcard', detail: 'the team name is a pattern, not a team' };
  if (!isTeamId(team)) return { team, reason: 'team_name_invalid', detail: 'the team name is not a team identifier (a letter or digit, then letters, digits, ".", "_" or "-", at most 128)' };
  return undefined;
}

/** A list field of a grant: its strings, or why it is malformed. */
function stringList(grant: Record<string, unknown>, field: string, what: string): { values: string[] } | { malformed: string } {
  const v = grant[field];
  if (v === undefined) return { malformed: `${field} is missing` };
  if (!Array.isArray(v)) return { malformed: `${field} is ${kindOf(v)}, not a list of ${what}s` };
  if (v.length === 0) return { malformed: `${field} is empty: a grant names every ${what} it allows` };
  const other = v.find((x) => typeof x !== 'string');
  if (other !== undefined) return { malformed: `${field} holds ${kindOf(other)}, not only ${what}s` };
  return { values: v as string[] };
}

function judgeGrant(team: string, value: unknown, roster: RosterReach, maxScopeFraction: number): GrantViolation[] {
  const found: GrantViolation[] = [];
  const naming = teamNameViolation(team);
  if (naming) found.push(naming);
  const malformed = (detail: string) => found.push({ team, reason: 'grant_malformed', detail });
  if (!isPlainObject(value)) {
    malformed(`the grant is ${kindOf(value)}, not {"org_units","kinds","max_sensitivity","purposes"}`);
    return found;
  }
  // A field the vault does not judge could be one a policy reads: only the judged shape is allowed.
  const unknown = Object.keys(value).filter((k) => !FIELDS.includes(k));
  if (unknown.length) malformed(`unknown field${unknown.length > 1 ? 's' : ''} ${unknown.map(printableName).join(', ')}: a grant has only ${FIELDS.join(', ')}`);

  const units = stringList(value, 'org_units', 'org unit');
  if ('malformed' in units) malformed(units.malformed);
  else {
    const everyUnit = units.values.filter((u) => isPattern(u) || EVERY_UNIT.test(u.trim()));
    const invalid = units.values.filter((u) => !everyUnit.includes(u) && !isOrgUnit(u));
    if (invalid.length) malformed(`org_units ${invalid.map(printableName).join(', ')} ${invalid.length > 1 ? 'are not org units' : 'is not an org unit'}`);
    if (everyUnit.length) {
      // Refused whatever today's roster holds: it would reach every unit enrolled later too.
      found.push({ team, reason: 'grant_names_every_unit', detail: `org_units ${everyUnit.map(printableName).join(', ')} reads as every org unit: all ${roster.totalEnrolled} enrolled employees and everyone enrolled later` });
    } else if (!invalid.length) {
      const reached = employeesReached(units.values, roster);
      if (exceedsScopeFraction(reached, roster, maxScopeFraction)) {
        found.push({ team, reason: 'grant_too_wide', detail: `org_units reach ${reached} of ${roster.totalEnrolled} enrolled employees (limit ${maxScopeFraction})` });
      }
    }
  }

  const kinds = stringList(value, 'kinds', 'kind');
  if ('malformed' in kinds) malformed(kinds.malformed);
  else {
    const patterns = kinds.values.filter(isPattern);
    if (patterns.length) found.push({ team, reason: 'grant_names_pattern', detail: `kinds ${patterns.map(printableName).join(', ')} ${patterns.length > 1 ? 'are patterns' : 'is a pattern'}, not a kind` });
    const invalid = kinds.values.filter((k) => !isPattern(k) && !isKind(k));
    if (invalid.length) malformed(`kinds ${invalid.map(printableName).join(', ')} ${invalid.length > 1 ? 'are not kinds' : 'is not a kind'}`);
  }

  const purposes = stringList(value, 'purposes', 'purpose');
  if ('malformed' in purposes) malformed(purposes.malformed);
  else {
    const patterns = purposes.values.filter(isPurposePattern);
    if (patterns.length) found.push({ team, reason: 'grant_names_pattern', detail: `purposes ${patterns.map(printableName).join(', ')} ${patterns.length > 1 ? 'are blank or wildcards' : 'is blank or a wildcard'}, not a purpose` });
    const invisible = purposes.values.filter((p) => !isPurposePattern(p) && INVISIBLE.test(p));
    if (invisible.length) malformed(`purposes ${invisible.map(printableName).join(', ')} hold control or invisible characters`);
  }

  const level = value.max_sensitivity;
  if (level === undefined) malformed('max_sensitivity is missing');
  // The shipped policy compares it with the request's number: a string or a fraction caps nothing.
  else if (typeof level !== 'number' || !Number.isInteger(level)) malformed(`max_sensitivity is ${typeof level === 'number' ? String(level) : kindOf(level)}, not a whole level 0-${NEVER_EXPORTED_SENSITIVITY - 1}`);
  else if (level < 0) malformed(`max_sensitivity ${level} is below level 0`);
  else if (level >= NEVER_EXPORTED_SENSITIVITY) found.push({ team, reason: 'grant_reaches_level_4', detail: `max_sensitivity ${level} reaches level ${NEVER_EXPORTED_SENSITIVITY}, which never leaves the vault` });
  return found;
}

/**
 * Judges every grant of a bundle on its own, whether any subject reaches it today or not: the team
 * name, the shape the policy reads, the level, and the share of today's enrolled employees its org
 * units hold. A grant that no policy serves today is one edit away from being served.
 *
 * @example
 * findGrantViolations({ '*': { org_units: ['eng'], kinds: ['click'], max_sensitivity: 1, purposes: ['p'] } }, roster, 0.2);
 * // [{ team: '*', reason: 'team_name_wildcard', detail: 'the team name is a pattern, not a team' }]
 */
export function findGrantViolations(grants: unknown, roster: RosterReach, maxScopeFraction: number): GrantViolation[] {
  if (grants === undefined) return [];
  if (!isPlainObject(grants)) return [{ team: undefined, reason: 'grants_not_an_object', detail: `data.grants is ${kindOf(grants)}, not an object keyed by team` }];
  return Object.entries(grants).flatMap(([team, grant]) => judgeGrant(team, grant, roster, maxScopeFraction));
}

/** One line for the violations list: which grant, the stable reason, and why. */
export function describeGrantViolation(v: GrantViolation): string {
  return `${v.team === undefined ? 'grants' : `grant ${printableName(v.team)}`}: ${v.reason}: ${v.detail}`;
}
