import { createHash, randomFillSync } from 'node:crypto';
import { constants as fsConstants } from 'node:fs';
import fs from 'node:fs/promises';
import path from 'node:path';
import { VaultError } from '../errors/index.js';
import { KEY_BYTES, type Aead } from './aead.js';
import { envelopeKekFingerprint, KEK_FINGERPRINT_BYTES, openEnvelope, sealEnvelope } from './envelope.js';

export interface DataKeyContext {
  readonly employeeId: string;
  readonly dekVersion: number;
}

/**
 * The root of the key hierarchy. A provider wraps and unwraps data keys; the KEK itself never
 * leaves it, so an HSM or cloud KMS provider implements the same two calls remotely.
 */
export interface KeyProvider {
  /** Stable identifier of the KEK, e.g. `local:3f2a9c1b0d4e5f60`. */
  readonly kekId: string;
  /** The 8 bytes written into envelope headers. */
  readonly kekFingerprint: Buffer;
  wrapDataKey(dek: Uint8Array, context: DataKeyContext): Promise<Buffer>;
  unwrapDataKey(wrapped: Uint8Array, context: DataKeyContext): Promise<Buffer>;
  /** Wraps one of the vault's own secrets (audit MAC key, checkpoint signing key), bound to its name. */
  wrapSecret(name: string, secret: Uint8Array): Promise<Buffer>;
  unwrapSecret(name: string, wrapped: Uint8Array): Promise<Buffer>;
  /** Zeroes key material held in memory; later calls fail with `ERR_KEY_UNAVAILABLE`. */
  close(): void;
}

export function dataKeyWrapContext(kekId: string, context: DataKeyContext): string {
  return JSON.stringify(['activity-vault/dek/v1', context.employeeId, context.dekVersion, kekId]);
}

function secretWrapContext(kekId: string, name: string): string {
  return JSON.stringify(['activity-vault/secret/v1', name, kekId]);
}

function fingerprint(kek: Uint8Array): Buffer {
  return createHash('sha256').update('activity-vault/kek-fingerprint/v1').update(kek).digest().subarray(0, KEK_FINGERPRINT_BYTES);
}

async function readOrCreateKek(file: string, createIfMissing: boolean): Promise<Buffer> {
  try {
    const stat = await fs.stat(file);
    if ((stat.mode & 0o077) !== 0) {
      throw new VaultError('ERR_CONFIG', `KEK file ${file} is readable by group or others; run: chmod 600 ${file}`);
    }
    const kek = await fs.readFile(file);
    if (kek.length !== KEY_BYTES) {
      kek.fill(0);
      throw new VaultError('ERR_CONFIG', `KEK file ${file} must hold exactly ${KEY_BYTES} bytes`);
    }
    return kek;
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw err;
    if (!createIfMissing) throw new VaultError('ERR_KEY_UNAVAILABLE', `KEK file ${file} does not exist`);
  }
  await fs.mkdir(path.dirname(file), { recursive: true, mode: 0o700 });
  const kek = randomFillSync(Buffer.alloc(KEY_BYTES));
  const handle = await fs.open(file, fsConstants.O_WRONLY | fsConstants.O_CREAT | fsConstants.O_EXCL, 0o600);
  try {
    await handle.writeFile(kek);
    await handle.sync();
  } finally {
    await handle.close();
  }
  return kek;
}

/**
 * The local provider: a 32-byte KEK in a file of mode 0600, created on first run when allowed.
 * A file readable by group or others is refused, as ssh refuses a loose private key.
 */
export async function openLocalKeyProvider(options: { file: string; createIfMissing: boolean; aead: Aead }): Promise<KeyProvider> {
  const { aead } = options;
  let kek: Buffer | undefined = await readOrCreateKek(options.file, options.createIfMissing);
  const kekFingerprint = fingerprint(kek);
  const kekId = `local:${kekFingerprint.toString('hex')}`;
  const liveKek = (): Buffer => {
    if (!kek) throw new VaultError('ERR_KEY_UNAVAILABLE', 'key provider is closed');
    return kek;
  };
  // Names the cause when a store's keys were wrapped under another KEK (a wrong VAULT_KEK_FILE),
  // instead of letting it surface as a failed authentication. Fingerprints are public.
  const assertOurKek = (wrapped: Uint8Array): void => {
    const found = envelopeKekFingerprint(wrapped);
    if (!kekFingerprint.equals(found)) {
      const other = Buffer.from(found).toString('hex');
      throw new VaultError('ERR_KEY_UNAVAILABLE', `this key was wrapped under another KEK (local:${other}); the KEK in use is ${kekId}: point VAULT_KEK_FILE at the KEK this store was created with`);
    }
  };
  return {
    kekId,
    kekFingerprint,
    async wrapDataKey(dek, context) {
      return sealEnvelope(aead, liveKek(), kekFingerprint, context.dekVersion, dataKeyWrapContext(kekId, context), dek);
    },
    async unwrapDataKey(wrapped, context) {
      assertOurKek(wrapped);
      return openEnvelope(aead, liveKek(), wrapped, dataKeyWrapContext(kekId, context), context.dekVersion);
    },
    async wrapSecret(name, secret) {
      return sealEnvelope(aead, liveKek(), kekFingerprint, 1, secretWrapContext(kekId, name), secret);
    },
    async unwrapSecret(name, wrapped) {
      assertOurKek(wrapped);
      return openEnvelope(aead, liveKek(), wrapped, secretWrapContext(kekId, name), 1);
    },
    close() {
      if (kek) aead.memzero(kek);
      kek = undefined;
    },
  };
}
