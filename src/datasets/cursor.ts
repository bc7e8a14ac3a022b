import { createCipheriv, createHmac, hkdfSync, timingSafeEqual } from 'node:crypto';

/** A position in a dataset's stream: which of its org units, and the last record sent in it. */
export interface StreamPosition {
  readonly unit: number;
  readonly capturedAtMs: number;
  readonly eventId: string;
}

const PREFIX = 'c1.';
const SIV_BYTES = 16;
const POSITION_BYTES = 2 + 8 + 16;
const CURSOR_TEXT = new RegExp(`^${PREFIX.replace('.', '\\.')}[A-Za-z0-9_-]{${((SIV_BYTES + POSITION_BYTES) * 4) / 3}}$`);
const MAX_DATE_MS = 8.64e15;
const CURSOR_KEYS_INFO = 'activity-vault dataset cursor v1';

function encodePosition(p: StreamPosition): Buffer {
  const bytes = Buffer.alloc(POSITION_BYTES);
  bytes.writeUInt16BE(p.unit, 0);
  bytes.writeBigInt64BE(BigInt(p.capturedAtMs), 2);
  bytes.write(p.eventId.replaceAll('-', ''), 10, 'hex');
  return bytes;
}

function decodePosition(bytes: Buffer, unitCount: number): StreamPosition | undefined {
  const unit = bytes.readUInt16BE(0);
  const capturedAtMs = Number(bytes.readBigInt64BE(2));
  if (unit >= unitCount || Math.abs(capturedAtMs) > MAX_DATE_MS) return undefined;
  const hex = bytes.subarray(10).toString('hex');
  return { unit, capturedAtMs, eventId: `${hex.slice(0, 8)}-${hex.slice(8, 12)}-${hex.slice(12, 16)}-${hex.slice(16, 20)}-${hex.slice(20)}` };
}

/**
 * Seals one dataset's stream positions into opaque cursors, and opens only its own. A cursor is
 * deterministic authenticated encryption (SIV: HMAC-SHA256 of the position as the IV and tag,
 * AES-256-CTR under it) with two keys derived by HKDF from the dataset's wrapped secret. The raw
 * event id never leaves, so two datasets holding the same record cannot be joined on their
 * cursors, and a cursor of another dataset, or a tampered one, does not open.
 */
export class CursorSeal {
  readonly #macKey: Buffer;
  readonly #encKey: Buffer;

  constructor(datasetSecret: Uint8Array, datasetId: string) {
    const keys = Buffer.from(hkdfSync('sha256', datasetSecret, datasetId, CURSOR_KEYS_INFO, 64));
    this.#macKey = keys.subarray(0, 32);
    this.#encKey = keys.subarray(32);
  }

  seal(position: StreamPosition): string {
    const plain = encodePosition(position);
    const siv = createHmac('sha256', this.#macKey).update(plain).digest().subarray(0, SIV_BYTES);
    const sealed = createCipheriv('aes-256-ctr', this.#encKey, siv).update(plain);
    return PREFIX + Buffer.concat([siv, sealed]).toString('base64url');
  }

  /** The position `text` seals, or undefined when it is not a cursor of this dataset (or not one at all). */
  open(text: string, unitCount: number): StreamPosition | undefined {
    if (!CURSOR_TEXT.test(text)) return undefined;
    const bytes = Buffer.from(text.slice(PREFIX.length), 'base64url');
    if (bytes.length !== SIV_BYTES + POSITION_BYTES) return undefined;
    const siv = bytes.subarray(0, SIV_BYTES);
    const plain = createCipheriv('aes-256-ctr', this.#encKey, siv).update(bytes.subarray(SIV_BYTES));
    const expected = createHmac('sha256', this.#macKey).update(plain).digest().subarray(0, SIV_BYTES);
    if (!timingSafeEqual(expected, siv)) return undefined;
    return decodePosition(plain, unitCount);
  }

  /** Whether `text` has a cursor's shape at all (so that a failed open is tampering, not noise). */
  static looksLikeCursor(text: string): boolean {
    return CURSOR_TEXT.test(text);
  }

  destroy(): void {
    this.#macKey.fill(0);
    this.#encKey.fill(0);
  }
}
