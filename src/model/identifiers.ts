/**
 * The vault's identifiers, written once: parsers, the route schemas and the database all use
 * these patterns, so an id accepted at one door is accepted at every other.
 */

/** An employee id as the roster and the capture agents spell it. */
export const EMPLOYEE_ID = /^[A-Za-z0-9._@-]{1,128}$/;

const SEGMENT = String.raw`(?!\.{1,2}(?:/|$))[A-Za-z0-9._-]{1,64}`;
/**
 * An org unit: an identifier, or a path of up to 8 of them (`eng/ml/research`). Always matched
 * literally: a grant of `eng` does not include `eng/ml`. `.` and `..` are never a segment.
 */
export const ORG_UNIT = new RegExp(`^(?=.{1,256}$)${SEGMENT}(?:/${SEGMENT}){0,7}$`);

/**
 * A research team id, as grants are keyed and tokens' `teams` claim names them
 * (`team-autocomplete`): starts with a letter or digit, so never empty, `.` or `..`, and never a pattern.
 */
export const TEAM_ID = /^[A-Za-z0-9][A-Za-z0-9._-]{0,127}$/;

/** A record kind (`keystroke`, `screenshot`, ...). */
export const KIND = /^[a-z][a-z0-9_]{0,63}$/;

/** A policy bundle revision, as its `.manifest` names it. */
export const POLICY_REVISION = /^[A-Za-z0-9._:+-]{1,128}$/;

/** A UUID's text without anchors, for patterns that embed one (a stream cursor). */
export const UUID_TEXT = '[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}';
export const UUID = new RegExp(`^${UUID_TEXT}$`, 'i');

/**
 * A record's event id: a random UUID, version 4 or 7 (RFC 9562 variant). Any other version is
 * refused: version 1 carries the capturing device's MAC address and clock, and an id that is not
 * random lets two datasets be joined on it.
 */
export const EVENT_ID = /^[0-9a-f]{8}-[0-9a-f]{4}-[47][0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/i;

/**
 * Text a caller sends that reaches the database: no control characters. PostgreSQL cannot store
 * U+0000 in text at all (SQLSTATE 22021), and no name, region or filter has a use for the others.
 */
export const PLAIN_TEXT = /^[^\u0000-\u001f\u007f]*$/;

/** The instants PostgreSQL and RFC 3339 share: years 0001 to 9999, in UTC. */
const EARLIEST_INSTANT = Date.parse('0001-01-01T00:00:00Z');
const LATEST_INSTANT = Date.parse('9999-12-31T23:59:59.999Z');

/**
 * Milliseconds of an RFC 3339 timestamp with an explicit zone; NaN for an impossible date (30
 * February, hour 24), which Date.parse would silently roll over, and for an instant outside the
 * years 0001-9999 in UTC (`0001-01-01T00:00:00+01:00` is in year 0), which the database refuses
 * or reads as a BC date; undefined when it is not RFC 3339.
 */
export function parseTimestamp(text: string): number | undefined {
  if (!timestampFields(text)) return undefined;
  const { year, month, day, hour, minute, second, millis, offsetSign, offsetHours, offsetMinutes } = FIELDS;
  if (month < 1 || month > 12 || day < 1 || day > daysInMonth(year, month) || hour > 23 || minute > 59 || second > 59 || offsetHours > 23 || offsetMinutes > 59) {
    return Number.NaN;
  }
  // Date.UTC reads years 0-99 as 1900-1999; those few go through the full parser.
  if (year < 100) return inPostgresRange(Date.parse(text));
  const offset = offsetSign * (offsetHours * 60 + offsetMinutes) * 60_000;
  return inPostgresRange(Date.UTC(year, month - 1, day, hour, minute, second, millis) - offset);
}

/** The ASCII digit at `i`, or -1. */
function digitAt(text: string, i: number): number {
  const d = text.charCodeAt(i) - 48;
  return d >= 0 && d <= 9 ? d : -1;
}

/** The number of the `count` ASCII digits from `i`, or -1 when one is not a digit. */
function digitsAt(text: string, i: number, count: number): number {
  let value = 0;
  for (let k = 0; k < count; k++) {
    const d = digitAt(text, i + k);
    if (d < 0) return -1;
    value = value * 10 + d;
  }
  return value;
}

/** Where {@link timestampFields} leaves what it read: one object for every call, none per record. */
const FIELDS = { year: 0, month: 0, day: 0, hour: 0, minute: 0, second: 0, millis: 0, offsetSign: 0, offsetHours: 0, offsetMinutes: 0 };

/**
 * Reads the fields of `YYYY-MM-DDTHH:MM:SS[.fraction]Z|±HH:MM` (the fraction 1-9 digits, of which
 * the milliseconds are the first three, as Date.parse reads them) into {@link FIELDS}, unchecked;
 * false for any other shape. Read by position, as the ingest path does for every record, rather
 * than by a regular expression.
 */
function timestampFields(text: string): boolean {
  if (text.length < 20 || text.length > 35) return false;
  const year = digitsAt(text, 0, 4);
  const month = digitsAt(text, 5, 2);
  const day = digitsAt(text, 8, 2);
  const hour = digitsAt(text, 11, 2);
  const minute = digitsAt(text, 14, 2);
  const second = digitsAt(text, 17, 2);
  if (year < 0 || month < 0 || day < 0 || hour < 0 || minute < 0 || second < 0) return false;
  if (text[4] !== '-' || text[7] !== '-' || text[10] !== 'T' || text[13] !== ':' || text[16] !== ':') return false;
  let at = 19;
  let millis = 0;
  if (text[at] === '.') {
    let digits = 0;
    for (at++; digitAt(text, at) >= 0; at++) {
      if (digits < 3) millis = millis * 10 + digitAt(text, at);
      digits++;
    }
    if (digits < 1 || digits > 9) return false;
    for (let k = digits; k < 3; k++) millis *= 10;
  }
  let offsetSign = 0;
  let offsetHours = 0;
  let offsetMinutes = 0;
  if (text[at] === 'Z' && at + 1 === text.length) offsetSign = 1;
  else if ((text[at] === '+' || text[at] === '-') && at + 6 === text.length && text[at + 3] === ':') {
    offsetSign = text[at] === '-' ? -1 : 1;
    offsetHours = digitsAt(text, at + 1, 2);
    offsetMinutes = digitsAt(text, at + 4, 2);
    if (offsetHours < 0 || offsetMinutes < 0) return false;
  } else return false;
  FIELDS.year = year;
  FIELDS.month = month;
  FIELDS.day = day;
  FIELDS.hour = hour;
  FIELDS.minute = minute;
  FIELDS.second = second;
  FIELDS.millis = millis;
  FIELDS.offsetSign = offsetSign;
  FIELDS.offsetHours = offsetHours;
  FIELDS.offsetMinutes = offsetMinutes;
  return true;
}

const inPostgresRange = (ms: number) => (ms < EARLIEST_INSTANT || ms > LATEST_INSTANT ? Number.NaN : ms);

const DAYS_IN_MONTH = [31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31];

function daysInMonth(year: number, month: number): number {
  const leap = year % 4 === 0 && (year % 100 !== 0 || year % 400 === 0);
  return month === 2 && leap ? 29 : DAYS_IN_MONTH[month - 1]!;
}

const HEX = Array.from({ length: 256 }, (_, i) => i.toString(16).padStart(2, '0'));

/** The UUID whose 16 bytes start at `at`, in its lower-case text form (as a uuid column gives it). */
export function uuidFromBytes(bytes: Uint8Array, at: number): string {
  let text = '';
  for (let i = 0; i < 16; i++) text += (i === 4 || i === 6 || i === 8 || i === 10 ? '-' : '') + HEX[bytes[at + i]!];
  return text;
}

export const isEmployeeId = (v: unknown): v is string => typeof v === 'string' && EMPLOYEE_ID.test(v);
export const isOrgUnit = (v: unknown): v is string => typeof v === 'string' && ORG_UNIT.test(v);
export const isTeamId = (v: unknown): v is string => typeof v === 'string' && TEAM_ID.test(v);
export const isKind = (v: unknown): v is string => typeof v === 'string' && KIND.test(v);
export const isUuid = (v: unknown): v is string => typeof v === 'string' && UUID.test(v);
export const isPlainText = (v: unknown): v is string => typeof v === 'string' && PLAIN_TEXT.test(v);
