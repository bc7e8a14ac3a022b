import { createHash, randomFillSync } from 'node:crypto';
import { constants as fsConstants } from 'node:fs';
import fs from 'node:fs/promises';
import path from 'node:path';
import { VaultError } from '../errors/index.js';
import { KEY_BYTES, type Aead } from './aead.js';
import { envelopeKekFingerprint, KEK_FINGERPRINT_BYTES, openEnvelope, sealEnvelope } from './envelope.js';
import type { DataKeyContext, KeyProvider } from './key-provider.js';

function dataKeyWrapContext(kekId: string, context: DataKeyContext): string {
  return JSON.stringify(['activity-vault/dek/v1', context.employeeId, context.dekVersion, kekId]);
}

function secretWrapContext(kekId: string, name: string): string {
  return JSON.stringify(['activity-vault/secret/v1', name, kekId]);
}

function fingerprint(kek: Uint8Array): Buffer {
  return createHash('sha256').update('activity-vault/kek-fingerprint/v1').update(kek).digest().subarray(0, KEK_FINGERPRINT_BYTES);
}

const idOf = (fp: Uint8Array): string => `local:${Buffer.from(fp).toString('hex')}`;

async function readKek(file: string): Promise<Buffer | undefined> {
  let stat;
  try {
    stat = await fs.stat(file);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    throw err;
  }
  if ((stat.mode & 0o077) !== 0) {
    throw new VaultError('ERR_CONFIG', `KEK file ${file} is readable by group or others; run: chmod 600 ${file}`);
  }
  const kek = await fs.readFile(file);
  if (kek.length !== KEY_BYTES) {
    kek.fill(0);
    throw new VaultError('ERR_CONFIG', `KEK file ${file} must hold exactly ${KEY_BYTES} bytes`);
  }
  return kek;
}

/** Writes `bytes` to `file` so that a crash leaves the old content or the new, never a torn file. */
async function writeDurably(file: string, bytes: Uint8Array, exclusive: boolean): Promise<void> {
  const dir = path.dirname(file);
  await fs.mkdir(dir, { recursive: true, mode: 0o700 });
  const temp = `${file}.tmp-${process.pid}-${randomFillSync(Buffer.alloc(4)).toString('hex')}`;
  const handle = await fs.open(temp, fsConstants.O_WRONLY | fsConstants.O_CREAT | fsConstants.O_EXCL, 0o600);
  try {
    await handle.writeFile(bytes);
    await handle.sync();
  } finally {
    await handle.close();
  }
  try {
    // link() fails when the name exists, rename() replaces it: the first is a create-once.
    if (exclusive) {
      await fs.link(temp, file);
      await fs.unlink(temp);
    } else {
      await fs.rename(temp, file);
    }
  } catch (err) {
    await fs.rm(temp, { force: true });
    throw err;
  }
  const dirHandle = await fs.open(dir, 'r');
  try {
    await dirHandle.sync();
  } finally {
    await dirHandle.close();
  }
}

/**
 * The local provider: a 32-byte KEK in a file of mode 0600, created on first run when allowed.
 * A file readable by group or others is refused, as ssh refuses a loose private key.
 *
 * A rotation writes the new KEK to `<file>.next`, which is active from then on; the file's own
 * KEK only unwraps. Retiring it renames `<file>.next` over `<file>`: one atomic step, so a crash
 * leaves either both KEKs (rotation still running) or the new one alone (done). The month
 * ratchet lives in `<file>.months`.
 */
class LocalKeyProvider implements KeyProvider {
  readonly #aead: Aead;
  readonly #file: string;
  /** By fingerprint (hex); the active KEK first. */
  #keks = new Map<string, Buffer>();
  #closed = false;

  constructor(aead: Aead, file: string) {
    this.#aead = aead;
    this.#file = file;
  }

  get #next(): string {
    return `${this.#file}.next`;
  }

  async load(createIfMissing: boolean): Promise<void> {
    const [current, next] = [await readKek(this.#file), await readKek(this.#next)];
    if (!current && !next) {
      if (!createIfMissing) throw new VaultError('ERR_KEY_UNAVAILABLE', `KEK file ${this.#file} does not exist`);
      const fresh = randomFillSync(Buffer.alloc(KEY_BYTES));
      try {
        await writeDurably(this.#file, fresh, true);
      } catch (err) {
        fresh.fill(0);
        if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw err;
        // Another process created it first: use theirs.
        return this.load(false);
      }
      this.#install([fresh]);
      return;
    }
    this.#install([next, current].filter((k): k is Buffer => k !== undefined));
  }

  #install(keks: Buffer[]): void {
    const old = this.#keks;
    this.#keks = new Map(keks.map((k) => [fingerprint(k).toString('hex'), k]));
    for (const [fp, k] of old) if (!this.#keks.has(fp)) this.#aead.memzero(k);
  }

  #active(): { kek: Buffer; fp: Buffer } {
    if (this.#closed) throw new VaultError('ERR_KEY_UNAVAILABLE', 'key provider is closed');
    const [fp, kek] = this.#keks.entries().next().value as [string, Buffer];
    return { kek, fp: Buffer.from(fp, 'hex') };
  }

  get kekId(): string {
    return idOf(this.#active().fp);
  }

  get kekFingerprint(): Buffer {
    return this.#active().fp;
  }

  kekIds(): string[] {
    return [...this.#keks.keys()].map((fp) => `local:${fp}`);
  }

  kekOf(wrapped: Uint8Array): string {
    return idOf(envelopeKekFingerprint(wrapped));
  }

  /**
   * The KEK that wrapped `wrapped`. A blob under a KEK this provider does not hold names the cause
   * (a wrong VAULT_KEK_FILE, or a KEK retired) rather than failing as an altered blob would.
   */
  #kekFor(wrapped: Uint8Array): { kek: Buffer; id: string } {
    if (this.#closed) throw new VaultError('ERR_KEY_UNAVAILABLE', 'key provider is closed');
    const fp = Buffer.from(envelopeKekFingerprint(wrapped)).toString('hex');
    const kek = this.#keks.get(fp);
    if (!kek) {
      const held = this.kekIds();
      const inUse = held.length === 1 ? `the KEK in use is ${held[0]}` : `the KEKs in use are ${held.join(', ')}`;
      throw new VaultError('ERR_KEY_UNAVAILABLE', `this key was wrapped under another KEK (local:${fp}); ${inUse}: point VAULT_KEK_FILE at the KEK this store was created with`);
    }
    return { kek, id: `local:${fp}` };
  }

  async wrapDataKey(dek: Uint8Array, context: DataKeyContext): Promise<Buffer> {
    const { kek, fp } = this.#active();
    return sealEnvelope(this.#aead, kek, fp, context.dekVersion, dataKeyWrapContext(idOf(fp), context), dek);
  }

  async unwrapDataKey(wrapped: Uint8Array, context: DataKeyContext): Promise<Buffer> {
    const { kek, id } = this.#kekFor(wrapped);
    return openEnvelope(this.#aead, kek, wrapped, dataKeyWrapContext(id, context), context.dekVersion);
  }

  async wrapSecret(name: string, secret: Uint8Array): Promise<Buffer> {
    const { kek, fp } = this.#active();
    return sealEnvelope(this.#aead, kek, fp, 1, secretWrapContext(idOf(fp), name), secret);
  }

  async unwrapSecret(name: string, wrapped: Uint8Array): Promise<Buffer> {
    const { kek, id } = this.#kekFor(wrapped);
    return openEnvelope(this.#aead, kek, wrapped, secretWrapContext(id, name), 1);
  }

  async createKek(): Promise<string> {
    this.#active();
    const existing = await readKek(this.#next);
    if (existing) {
      // A rotation that crashed after writing its KEK resumes with that KEK.
      await this.refresh();
      existing.fill(0);
      return this.kekId;
    }
    const fresh = randomFillSync(Buffer.alloc(KEY_BYTES));
    try {
      await writeDurably(this.#next, fresh, true);
    } catch (err) {
      fresh.fill(0);
      if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw err;
    }
    fresh.fill(0);
    await this.refresh();
    return this.kekId;
  }

  async refresh(): Promise<void> {
    this.#active();
    await this.load(false);
  }

  async retireKek(kekId: string): Promise<void> {
    await this.refresh();
    if (kekId === this.kekId) throw new VaultError('ERR_CONFLICT', 'the active KEK cannot be retired');
    if (!this.kekIds().includes(kekId)) return;
    const current = await readKek(this.#file);
    if (!current || idOf(fingerprint(current)) !== kekId) {
      current?.fill(0);
      throw new VaultError('ERR_CONFLICT', `KEK ${kekId} is not the one in ${this.#file}`);
    }
    current.fill(0);
    try {
      await fs.rename(this.#next, this.#file);
    } catch (err) {
      // Another process retired it first.
      if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw err;
    }
    const dir = await fs.open(path.dirname(this.#file), 'r');
    try {
      await dir.sync();
    } finally {
      await dir.close();
    }
    await this.refresh();
  }

  async readMonthRatchet(): Promise<Uint8Array | undefined> {
    this.#active();
    try {
      return await fs.readFile(`${this.#file}.months`);
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
      throw err;
    }
  }

  async writeMonthRatchet(state: Uint8Array): Promise<void> {
    this.#active();
    await writeDurably(`${this.#file}.months`, state, false);
  }

  close(): void {
    for (const k of this.#keks.values()) this.#aead.memzero(k);
    this.#keks.clear();
    this.#closed = true;
  }
}

/** Opens the local provider on `file` (created on first run when `createIfMissing`). */
export async function openLocalKeyProvider(options: { file: string; createIfMissing: boolean; aead: Aead }): Promise<KeyProvider> {
  const provider = new LocalKeyProvider(options.aead, options.file);
  await provider.load(options.createIfMissing);
  return provider;
}
