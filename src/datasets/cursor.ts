import { hkdfSync } from 'node:crypto';
import { FixedLengthSiv } from '../crypto/index.js';
import { uuidFromBytes } from '../model/index.js';

/** A position in a dataset's stream: which of its org units, and the last record sent in it. */
export interface StreamPosition {
  readonly unit: number;
  readonly capturedAtMs: number;
  readonly eventId: string;
}

// c1 cursors (HMAC-SHA256 and AES-CTR objects a line) are refused like any cursor that does not
// open (400, audited): they only ever resume a lease, and a lease lasts at most 24 hours.
const PREFIX = 'c2.';
const POSITION_BYTES = 2 + 8 + 16;
const SEALED_BYTES = FixedLengthSiv.TAG_BYTES + POSITION_BYTES;
// 42 bytes is a multiple of 3, so base64url has no spare bits: one text per sealed value, and
// any change of case or character changes the bytes the tag covers.
const CURSOR_TEXT = new RegExp(`^${PREFIX.replace('.', '\\.')}[A-Za-z0-9_-]{${(SEALED_BYTES * 4) / 3}}$`);
const MAX_DATE_MS = 8.64e15;
const TWO_32 = 2 ** 32;
const CURSOR_KEYS_INFO = 'activity-vault dataset cursor v2';

const NIBBLE = new Int8Array(128).fill(-1);
for (let i = 0; i < 16; i++) NIBBLE['0123456789abcdef'.charCodeAt(i)] = NIBBLE['0123456789ABCDEF'.charCodeAt(i)] = i;

/**
 * The event id's 16 bytes. Not `Buffer.write(hex)`: it stops silently at the first non-hex
 * character, and would seal a truncated id. Ids come from a uuid column, so anything else is a bug.
 */
function writeUuid(id: string, into: Buffer, at: number): void {
  if (id.length !== 36) throw new TypeError('event id is not a UUID');
  let out = at;
  for (let i = 0; i < 36; i++) {
    if (i === 8 || i === 13 || i === 18 || i === 23) {
      if (id.charCodeAt(i) !== 45) throw new TypeError('event id is not a UUID');
      continue;
    }
    const hi = NIBBLE[id.charCodeAt(i)] ?? -1;
    const lo = NIBBLE[id.charCodeAt(i + 1)] ?? -1;
    if (hi < 0 || lo < 0) throw new TypeError('event id is not a UUID');
    into[out++] = (hi << 4) | lo;
    i++;
  }
}

function writePosition(p: StreamPosition, into: Buffer, at: number): void {
  if (!Number.isSafeInteger(p.capturedAtMs) || Math.abs(p.capturedAtMs) > MAX_DATE_MS) throw new TypeError('capturedAtMs is not a date');
  into.writeUInt16BE(p.unit, at);
  // The int64 of the time, without a BigInt a line: high word signed, low word unsigned.
  const high = Math.floor(p.capturedAtMs / TWO_32);
  into.writeInt32BE(high, at + 2);
  into.writeUInt32BE(p.capturedAtMs - high * TWO_32, at + 6);
  writeUuid(p.eventId, into, at + 10);
}

function readPosition(bytes: Buffer, unitCount: number): StreamPosition | undefined {
  const unit = bytes.readUInt16BE(0);
  const capturedAtMs = bytes.readInt32BE(2) * TWO_32 + bytes.readUInt32BE(6);
  if (unit >= unitCount || Math.abs(capturedAtMs) > MAX_DATE_MS) return undefined;
  return { unit, capturedAtMs, eventId: uuidFromBytes(bytes, 10) };
}

/**
 * Seals one dataset's stream positions into opaque cursors, and opens only its own. A cursor is
 * the position (org unit, time, event id) under deterministic authenticated encryption (AES-256
 * SIV, see `FixedLengthSiv`) with two keys derived by HKDF from the dataset's wrapped secret and its
 * id. The raw event id never leaves, so two datasets holding the same record cannot be joined on
 * their cursors, and a cursor of another dataset (or shard), or a tampered one, does not open.
 */
export class CursorSeal {
  readonly #keys: Buffer;
  readonly #siv: FixedLengthSiv;

  /**
   * A shard of the stream (`of` > 1) has cursor keys of its own: a cursor resumes only the shard
   * that sent it, since in another it would skip that shard's records or repeat the others'.
   */
  constructor(datasetSecret: Uint8Array, datasetId: string, shard?: { readonly index: number; readonly of: number }) {
    const info = shard && shard.of > 1 ? `${CURSOR_KEYS_INFO} shard ${shard.index}/${shard.of}` : CURSOR_KEYS_INFO;
    this.#keys = Buffer.from(hkdfSync('sha256', datasetSecret, datasetId, info, 64));
    this.#siv = new FixedLengthSiv(this.#keys.subarray(0, 32), this.#keys.subarray(32), POSITION_BYTES);
  }

  /**
   * Seals the cursors of a whole page at once (a handful of AES calls a page, not cipher objects
   * a line) and returns each row's cursor by the row itself.
   *
   * @example
   * const cursorOf = seal.sealPage(rows, (row) => ({ unit, capturedAtMs: row.captured_at.getTime(), eventId: row.event_id }));
   * cursorOf(rows[0]); // 'c2.…'
   */
  sealPage<Row extends object>(rows: readonly Row[], positionOf: (row: Row) => StreamPosition): (row: Row) => string {
    const slots = Buffer.alloc(rows.length * FixedLengthSiv.SLOT_BYTES);
    rows.forEach((row, i) => writePosition(positionOf(row), slots, i * FixedLengthSiv.SLOT_BYTES));
    const sealed = this.#siv.sealMany(slots);
    const cursors = new Map<Row, string>();
    rows.forEach((row, i) => {
      const at = i * FixedLengthSiv.SEALED_SLOT_BYTES;
      cursors.set(row, PREFIX + sealed.toString('base64url', at, at + SEALED_BYTES));
    });
    return (row) => {
      const cursor = cursors.get(row);
      if (cursor === undefined) throw new TypeError('row is not on the sealed page');
      return cursor;
    };
  }

  /** The cursor of one position. */
  seal(position: StreamPosition): string {
    return this.sealPage([position], (p) => p)(position);
  }

  /** The position `text` seals, or undefined when it is not a cursor of this dataset (or not one at all). */
  open(text: string, unitCount: number): StreamPosition | undefined {
    if (!CURSOR_TEXT.test(text)) return undefined;
    const plain = this.#siv.open(Buffer.from(text.slice(PREFIX.length), 'base64url'));
    return plain && readPosition(plain, unitCount);
  }

  /** Whether `text` has a cursor's shape at all (so that a failed open is tampering, not noise). */
  static looksLikeCursor(text: string): boolean {
    return CURSOR_TEXT.test(text);
  }

  destroy(): void {
    this.#siv.destroy();
    this.#keys.fill(0);
  }
}
