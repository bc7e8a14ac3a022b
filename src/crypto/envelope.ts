import { randomFillSync } from 'node:crypto';
import { VaultError } from '../errors/index.js';
import { NONCE_BYTES, TAG_BYTES, type Aead } from './aead.js';

/*
 * Envelope layout (all integers big-endian):
 *   0      format version (1)
 *   1      algorithm (1 = XChaCha20-Poly1305-IETF)
 *   2..9   fingerprint of the KEK that wrapped the data key
 *   10..13 data-key version
 *   14..37 nonce
 *   38..   ciphertext || tag
 * The header (bytes 0..13) is part of the AAD, so none of it can be edited without failing
 * authentication; the caller's context (record or key binding) follows it in the AAD.
 */
export const FORMAT_VERSION = 1;
export const ALG_XCHACHA20POLY1305 = 1;
export const KEK_FINGERPRINT_BYTES = 8;
const HEADER_BYTES = 2 + KEK_FINGERPRINT_BYTES + 4;
export const ENVELOPE_OVERHEAD = HEADER_BYTES + NONCE_BYTES + TAG_BYTES;

export interface EnvelopeHeader {
  readonly formatVersion: number;
  readonly algorithm: number;
  readonly kekFingerprint: string;
  readonly dekVersion: number;
}

function malformed(): VaultError {
  return new VaultError('ERR_DECRYPT_FAILED', 'ciphertext envelope is malformed');
}

/** Checks format and algorithm and returns the data-key version, allocating nothing (once per record read). */
function checkedDekVersion(envelope: Uint8Array): number {
  if (envelope.length < ENVELOPE_OVERHEAD || envelope[0] !== FORMAT_VERSION || envelope[1] !== ALG_XCHACHA20POLY1305) throw malformed();
  const at = 2 + KEK_FINGERPRINT_BYTES;
  return ((envelope[at]! << 24) | (envelope[at + 1]! << 16) | (envelope[at + 2]! << 8) | envelope[at + 3]!) >>> 0;
}

/** The bytes naming the KEK that wrapped the envelope's key (a view, not a copy). */
export function envelopeKekFingerprint(envelope: Uint8Array): Uint8Array {
  checkedDekVersion(envelope);
  return envelope.subarray(2, 2 + KEK_FINGERPRINT_BYTES);
}

/** Reads the self-describing header; throws `ERR_DECRYPT_FAILED` for an unknown format or algorithm. */
export function readEnvelopeHeader(envelope: Uint8Array): EnvelopeHeader {
  const dekVersion = checkedDekVersion(envelope);
  return {
    formatVersion: FORMAT_VERSION,
    algorithm: ALG_XCHACHA20POLY1305,
    kekFingerprint: Buffer.from(envelopeKekFingerprint(envelope)).toString('hex'),
    dekVersion,
  };
}

function aadFor(header: Uint8Array, context: string): Buffer {
  const contextBytes = Buffer.byteLength(context);
  const aad = Buffer.allocUnsafe(HEADER_BYTES + contextBytes);
  aad.set(header, 0);
  aad.write(context, HEADER_BYTES, contextBytes, 'utf8');
  return aad;
}

/** A block of fresh nonces from the OS CSPRNG, one call for a whole batch. */
export function freshNonces(count: number): Buffer {
  return randomFillSync(Buffer.allocUnsafe(count * NONCE_BYTES));
}

/** Writes an envelope's header (format, algorithm, KEK fingerprint, data-key version) at `at` in `out`. */
function writeHeader(out: Buffer, at: number, kekFingerprint: Uint8Array, dekVersion: number): void {
  out[at] = FORMAT_VERSION;
  out[at + 1] = ALG_XCHACHA20POLY1305;
  out.set(kekFingerprint, at + 2);
  out.writeUInt32BE(dekVersion, at + 2 + KEK_FINGERPRINT_BYTES);
}

export function sealEnvelope(
  aead: Aead,
  key: Uint8Array,
  kekFingerprint: Uint8Array,
  dekVersion: number,
  context: string,
  plaintext: Uint8Array,
  nonce: Uint8Array = freshNonces(1),
): Buffer {
  if (kekFingerprint.length !== KEK_FINGERPRINT_BYTES) throw new TypeError('KEK fingerprint must be 8 bytes');
  if (nonce.length !== NONCE_BYTES) throw new TypeError('nonce must be 24 bytes');
  const out = Buffer.allocUnsafe(ENVELOPE_OVERHEAD + plaintext.length);
  writeHeader(out, 0, kekFingerprint, dekVersion);
  out.set(nonce, HEADER_BYTES);
  aead.sealInto(out.subarray(HEADER_BYTES + NONCE_BYTES), key, nonce, plaintext, aadFor(out.subarray(0, HEADER_BYTES), context));
  return out;
}

/** How a run of envelopes writes each one's context into its AAD, with no string of its own. */
export interface EnvelopeContext<T> {
  /** At most how many bytes `write` puts down for `source`. */
  maxBytes(source: T): number;
  /** Writes the context of `source` at `at` in `target`; returns how many bytes it wrote. */
  write(target: Buffer, at: number, source: T): number;
}

/**
 * Envelopes sealed back to back into one buffer, `out`: the nonces drawn at once, and the AAD and
 * the plaintext's UTF-8 written into scratch kept from one envelope to the next, so a record costs
 * no allocation but the three views libsodium takes. `wipe` zeroes the plaintext scratch; call it
 * when the run ends, also when it fails.
 */
export class EnvelopeRun<T> {
  readonly #aead: Aead;
  readonly #out: Buffer;
  readonly #kekFingerprint: Uint8Array;
  readonly #context: EnvelopeContext<T>;
  readonly #nonces: Buffer;
  readonly #nonce = Buffer.allocUnsafeSlow(NONCE_BYTES);
  readonly #plaintext: Buffer;
  #aad = Buffer.allocUnsafeSlow(HEADER_BYTES + 512);
  #at = 0;
  #sealed = 0;

  /** For `count` envelopes into `out`, none of a plaintext over `widest` bytes. */
  constructor(aead: Aead, out: Buffer, kekFingerprint: Uint8Array, context: EnvelopeContext<T>, count: number, widest: number) {
    if (kekFingerprint.length !== KEK_FINGERPRINT_BYTES) throw new TypeError('KEK fingerprint must be 8 bytes');
    this.#aead = aead;
    this.#out = out;
    this.#kekFingerprint = kekFingerprint;
    this.#context = context;
    this.#nonces = freshNonces(count);
    // Room past the widest: a text longer than its stated `bytes` then writes more than them and is refused, never cut to fit.
    this.#plaintext = Buffer.allocUnsafeSlow(widest + 4);
  }

  /** Seals `plaintext`, `bytes` of UTF-8, after the envelope before; returns where its envelope ends in `out`. */
  seal(key: Uint8Array, dekVersion: number, context: T, plaintext: string, bytes: number): number {
    const out = this.#out;
    const at = this.#at;
    const end = at + ENVELOPE_OVERHEAD + bytes;
    const nonces = this.#nonces;
    const first = this.#sealed * NONCE_BYTES;
    if (end > out.length || first + NONCE_BYTES > nonces.length) throw new TypeError('the run holds no more envelopes');
    if (bytes > this.#plaintext.length - 4 || this.#plaintext.write(plaintext, 0, 'utf8') !== bytes) throw new TypeError('a payload is not as long as stated');
    writeHeader(out, at, this.#kekFingerprint, dekVersion);
    const nonce = this.#nonce;
    for (let i = 0; i < NONCE_BYTES; i++) out[at + HEADER_BYTES + i] = nonce[i] = nonces[first + i]!;
    this.#sealed++;
    const room = HEADER_BYTES + this.#context.maxBytes(context);
    if (this.#aad.length < room) this.#aad = Buffer.allocUnsafeSlow(room);
    const aad = this.#aad;
    for (let i = 0; i < HEADER_BYTES; i++) aad[i] = out[at + i]!;
    const aadBytes = HEADER_BYTES + this.#context.write(aad, HEADER_BYTES, context);
    this.#aead.sealInto(out.subarray(at + HEADER_BYTES + NONCE_BYTES, end), key, nonce, this.#plaintext.subarray(0, bytes), aad.subarray(0, aadBytes));
    this.#at = end;
    return end;
  }

  wipe(): void {
    this.#aead.memzero(this.#plaintext);
  }
}

/** How many bytes of plaintext `envelope` holds (0 for one too short to be an envelope, which does not open). */
export function envelopePlaintextBytes(envelope: Uint8Array): number {
  return Math.max(0, envelope.length - ENVELOPE_OVERHEAD);
}

/** {@link openEnvelope} into `target`, which must be {@link envelopePlaintextBytes} long; zeroed when it fails. */
export function openEnvelopeInto(aead: Aead, key: Uint8Array, envelope: Uint8Array, context: string, expectedDekVersion: number, target: Uint8Array): void {
  try {
    if (checkedDekVersion(envelope) !== expectedDekVersion) throw new VaultError('ERR_DECRYPT_FAILED', 'ciphertext failed authentication');
    aead.openInto(
      target,
      key,
      envelope.subarray(HEADER_BYTES, HEADER_BYTES + NONCE_BYTES),
      envelope.subarray(HEADER_BYTES + NONCE_BYTES),
      aadFor(envelope.subarray(0, HEADER_BYTES), context),
    );
  } catch (err) {
    target.fill(0);
    throw err;
  }
}

export function openEnvelope(aead: Aead, key: Uint8Array, envelope: Uint8Array, context: string, expectedDekVersion: number): Buffer {
  if (checkedDekVersion(envelope) !== expectedDekVersion) throw new VaultError('ERR_DECRYPT_FAILED', 'ciphertext failed authentication');
  return aead.open(
    key,
    envelope.subarray(HEADER_BYTES, HEADER_BYTES + NONCE_BYTES),
    envelope.subarray(HEADER_BYTES + NONCE_BYTES),
    aadFor(envelope.subarray(0, HEADER_BYTES), context),
  );
}
