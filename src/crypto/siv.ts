import { createCipheriv, timingSafeEqual, type Cipher } from 'node:crypto';

const BLOCK = 16;
const SLOT = 2 * BLOCK;
const SEALED_SLOT = BLOCK + SLOT;

/** One AES-256 block permutation; ECB over whole blocks keeps no state from one call to the next. */
function blockCipher(key: Uint8Array): Cipher {
  return createCipheriv('aes-256-ecb', key, null).setAutoPadding(false);
}

function encryptBlocks(aes: Cipher | undefined, blocks: Buffer): Buffer {
  if (!aes) throw new TypeError('FixedLengthSiv was destroyed');
  const out = aes.update(blocks);
  if (out.length !== blocks.length) throw new Error('AES-ECB returned a partial block');
  return out;
}

// A page's worth of 16-byte blocks is moved and XORed as 32-bit words: in V8 that is several
// times faster than byte loops or a Buffer view a block. XOR and copies do not care about byte order.
function words(buf: Buffer): Int32Array {
  if (buf.byteOffset % 4 !== 0) throw new TypeError('buffer is not 4-byte aligned');
  return new Int32Array(buf.buffer, buf.byteOffset, buf.length >> 2);
}

/**
 * Deterministic authenticated encryption of many short messages of one fixed length, in a few AES
 * calls per batch rather than several cipher objects per message.
 *
 * The shape is SIV (Rogaway and Shrimpton, 2006; RFC 5297): a PRF of the message is the tag and the
 * CTR starting block, under a second, independent key. The PRF is CBC-MAC over the message
 * zero-padded to two blocks: CBC-MAC is a secure PRF on messages of one fixed length (Bellare,
 * Kilian and Rogaway), which is why the length is fixed at construction, and why RFC 5297's CMAC
 * subkeys (there for varying lengths) are not needed. Forging a sealed message, or making one open
 * to anything but what was sealed, then means guessing a 128-bit tag. Equal messages give equal
 * output under one key; that is the point (a stable opaque handle) and all the output reveals.
 * Both AES contexts are built once and reused: ECB has no chaining, so one context serves every
 * block of every batch.
 */
export class FixedLengthSiv {
  /** Bytes a sealed message adds: its tag. */
  static readonly TAG_BYTES = BLOCK;
  /** Each message's room in the buffer given to `sealMany`. */
  static readonly SLOT_BYTES = SLOT;
  /** Each sealed message's room in the buffer `sealMany` returns; its first `sealedBytes` count. */
  static readonly SEALED_SLOT_BYTES = SEALED_SLOT;
  readonly messageBytes: number;
  readonly sealedBytes: number;
  #mac: Cipher | undefined;
  #ctr: Cipher | undefined;

  /** `macKey` and `encKey` are independent 32-byte keys; messages are 1 to 32 bytes, all `messageBytes` long. */
  constructor(macKey: Uint8Array, encKey: Uint8Array, messageBytes: number) {
    if (!Number.isInteger(messageBytes) || messageBytes < 1 || messageBytes > SLOT) throw new TypeError(`FixedLengthSiv seals messages of 1 to ${SLOT} bytes`);
    this.messageBytes = messageBytes;
    this.sealedBytes = BLOCK + messageBytes;
    this.#mac = blockCipher(macKey);
    this.#ctr = blockCipher(encKey);
  }

  /**
   * Seals one message per `SLOT_BYTES` of `slots` (each in its slot's first `messageBytes`; the
   * rest is ignored) and returns, per `SEALED_SLOT_BYTES`, its tag and ciphertext (`sealedBytes`).
   * `slots` held plaintext and is zeroed on return.
   */
  sealMany(slots: Buffer): Buffer {
    if (slots.length % SLOT !== 0) throw new TypeError(`slots is not a whole number of ${SLOT}-byte slots`);
    const n = slots.length / SLOT;
    const plain = slots.byteOffset % 4 === 0 ? slots : Buffer.from(slots);
    for (let i = 0; i < n; i++) {
      for (let j = i * SLOT + this.messageBytes; j < (i + 1) * SLOT; j++) plain[j] = 0;
    }
    const tags = this.#tags(plain, n);
    const keystream = words(encryptBlocks(this.#ctr, counterBlocks(tags, n)));
    const [t, p] = [words(tags), words(plain)];
    const sealed = Buffer.allocUnsafe(n * SEALED_SLOT);
    const s = words(sealed);
    for (let i = 0, ts = 0, ps = 0, ss = 0; i < n; i++, ts += 8, ps += 8, ss += 12) {
      for (let w = 0; w < 4; w++) s[ss + w] = t[ts + w]!;
      for (let w = 0; w < 8; w++) s[ss + 4 + w] = p[ps + w]! ^ keystream[ps + w]!;
    }
    plain.fill(0);
    slots.fill(0);
    return sealed;
  }

  /** The message `sealed` holds, or undefined when it was not sealed under these keys or was altered. */
  open(sealed: Uint8Array): Buffer | undefined {
    if (sealed.length !== this.sealedBytes) return undefined;
    const tag = Buffer.alloc(SLOT);
    tag.set(sealed.subarray(0, BLOCK));
    const keystream = encryptBlocks(this.#ctr, counterBlocks(tag, 1));
    const plain = Buffer.alloc(SLOT);
    for (let j = 0; j < this.messageBytes; j++) plain[j] = sealed[BLOCK + j]! ^ keystream[j]!;
    const expected = this.#tags(plain, 1).subarray(0, BLOCK);
    if (!timingSafeEqual(expected, tag.subarray(0, BLOCK))) {
      plain.fill(0);
      return undefined;
    }
    return plain.subarray(0, this.messageBytes);
  }

  /**
   * Drops both AES contexts. node:crypto cannot wipe an OpenSSL context from JavaScript, so the key
   * schedules go when the contexts are collected; the caller zeroes the raw keys it passed in.
   */
  destroy(): void {
    this.#mac = undefined;
    this.#ctr = undefined;
  }

  /**
   * CBC-MAC of each zero-padded two-block slot, in the first block of the slot returned. Both calls
   * run over whole slots, so one AES block a message is wasted: cheaper than gathering the blocks.
   */
  #tags(slots: Buffer, n: number): Buffer {
    const chained = encryptBlocks(this.#mac, slots);
    const [c, p] = [words(chained), words(slots)];
    for (let i = 0, at = 0; i < n; i++, at += 8) {
      for (let w = 0; w < 4; w++) c[at + w]! ^= p[at + 4 + w]!;
    }
    return encryptBlocks(this.#mac, chained);
  }
}

/** The tag T in each slot's first block becomes the CTR blocks T and T+1 (mod 2^128), in place. */
function counterBlocks(tags: Buffer, n: number): Buffer {
  const w = words(tags);
  for (let i = 0, at = 0; i < n; i++, at += 8) {
    for (let k = 0; k < 4; k++) w[at + 4 + k] = w[at + k]!;
    for (let j = i * SLOT + SLOT - 1; j >= i * SLOT + BLOCK; j--) {
      tags[j] = (tags[j]! + 1) & 0xff;
      if (tags[j] !== 0) break;
    }
  }
  return tags;
}
