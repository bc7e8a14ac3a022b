import { VaultError } from '../errors/index.js';

export const KEY_BYTES = 32;
export const NONCE_BYTES = 24;
export const TAG_BYTES = 16;

/**
 * XChaCha20-Poly1305-IETF from libsodium. Two bindings produce identical ciphertexts: the native
 * one (sodium-native, ~4x faster, see docs/adr/0002) and the WebAssembly one (libsodium-wrappers),
 * used where the native binary cannot load.
 */
export interface Aead {
  readonly name: 'native' | 'wasm';
  /** Writes ciphertext||tag of `plaintext` into `target` (exactly plaintext.length + 16 bytes). */
  sealInto(target: Uint8Array, key: Uint8Array, nonce: Uint8Array, plaintext: Uint8Array, aad: Uint8Array): void;
  /** Returns the plaintext, or throws `ERR_DECRYPT_FAILED`; never returns unauthenticated bytes. */
  open(key: Uint8Array, nonce: Uint8Array, ciphertext: Uint8Array, aad: Uint8Array): Buffer;
  /**
   * Writes the plaintext into `target` (exactly ciphertext.length - 16 bytes), or throws
   * `ERR_DECRYPT_FAILED` with `target` zeroed; never leaves unauthenticated bytes there.
   */
  openInto(target: Uint8Array, key: Uint8Array, nonce: Uint8Array, ciphertext: Uint8Array, aad: Uint8Array): void;
  memzero(buf: Uint8Array): void;
}

function decryptFailed(cause?: unknown): VaultError {
  return new VaultError('ERR_DECRYPT_FAILED', 'ciphertext failed authentication', cause === undefined ? undefined : { cause });
}

async function loadNative(): Promise<Aead> {
  const { default: sodium } = await import('sodium-native');
  return {
    name: 'native',
    sealInto(target, key, nonce, plaintext, aad) {
      sodium.crypto_aead_xchacha20poly1305_ietf_encrypt(target, plaintext, aad, null, nonce, key);
    },
    open(key, nonce, ciphertext, aad) {
      if (ciphertext.length < TAG_BYTES) throw decryptFailed();
      const out = Buffer.allocUnsafe(ciphertext.length - TAG_BYTES);
      try {
        sodium.crypto_aead_xchacha20poly1305_ietf_decrypt(out, null, ciphertext, aad, nonce, key);
      } catch {
        out.fill(0);
        throw decryptFailed();
      }
      return out;
    },
    openInto(target, key, nonce, ciphertext, aad) {
      if (ciphertext.length < TAG_BYTES || target.length !== ciphertext.length - TAG_BYTES) throw decryptFailed();
      try {
        sodium.crypto_aead_xchacha20poly1305_ietf_decrypt(target, null, ciphertext, aad, nonce, key);
      } catch {
        target.fill(0);
        throw decryptFailed();
      }
    },
    memzero: (buf) => sodium.sodium_memzero(buf),
  };
}

async function loadWasm(): Promise<Aead> {
  const { default: sodium } = await import('libsodium-wrappers');
  await sodium.ready;
  return {
    name: 'wasm',
    sealInto(target, key, nonce, plaintext, aad) {
      target.set(sodium.crypto_aead_xchacha20poly1305_ietf_encrypt(plaintext, aad, null, nonce, key));
    },
    open(key, nonce, ciphertext, aad) {
      if (ciphertext.length < TAG_BYTES) throw decryptFailed();
      try {
        const out = sodium.crypto_aead_xchacha20poly1305_ietf_decrypt(null, ciphertext, aad, nonce, key);
        return Buffer.from(out.buffer, out.byteOffset, out.byteLength);
      } catch {
        throw decryptFailed();
      }
    },
    openInto(target, key, nonce, ciphertext, aad) {
      if (ciphertext.length < TAG_BYTES || target.length !== ciphertext.length - TAG_BYTES) throw decryptFailed();
      let out: Uint8Array;
      try {
        out = sodium.crypto_aead_xchacha20poly1305_ietf_decrypt(null, ciphertext, aad, nonce, key);
      } catch {
        target.fill(0);
        throw decryptFailed();
      }
      target.set(out);
      sodium.memzero(out);
    },
    memzero: (buf) => sodium.memzero(buf),
  };
}

const loaded = new Map<string, Promise<Aead>>();

/**
 * The AEAD binding: `native` when sodium-native loads, else `wasm`. `prefer` forces one, for
 * tests that prove the two interoperate.
 */
export function loadAead(prefer?: 'native' | 'wasm'): Promise<Aead> {
  const key = prefer ?? 'auto';
  let aead = loaded.get(key);
  if (!aead) {
    aead = prefer === 'wasm' ? loadWasm() : prefer === 'native' ? loadNative() : loadNative().catch(() => loadWasm());
    loaded.set(key, aead);
  }
  return aead;
}
