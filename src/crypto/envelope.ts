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

export function sealEnvelope(
  aead: Aead,
  key: Uint8Array,
  kekFingerprint: Uint8Array,
  dekVersion: number,
  context: string,
  plaintext: Uint8Array,
  nonce: Uint8Array = freshNonces(1),
): Buffer {
  const out = Buffer.allocUnsafe(ENVELOPE_OVERHEAD + plaintext.length);
  sealEnvelopeInto(aead, out, key, kekFingerprint, dekVersion, context, plaintext, nonce);
  return out;
}

/** {@link sealEnvelope} written into `out`, which must be `ENVELOPE_OVERHEAD + plaintext.length` long. */
export function sealEnvelopeInto(aead: Aead, out: Buffer, key: Uint8Array, kekFingerprint: Uint8Array, dekVersion: number, context: string, plaintext: Uint8Array, nonce: Uint8Array): void {
  if (kekFingerprint.length !== KEK_FINGERPRINT_BYTES) throw new TypeError('KEK fingerprint must be 8 bytes');
  if (nonce.length !== NONCE_BYTES) throw new TypeError('nonce must be 24 bytes');
  if (out.length !== ENVELOPE_OVERHEAD + plaintext.length) throw new TypeError('an envelope is its plaintext and ENVELOPE_OVERHEAD bytes');
  out[0] = FORMAT_VERSION;
  out[1] = ALG_XCHACHA20POLY1305;
  out.set(kekFingerprint, 2);
  out.writeUInt32BE(dekVersion, 2 + KEK_FINGERPRINT_BYTES);
  out.set(nonce, HEADER_BYTES);
  const header = out.subarray(0, HEADER_BYTES);
  aead.sealInto(out.subarray(HEADER_BYTES + NONCE_BYTES), key, nonce, plaintext, aadFor(header, context));
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
