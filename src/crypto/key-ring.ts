import { randomFillSync } from 'node:crypto';
import { inspect } from 'node:util';
import { VaultError } from '../errors/index.js';
import { KEY_BYTES, type Aead } from './aead.js';
import { ENVELOPE_OVERHEAD, EnvelopeRun, freshNonces, openEnvelope, openEnvelopeInto, sealEnvelope } from './envelope.js';
import type { KeyProvider } from './key-provider.js';
import { compareMonths, type Month, type MonthKeys } from './month-keys.js';
import { RECORD_CONTEXT, recordContext, type RecordBinding } from './record-context.js';

function assertKeyOpens(key: DataKey, binding: RecordBinding): void {
  if (key.employeeId !== binding.employeeId || key.version !== binding.dekVersion) {
    throw new VaultError('ERR_DECRYPT_FAILED', 'data key does not belong to this record');
  }
}

function openRecord(aead: Aead, key: DataKey, binding: RecordBinding, envelope: Uint8Array): Buffer {
  assertKeyOpens(key, binding);
  return openEnvelope(aead, key.bytes(), envelope, recordContext(binding), binding.dekVersion);
}

function openRecordInto(aead: Aead, key: DataKey, binding: RecordBinding, envelope: Uint8Array, target: Uint8Array): void {
  try {
    assertKeyOpens(key, binding);
  } catch (err) {
    target.fill(0);
    throw err;
  }
  openEnvelopeInto(aead, key.bytes(), envelope, recordContext(binding), binding.dekVersion, target);
}

/**
 * An unwrapped per-employee data key. Its bytes never print: not in logs, not in errors. Whoever
 * holds one owns it and zeroes it with `destroy()` when done.
 */
export class DataKey {
  readonly employeeId: string;
  readonly version: number;
  #bytes: Buffer | undefined;
  readonly #zero: (b: Buffer) => void;

  constructor(employeeId: string, version: number, bytes: Buffer, zero: (b: Buffer) => void) {
    this.employeeId = employeeId;
    this.version = version;
    this.#bytes = bytes;
    this.#zero = zero;
  }

  /** @internal */
  bytes(): Buffer {
    if (!this.#bytes) throw new VaultError('ERR_KEY_UNAVAILABLE', 'data key was destroyed');
    return this.#bytes;
  }

  /** @internal A copy with a lifetime of its own. */
  copy(): DataKey {
    return new DataKey(this.employeeId, this.version, Buffer.from(this.bytes()), this.#zero);
  }

  destroy(): void {
    if (this.#bytes) this.#zero(this.#bytes);
    this.#bytes = undefined;
  }

  toJSON(): unknown {
    return { employeeId: this.employeeId, version: this.version, key: '[redacted]' };
  }

  [inspect.custom](): string {
    return `DataKey(${this.employeeId} v${this.version}, [redacted])`;
  }
}

function assertKeyFits(key: DataKey, binding: RecordBinding): void {
  if (key.employeeId !== binding.employeeId || key.version !== binding.dekVersion) {
    throw new VaultError('ERR_DECRYPT_FAILED', 'data key does not belong to this record');
  }
}

/** A record to seal: its key, what it is bound to, and its payload as JSON text. */
export interface RecordToSeal {
  readonly key: DataKey;
  readonly binding: RecordBinding;
  readonly plaintext: string;
}

/**
 * Records sealed back to back in one buffer that owns its memory (it can move to another thread):
 * record i's envelope runs from `ends[i - 1]` (0 for the first) to `ends[i]`. A record given as
 * undefined has none: its end repeats the one before.
 */
export interface SealedRecords {
  readonly envelopes: Buffer;
  readonly ends: number[];
}

/**
 * Seals a chunk of records with one draw of nonces. Each payload's UTF-8 goes through one scratch
 * buffer, zeroed at the end, and each envelope is written in place: no buffer of its own per
 * record, for the plaintext, the envelope or a copy into the chunk.
 */
function sealRecords(aead: Aead, kekFingerprint: Uint8Array, items: ReadonlyArray<RecordToSeal | undefined>): SealedRecords {
  let total = 0;
  let widest = 0;
  let count = 0;
  const sizes = new Array<number>(items.length);
  for (let i = 0; i < items.length; i++) {
    const item = items[i];
    if (!item) continue;
    const bytes = Buffer.byteLength(item.plaintext);
    sizes[i] = bytes;
    total += ENVELOPE_OVERHEAD + bytes;
    if (bytes > widest) widest = bytes;
    count++;
  }
  const envelopes = Buffer.allocUnsafeSlow(total);
  const run = new EnvelopeRun(aead, envelopes, kekFingerprint, RECORD_CONTEXT, count, widest);
  const ends: number[] = [];
  let at = 0;
  try {
    for (let i = 0; i < items.length; i++) {
      const item = items[i];
      if (item) {
        assertKeyFits(item.key, item.binding);
        at = run.seal(item.key.bytes(), item.binding.dekVersion, item.binding, item.plaintext, sizes[i]!);
      }
      ends.push(at);
    }
  } finally {
    run.wipe();
  }
  return { envelopes, ends };
}

/** How {@link KeyRing.withDataKeys} names a key: one employee, one version. */
export function dataKeyId(employeeId: string, dekVersion: number): string {
  return `${employeeId}\u0000${dekVersion}`;
}

export interface StoredDataKey {
  readonly employeeId: string;
  readonly dekVersion: number;
  readonly wrappedKey: Uint8Array;
  /** The month whose key seals this data key inside the KEK's wrap; null for keys from before month keys. */
  readonly month?: Month | null;
}

export interface KeyRingOptions {
  /** Unwrapped keys kept in memory at most; the least recently used is zeroed first. */
  readonly maxCachedKeys?: number;
  /** An unwrapped key is zeroed this long after it was unwrapped, used or not. */
  readonly maxKeyAgeMs?: number;
  readonly now?: () => number;
  /** Month keys: data keys created with a month are sealed under its key before the KEK wraps them. */
  readonly months?: MonthKeys;
}

/**
 * The barrier: the only code that holds unwrapped data keys and turns records into ciphertext and
 * back. Data keys are random (never derived), versioned, and stored only wrapped by the provider.
 */
export class KeyRing {
  readonly #aead: Aead;
  readonly #provider: KeyProvider;
  readonly #cache = new Map<string, { key: DataKey; unwrappedAt: number; month: Month | null }>();
  readonly #pending = new Map<string, Promise<DataKey>>();
  readonly #sweeper: NodeJS.Timeout;
  readonly #maxCachedKeys: number;
  readonly #maxKeyAgeMs: number;
  readonly #now: () => number;
  readonly #months: MonthKeys | undefined;
  /** Counts `forget*` calls: an unwrap that straddles one does not put its key in the cache. */
  #forgets = 0;

  constructor(aead: Aead, provider: KeyProvider, options: KeyRingOptions = {}) {
    this.#aead = aead;
    this.#provider = provider;
    this.#months = options.months;
    this.#maxCachedKeys = options.maxCachedKeys ?? 10_000;
    this.#maxKeyAgeMs = options.maxKeyAgeMs ?? 10 * 60_000;
    this.#now = options.now ?? Date.now;
    this.#sweeper = setInterval(() => this.#sweep(), Math.min(this.#maxKeyAgeMs, 60_000));
    this.#sweeper.unref();
  }

  get kekId(): string {
    return this.#provider.kekId;
  }

  get aeadName(): string {
    return this.#aead.name;
  }

  get cachedKeyCount(): number {
    return this.#cache.size;
  }

  /**
   * Draws a fresh random data key and returns it wrapped for storage: sealed under `month`'s key
   * (when given) and wrapped under the active KEK.
   */
  async createDataKey(employeeId: string, dekVersion: number, month?: Month): Promise<StoredDataKey & { kekId: string }> {
    const bytes = randomFillSync(Buffer.alloc(KEY_BYTES));
    const context = { employeeId, dekVersion };
    let inner: Buffer | undefined;
    try {
      inner = month === undefined ? undefined : this.#monthKeys().seal(month, context, bytes);
      const wrappedKey = await this.#provider.wrapDataKey(inner ?? bytes, context);
      return { employeeId, dekVersion, wrappedKey, kekId: this.#provider.kekId, month: month ?? null };
    } finally {
      this.#aead.memzero(bytes);
    }
  }

  #monthKeys(): MonthKeys {
    if (!this.#months) throw new VaultError('ERR_KEY_UNAVAILABLE', 'this key ring has no month keys');
    return this.#months;
  }

  /** The month keys behind this ring (retention moves them; rotation rewraps their ratchet). */
  get months(): MonthKeys {
    return this.#monthKeys();
  }

  /** Every KEK the provider holds, the active one first. */
  kekIds(): string[] {
    return this.#provider.kekIds();
  }

  /** Rotation: a new KEK, active from now on in this instance (others `refreshKeks` on the change event). */
  createKek(): Promise<string> {
    return this.#provider.createKek();
  }

  /** Destroys a KEK nothing references any more (never the active one). */
  retireKek(kekId: string): Promise<void> {
    return this.#provider.retireKek(kekId);
  }

  /** Reloads the provider's KEKs (another instance rotated or retired one). */
  refreshKeks(): Promise<void> {
    return this.#provider.refresh();
  }

  /** The KEK that wraps the month ratchet as the provider stores it now; undefined when there is none. */
  async ratchetKek(): Promise<string | undefined> {
    const stored = await this.#provider.readMonthRatchet();
    return stored && this.#provider.kekOf(stored);
  }

  /** The KEK that wrapped a stored key (read from the blob). */
  kekOf(wrappedKey: Uint8Array): string {
    return this.#provider.kekOf(wrappedKey);
  }

  /**
   * Unwraps a stored key's outer layer with whichever KEK wrapped it and wraps it again under the
   * active one (KEK rotation); the month layer inside is not opened.
   */
  async rewrapDataKey(stored: StoredDataKey): Promise<{ wrappedKey: Buffer; kekId: string }> {
    const context = { employeeId: stored.employeeId, dekVersion: stored.dekVersion };
    const inner = await this.#provider.unwrapDataKey(stored.wrappedKey, context);
    try {
      return { wrappedKey: await this.#provider.wrapDataKey(inner, context), kekId: this.#provider.kekId };
    } finally {
      this.#aead.memzero(inner);
    }
  }

  /** Unwraps a vault secret with whichever KEK wrapped it and wraps it under the active one. */
  async rewrapVaultSecret(name: string, wrapped: Uint8Array): Promise<{ wrapped: Buffer; kekId: string }> {
    const secret = await this.#provider.unwrapSecret(name, wrapped);
    try {
      return { wrapped: await this.#provider.wrapSecret(name, secret), kekId: this.#provider.kekId };
    } finally {
      this.#aead.memzero(secret);
    }
  }

  /**
   * A copy of the unwrapped key, owned by the caller (`destroy()` it when done): evicting the cache's
   * copy never pulls a key out from under a batch still using it.
   */
  async unwrapDataKey(stored: StoredDataKey): Promise<DataKey> {
    return (await this.#cached(stored)).copy();
  }

  /** Runs `use` with copies of the keys of `stored` (by {@link dataKeyId}), zeroed when it ends. */
  async withDataKeys<T>(stored: Iterable<StoredDataKey>, use: (keys: ReadonlyMap<string, DataKey>) => Promise<T>): Promise<T> {
    const keys = new Map<string, DataKey>();
    try {
      for (const s of stored) {
        const id = dataKeyId(s.employeeId, s.dekVersion);
        if (!keys.has(id)) keys.set(id, await this.unwrapDataKey(s));
      }
      return await use(keys);
    } finally {
      for (const key of keys.values()) key.destroy();
    }
  }

  async #cached(stored: StoredDataKey): Promise<DataKey> {
    const id = dataKeyId(stored.employeeId, stored.dekVersion);
    const hit = this.#cache.get(id);
    if (hit && this.#now() - hit.unwrappedAt < this.#maxKeyAgeMs) {
      this.#cache.delete(id);
      this.#cache.set(id, hit);
      return hit.key;
    }
    if (hit) this.#evict(id);
    // Concurrent misses share one unwrap, so no second copy escapes the cache unzeroed.
    let pending = this.#pending.get(id);
    if (!pending) {
      const context = { employeeId: stored.employeeId, dekVersion: stored.dekVersion };
      const month = stored.month ?? null;
      const forgetsBefore = this.#forgets;
      pending = this.#provider
        .unwrapDataKey(stored.wrappedKey, context)
        .then((unwrapped) => {
          let bytes = unwrapped;
          if (month !== null) {
            try {
              bytes = this.#monthKeys().open(month, context, unwrapped);
            } finally {
              this.#aead.memzero(unwrapped);
            }
          }
          const key = new DataKey(stored.employeeId, stored.dekVersion, bytes, (b) => this.#aead.memzero(b));
          if (this.#forgets !== forgetsBefore) {
            // Keys were forgotten while this unwrap ran (an erasure, an expiry): hand the callers
            // their copies, but keep nothing.
            setImmediate(() => key.destroy());
            return key;
          }
          this.#cache.set(id, { key, unwrappedAt: this.#now(), month });
          while (this.#cache.size > this.#maxCachedKeys) this.#evict(this.#cache.keys().next().value as string);
          return key;
        })
        .finally(() => this.#pending.delete(id));
      this.#pending.set(id, pending);
    }
    return pending;
  }

  #sweep(): void {
    const now = this.#now();
    for (const [id, entry] of [...this.#cache]) if (now - entry.unwrappedAt >= this.#maxKeyAgeMs) this.#evict(id);
  }

  /** True when the KEK provider wraps and unwraps: a readiness probe that touches no data key or cache. */
  async providerWorks(): Promise<boolean> {
    try {
      const probe = randomFillSync(Buffer.alloc(KEY_BYTES));
      const back = await this.#provider.unwrapSecret('readiness-probe', await this.#provider.wrapSecret('readiness-probe', probe));
      return back.equals(probe);
    } catch {
      return false;
    }
  }

  /** Wraps one of the vault's own secrets under the KEK, bound to its name. */
  async wrapVaultSecret(name: string, secret: Uint8Array): Promise<{ wrapped: Buffer; kekId: string }> {
    return { wrapped: await this.#provider.wrapSecret(name, secret), kekId: this.#provider.kekId };
  }

  unwrapVaultSecret(name: string, wrapped: Uint8Array): Promise<Buffer> {
    return this.#provider.unwrapSecret(name, wrapped);
  }

  /** Zeroes and drops every cached key of a month before `month` (they expired). */
  forgetMonthsBefore(month: Month): number {
    this.#forgets++;
    let forgotten = 0;
    for (const [id, entry] of [...this.#cache]) {
      if (entry.month === null || compareMonths(entry.month, month) >= 0) continue;
      this.#evict(id);
      forgotten++;
    }
    return forgotten;
  }

  /** Zeroes and drops every cached key of the employee (after their keys were destroyed); returns how many. */
  forgetEmployee(employeeId: string): number {
    this.#forgets++;
    let forgotten = 0;
    for (const [id, entry] of [...this.#cache]) {
      if (entry.key.employeeId !== employeeId) continue;
      this.#evict(id);
      forgotten++;
    }
    return forgotten;
  }

  #evict(id: string): void {
    this.#cache.get(id)?.key.destroy();
    this.#cache.delete(id);
  }

  /** Seals a chunk of records into one buffer (see {@link SealedRecords}), under the KEK in force. */
  sealRecords(items: ReadonlyArray<RecordToSeal | undefined>): SealedRecords {
    return sealRecords(this.#aead, this.#provider.kekFingerprint, items);
  }

  encryptRecord(key: DataKey, binding: RecordBinding, plaintext: Uint8Array): Buffer {
    assertKeyFits(key, binding);
    return sealEnvelope(this.#aead, key.bytes(), this.#provider.kekFingerprint, binding.dekVersion, recordContext(binding), plaintext, freshNonces(1));
  }

  /** Returns the plaintext, or throws `ERR_DECRYPT_FAILED` when the ciphertext or any bound column was altered. */
  decryptRecord(key: DataKey, binding: RecordBinding, envelope: Uint8Array): Buffer {
    return openRecord(this.#aead, key, binding, envelope);
  }

  /**
   * {@link decryptRecord} written into `target` (`envelopePlaintextBytes(envelope)` long), so a
   * page's plaintext lands in its body with no copy of its own; `target` is zeroed if it fails.
   */
  decryptRecordInto(key: DataKey, binding: RecordBinding, envelope: Uint8Array, target: Uint8Array): void {
    openRecordInto(this.#aead, key, binding, envelope, target);
  }

  /** The fingerprint of the KEK new envelopes name (a copy): what a {@link RecordSealer} writes into them. */
  sealingKekFingerprint(): Uint8Array {
    return Uint8Array.from(this.#provider.kekFingerprint);
  }

  /**
   * Copies of `keys` packed for a worker thread of this process: one buffer of their own (never a
   * slab of Buffer's pool, which holds other allocations), to be moved with `postMessage(bundle,
   * [bundle.bytes.buffer])` so no copy stays behind. The receiver opens with {@link RecordOpener}.
   */
  packDataKeys(keys: Iterable<DataKey>): DataKeyBundle {
    const list = [...keys];
    const bytes = new Uint8Array(new ArrayBuffer(list.length * KEY_BYTES));
    list.forEach((key, i) => bytes.set(key.bytes(), i * KEY_BYTES));
    return new PackedDataKeys(
      list.map((key) => ({ employeeId: key.employeeId, version: key.version })),
      bytes,
    );
  }

  /** Zeroes every cached key and closes the provider. */
  close(): void {
    clearInterval(this.#sweeper);
    for (const id of [...this.#cache.keys()]) this.#evict(id);
    this.#months?.close();
    this.#provider.close();
  }
}

/** A page's data keys on their way to a worker thread; see {@link KeyRing.packDataKeys}. */
export interface DataKeyBundle {
  readonly ids: ReadonlyArray<{ readonly employeeId: string; readonly version: number }>;
  readonly bytes: Uint8Array;
}

/** A bundle as packed: logged or serialised, it names its keys and shows none of their bytes. It crosses a thread as a plain {@link DataKeyBundle}. */
class PackedDataKeys implements DataKeyBundle {
  constructor(
    readonly ids: DataKeyBundle['ids'],
    readonly bytes: Uint8Array,
  ) {}

  toJSON(): unknown {
    return { ids: this.ids, bytes: '[redacted]' };
  }

  [inspect.custom](): string {
    return `DataKeyBundle(${this.ids.length} keys, [redacted])`;
  }
}

function withBundle<T>(aead: Aead, bundle: DataKeyBundle, use: (keys: ReadonlyMap<string, DataKey>) => T): T {
  const bytes = Buffer.from(bundle.bytes.buffer, bundle.bytes.byteOffset, bundle.bytes.byteLength);
  try {
    if (bytes.length !== bundle.ids.length * KEY_BYTES) throw new VaultError('ERR_KEY_UNAVAILABLE', 'a key bundle does not hold the keys it names');
    const keys = new Map<string, DataKey>();
    bundle.ids.forEach(({ employeeId, version }, i) => {
      keys.set(dataKeyId(employeeId, version), new DataKey(employeeId, version, bytes.subarray(i * KEY_BYTES, (i + 1) * KEY_BYTES), () => {}));
    });
    return use(keys);
  } finally {
    aead.memzero(bytes);
  }
}

/**
 * Seals records in a worker thread, under keys a {@link KeyRing} packed in the main thread, into the
 * envelope {@link KeyRing.sealRecords} writes (`kekFingerprint` is the main thread's
 * {@link KeyRing.sealingKekFingerprint}). It holds no key of its own.
 */
export class RecordSealer {
  readonly #aead: Aead;

  constructor(aead: Aead) {
    this.#aead = aead;
  }

  /** Runs `use` with the bundle's keys by {@link dataKeyId}; the bundle's bytes are zeroed when it ends. */
  withKeys<T>(bundle: DataKeyBundle, use: (keys: ReadonlyMap<string, DataKey>) => T): T {
    return withBundle(this.#aead, bundle, use);
  }

  /** {@link KeyRing.sealRecords}, naming `kekFingerprint` as the KEK (the main thread's). */
  sealRecords(items: ReadonlyArray<RecordToSeal | undefined>, kekFingerprint: Uint8Array): SealedRecords {
    return sealRecords(this.#aead, kekFingerprint, items);
  }
}

/**
 * Opens records in a worker thread, under keys a {@link KeyRing} packed in the main thread, with
 * the same checks as {@link KeyRing.decryptRecord}. It holds no key of its own.
 */
export class RecordOpener {
  readonly #aead: Aead;

  constructor(aead: Aead) {
    this.#aead = aead;
  }

  /** Runs `use` with the bundle's keys by {@link dataKeyId}; the bundle's bytes are zeroed when it ends. */
  withKeys<T>(bundle: DataKeyBundle, use: (keys: ReadonlyMap<string, DataKey>) => T): T {
    return withBundle(this.#aead, bundle, use);
  }

  openInto(key: DataKey, binding: RecordBinding, envelope: Uint8Array, target: Uint8Array): void {
    openRecordInto(this.#aead, key, binding, envelope, target);
  }
}
