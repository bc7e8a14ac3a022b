import type { EnvelopeContext } from './envelope.js';

/** What a record's ciphertext is bound to: moving it to another row or editing a column breaks it. */
export interface RecordBinding {
  readonly eventId: string;
  readonly employeeId: string;
  readonly orgUnit: string;
  readonly kind: string;
  readonly capturedAt: Date;
  readonly sensitivity: number;
  readonly dekVersion: number;
  /**
   * The classifier's categories (record/v2). Absent or null only for records sealed before
   * classification existed (record/v1); a v2 record opened without them fails authentication.
   */
  readonly categories?: readonly string[] | null;
}

/** Length-prefixed fields: unambiguous for any string, and cheaper than JSON on the hot path. */
export function recordContext(b: RecordBinding): string {
  const fields =
    `|${b.eventId.length}:${b.eventId}|${b.employeeId.length}:${b.employeeId}|${b.orgUnit.length}:${b.orgUnit}` +
    `|${b.kind.length}:${b.kind}|${b.capturedAt.getTime()}|${b.sensitivity}|${b.dekVersion}`;
  if (b.categories == null) return `activity-vault/record/v1${fields}`;
  const categories = b.categories.join(',');
  return `activity-vault/record/v2${fields}|${categories.length}:${categories}`;
}

const V1 = 'activity-vault/record/v1';
const V2 = 'activity-vault/record/v2';
const PIPE = 0x7c;
const COLON = 0x3a;
// A number's decimal text takes at most 24 characters (-1.7976931348623157e+308).
const NUMBER_BYTES = 24;

/** `text` as UTF-8 at `at`; returns where it ends. ASCII byte by byte, the rest by the encoder. */
function putText(target: Buffer, at: number, text: string): number {
  for (let i = 0; i < text.length; i++) {
    const c = text.charCodeAt(i);
    if (c > 0x7f) return at - i + target.write(text, at - i, 'utf8');
    target[at++] = c;
  }
  return at;
}

/** The digits of `n` (0 to 2^31 - 1) at `at`, at least `width` of them (zero-padded); returns where they end. */
function putDigits(target: Buffer, at: number, n: number, width: number): number {
  let digits = 1;
  for (let rest = n; rest >= 10; rest = (rest / 10) | 0) digits++;
  if (digits < width) digits = width;
  for (let i = at + digits - 1; i >= at; i--) {
    const q = (n / 10) | 0;
    target[i] = 0x30 + n - q * 10;
    n = q;
  }
  return at + digits;
}

/**
 * `${n}` at `at`; returns where it ends. Safe integers in integer arithmetic (a capture time's 13
 * digits as two parts under 2^31), anything else as its text.
 */
function putNumber(target: Buffer, at: number, n: number): number {
  if (n >= 0 && n <= 0x7fffffff && (n | 0) === n) return putDigits(target, at, n, 1);
  if (!Number.isSafeInteger(n)) return putText(target, at, String(n));
  if (n < 0) {
    target[at++] = 0x2d;
    n = -n;
  }
  const high = Math.floor(n / 1e9);
  const low = n - high * 1e9;
  return high === 0 ? putDigits(target, at, low, 1) : putDigits(target, putDigits(target, at, high, 1), low, 9);
}

/** `|${text.length}:${text}` at `at`. */
function putField(target: Buffer, at: number, text: string): number {
  target[at++] = PIPE;
  at = putNumber(target, at, text.length);
  target[at++] = COLON;
  return putText(target, at, text);
}

/**
 * {@link recordContext}'s UTF-8, written where the sealer wants it without building the string:
 * on ingest the string and its pieces were the largest allocation left per record.
 */
export const RECORD_CONTEXT: EnvelopeContext<RecordBinding> = {
  maxBytes(b) {
    const categories = b.categories == null ? 0 : b.categories.reduce((n, c) => n + c.length + 1, 0);
    return V2.length + 3 * (b.eventId.length + b.employeeId.length + b.orgUnit.length + b.kind.length + categories) + 8 * (NUMBER_BYTES + 2);
  },
  write(target, at, b) {
    const start = at;
    at = putText(target, at, b.categories == null ? V1 : V2);
    at = putField(target, at, b.eventId);
    at = putField(target, at, b.employeeId);
    at = putField(target, at, b.orgUnit);
    at = putField(target, at, b.kind);
    target[at++] = PIPE;
    at = putNumber(target, at, b.capturedAt.getTime());
    target[at++] = PIPE;
    at = putNumber(target, at, b.sensitivity);
    target[at++] = PIPE;
    at = putNumber(target, at, b.dekVersion);
    if (b.categories != null) {
      const categories = b.categories.length === 1 ? b.categories[0]! : b.categories.join(',');
      at = putField(target, at, categories);
    }
    return at - start;
  },
};
