import { EVENT_ID, isEmployeeId, isUuid, MAX_PAYLOAD_BYTES, MAX_SENSITIVITY, parseTimestamp } from '../model/index.js';

const EARLIEST_CAPTURE = Date.UTC(2000, 0, 1);
const FUTURE_TOLERANCE_MS = 24 * 3600_000;
/**
 * How deep a payload's arrays and objects may nest. Serialising, canonicalising and classifying a
 * payload recurse (or keep a stack) per level; 20,000 levels overflowed the stack into a 500.
 * Telemetry has no use for more than a handful.
 */
export const MAX_PAYLOAD_DEPTH = 64;
const RECORD_FIELDS = new Set(['event_id', 'employee_id', 'captured_at', 'kind', 'payload', 'sensitivity']);

export interface ParsedRecord {
  readonly index: number;
  readonly eventId: string;
  readonly employeeId: string;
  readonly capturedAt: Date;
  readonly kind: string;
  readonly kindFloor: number;
  readonly declaredSensitivity: number | undefined;
  /** The payload as received, for the classifier. */
  readonly payload: unknown;
  /** The payload serialised as JSON: the bytes that get encrypted. */
  readonly payloadText: string;
}

export type RecordProblem = { readonly error: 'invalid_record' | 'unknown_kind'; readonly message: string };

const invalid = (message: string): RecordProblem => ({ error: 'invalid_record', message });

/**
 * Checks one record of a batch. Messages name the field at fault and never quote its value, so a
 * rejection cannot echo payload content into a response or a log.
 */
export function parseRecord(raw: unknown, index: number, kinds: ReadonlyMap<string, number>, now: number): ParsedRecord | RecordProblem {
  if (typeof raw !== 'object' || raw === null || Array.isArray(raw)) return invalid('a record must be a JSON object');
  const r = raw as Record<string, unknown>;
  for (const field in r) {
    if (!RECORD_FIELDS.has(field) && Object.hasOwn(r, field)) return invalid(/^[a-z_]{1,32}$/.test(field) ? `unknown field "${field}"` : 'unknown field');
  }
  if (typeof r.event_id !== 'string' || !EVENT_ID.test(r.event_id)) return invalid(isUuid(r.event_id) ? eventIdProblem(r.event_id) : 'event_id must be a UUID');
  if (!isEmployeeId(r.employee_id)) return invalid('employee_id must be 1-128 characters of A-Z a-z 0-9 . _ @ -');
  const capturedAt = typeof r.captured_at === 'string' ? parseTimestamp(r.captured_at) : undefined;
  if (capturedAt === undefined) return invalid('captured_at must be an RFC 3339 timestamp with a time zone');
  if (Number.isNaN(capturedAt)) return invalid('captured_at is not a valid date');
  if (capturedAt < EARLIEST_CAPTURE) return invalid('captured_at is before 2000-01-01');
  if (capturedAt > now + FUTURE_TOLERANCE_MS) return invalid('captured_at is more than 24 hours in the future');
  if (typeof r.kind !== 'string' || r.kind.length === 0) return invalid('kind must be a non-empty string');
  const kindFloor = kinds.get(r.kind);
  if (kindFloor === undefined) return { error: 'unknown_kind', message: 'kind is not one of the declared record kinds' };
  if (r.payload === undefined || r.payload === null) return invalid('payload is required');
  let declaredSensitivity: number | undefined;
  if (r.sensitivity !== undefined) {
    if (typeof r.sensitivity !== 'number' || !Number.isInteger(r.sensitivity) || r.sensitivity < 0 || r.sensitivity > MAX_SENSITIVITY) {
      return invalid(`sensitivity must be an integer 0-${MAX_SENSITIVITY}`);
    }
    declaredSensitivity = r.sensitivity;
  }
  if (nestedDeeperThan(r.payload, MAX_PAYLOAD_DEPTH)) return invalid(`payload is nested deeper than ${MAX_PAYLOAD_DEPTH} levels`);
  const payloadText = JSON.stringify(r.payload);
  if (payloadText.length > MAX_PAYLOAD_BYTES / 3 && Buffer.byteLength(payloadText) > MAX_PAYLOAD_BYTES) return invalid(`payload is larger than ${MAX_PAYLOAD_BYTES} bytes`);
  return {
    index,
    eventId: r.event_id.toLowerCase(),
    employeeId: r.employee_id,
    capturedAt: new Date(capturedAt),
    kind: r.kind,
    kindFloor,
    declaredSensitivity,
    payload: r.payload,
    payloadText,
  };
}

function eventIdProblem(eventId: string): string {
  const version = eventId[14]!.toLowerCase();
  if (version === '1') return "event_id is a version 1 UUID, which carries the device's MAC address and clock: send a random UUID (version 4 or 7)";
  if (!'89ab'.includes(eventId[19]!.toLowerCase())) return 'event_id is not an RFC 9562 UUID: send a random UUID (version 4 or 7)';
  return `event_id is a version ${version} UUID, which is not random: send a random UUID (version 4 or 7)`;
}

/** Walks arrays and objects with an explicit stack, so the check cannot overflow what it guards. */
function nestedDeeperThan(value: unknown, limit: number): boolean {
  if (isFlatObject(value)) return limit < 1;
  const stack: Array<[unknown, number]> = [[value, 0]];
  for (let top = stack.pop(); top; top = stack.pop()) {
    const [node, depth] = top;
    if (typeof node !== 'object' || node === null) continue;
    if (depth >= limit) return true;
    for (const child of Array.isArray(node) ? node : Object.values(node)) {
      if (typeof child === 'object' && child !== null) stack.push([child, depth + 1]);
    }
  }
  return false;
}

/** An object none of whose values is an object or array: most payloads, checked without a stack. */
function isFlatObject(value: unknown): boolean {
  if (typeof value !== 'object' || value === null || Array.isArray(value)) return false;
  for (const key in value) {
    if (!Object.hasOwn(value, key)) continue;
    const child = (value as Record<string, unknown>)[key];
    if (typeof child === 'object' && child !== null) return false;
  }
  return true;
}
