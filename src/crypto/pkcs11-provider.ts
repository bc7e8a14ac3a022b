import { createHash, randomBytes, randomFillSync, timingSafeEqual } from 'node:crypto';
import fs from 'node:fs/promises';
import { endianness } from 'node:os';
import { VaultError } from '../errors/index.js';
import { KEK_FINGERPRINT_BYTES } from './envelope.js';
import type { DataKeyContext, KeyProvider } from './key-provider.js';

type Binding = typeof import('pkcs11js');
type Api = InstanceType<Binding['PKCS11']>;
type Handle = Buffer;
type Template = import('pkcs11js').Template;

/**
 * Where the KEKs live: a PKCS#11 token and a label (docs/adr/0007-pkcs11-key-provider.md).
 * `slot` is the PKCS#11 slot ID; give it, `tokenLabel`, or both (then both must match).
 */
export interface Pkcs11KeyProviderOptions {
  /** Path of the vendor's PKCS#11 library, e.g. `/usr/lib/softhsm/libsofthsm2.so`. */
  readonly module: string;
  readonly slot?: number;
  readonly tokenLabel?: string;
  /** File holding the user PIN, refused when group or others may read it. */
  readonly pinFile: string;
  /** CKA_LABEL of the active KEK; retired ones carry `<keyLabel>.previous`, one being created `<keyLabel>.next`. */
  readonly keyLabel: string;
  /** Generate a KEK in the token when it holds none under `keyLabel`. */
  readonly createIfMissing: boolean;
}

/*
 * Wrapped blob: [0x81][CKA_ID of the KEK, 8 bytes][IV, 12 bytes][AES-256-GCM ciphertext][tag, 16 bytes].
 * AAD = the first 9 bytes followed by the context's UTF-8. 0x81 is never a local-provider envelope
 * (those start with format 1), so a blob says which kind of provider made it.
 */
const BLOB_FORMAT = 0x81;
const BLOB_HEADER_BYTES = 1 + KEK_FINGERPRINT_BYTES;
const IV_BYTES = 12;
const GCM_TAG_BYTES = 16;
const BLOB_OVERHEAD = BLOB_HEADER_BYTES + IV_BYTES + GCM_TAG_BYTES;
const AES_256_BYTES = 32;
const MAX_DATA_KEY_BYTES = 1024;
const MAX_SECRET_BYTES = 64 * 1024;
const MAX_RATCHET_BYTES = 4096;
const RATCHET_GENERATION_BYTES = 8;
const OBJECT_APPLICATION = 'activity-vault';

type KekRole = 'active' | 'next' | 'previous';

interface Kek {
  readonly id: Buffer;
  readonly hex: string;
  readonly handle: Handle;
  readonly role: KekRole;
}

interface KekState {
  readonly active: Kek;
  readonly byHex: Map<string, Kek>;
}

interface TokenLogin {
  users: number;
  readonly pinDigest: Buffer;
}

interface LoadedModule {
  readonly api: Api;
  users: number;
  readonly initializedHere: boolean;
  readonly logins: Map<string, TokenLogin>;
}

/*
 * A PKCS#11 library keeps one state per process: a second C_Initialize fails, C_Finalize ends every
 * session, and a login or logout applies to all of the process's sessions on that token. Providers
 * opened on the same module and token therefore share one initialisation and one login, counted.
 */
const loadedModules = new Map<string, LoadedModule>();

function dataKeyContext(context: DataKeyContext): string {
  return JSON.stringify(['activity-vault/dek/v1', context.employeeId, context.dekVersion]);
}

function secretContext(name: string): string {
  return JSON.stringify(['activity-vault/secret/v1', name]);
}

function pinDigest(pin: string): Buffer {
  return createHash('sha256').update('activity-vault/pkcs11-pin/v1\0').update(pin).digest();
}

function asBuffer(bytes: Uint8Array): Buffer {
  return Buffer.isBuffer(bytes) ? bytes : Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength);
}

function readUlong(value: Buffer): number {
  if (value.length === 8) return Number(endianness() === 'LE' ? value.readBigUInt64LE() : value.readBigUInt64BE());
  if (value.length === 4) return endianness() === 'LE' ? value.readUInt32LE() : value.readUInt32BE();
  return Number.NaN;
}

function ckrName(ck: Binding, err: unknown): string {
  const code = (err as { code?: unknown } | null)?.code;
  if (typeof code === 'number') {
    for (const [name, value] of Object.entries(ck)) {
      if (name.startsWith('CKR_') && value === code) return name;
    }
    return `CKR 0x${code.toString(16)}`;
  }
  return 'a native error';
}

/** The token's error, named by its CKR code only: PKCS#11 messages carry no arguments, but we pass nothing of the caller's either. */
function tokenError(ck: Binding, code: 'ERR_CONFIG' | 'ERR_KEY_UNAVAILABLE', what: string, err: unknown): VaultError {
  const ckr = ckrName(ck, err);
  return new VaultError(code, `${what} (${ckr})`, { internal: { pkcs11: ckr } });
}

function decryptFailed(): VaultError {
  return new VaultError('ERR_DECRYPT_FAILED', 'ciphertext failed authentication');
}

function malformed(): VaultError {
  return new VaultError('ERR_DECRYPT_FAILED', 'wrapped key is malformed');
}

async function readPin(pinFile: string): Promise<string> {
  let stat;
  try {
    stat = await fs.stat(pinFile);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') throw new VaultError('ERR_CONFIG', `PIN file ${pinFile} does not exist`);
    throw new VaultError('ERR_CONFIG', `PIN file ${pinFile} cannot be read (${(err as NodeJS.ErrnoException).code ?? 'error'})`);
  }
  if (!stat.isFile()) throw new VaultError('ERR_CONFIG', `PIN file ${pinFile} is not a regular file`);
  if ((stat.mode & 0o077) !== 0) {
    throw new VaultError('ERR_CONFIG', `PIN file ${pinFile} is readable by group or others; run: chmod 600 ${pinFile}`);
  }
  const pin = (await fs.readFile(pinFile, 'utf8')).replace(/\r?\n$/, '');
  if (pin.length === 0) throw new VaultError('ERR_CONFIG', `PIN file ${pinFile} is empty`);
  return pin;
}

async function loadBinding(): Promise<Binding> {
  try {
    const imported = (await import('pkcs11js')) as Binding & { default?: Binding };
    return imported.default ?? imported;
  } catch {
    throw new VaultError('ERR_CONFIG', 'the pkcs11js native binding did not load; run npm rebuild pkcs11js');
  }
}

function acquireModule(ck: Binding, modulePath: string): LoadedModule {
  const known = loadedModules.get(modulePath);
  if (known) {
    known.users += 1;
    return known;
  }
  const api = new ck.PKCS11();
  try {
    api.load(modulePath);
  } catch (err) {
    throw tokenError(ck, 'ERR_CONFIG', `PKCS#11 module ${modulePath} did not load`, err);
  }
  let initializedHere = true;
  try {
    api.C_Initialize();
  } catch (err) {
    if ((err as { code?: unknown }).code !== ck.CKR_CRYPTOKI_ALREADY_INITIALIZED) {
      try {
        api.close();
      } catch {
        // the load already failed; the first error is the one to report
      }
      throw tokenError(ck, 'ERR_CONFIG', `PKCS#11 module ${modulePath} did not initialise`, err);
    }
    initializedHere = false;
  }
  const loaded: LoadedModule = { api, users: 1, initializedHere, logins: new Map() };
  loadedModules.set(modulePath, loaded);
  return loaded;
}

function releaseModule(modulePath: string, loaded: LoadedModule): void {
  loaded.users -= 1;
  if (loaded.users > 0) return;
  loadedModules.delete(modulePath);
  try {
    if (loaded.initializedHere) loaded.api.C_Finalize();
    loaded.api.close();
  } catch {
    // closing is best effort: the sessions are already gone
  }
}

function findSlot(ck: Binding, api: Api, modulePath: string, slot: number | undefined, tokenLabel: string | undefined): Handle {
  let slots: Handle[];
  try {
    slots = api.C_GetSlotList(true);
  } catch (err) {
    throw tokenError(ck, 'ERR_CONFIG', `PKCS#11 module ${modulePath} lists no slots`, err);
  }
  const matches = slots.filter((handle) => {
    if (slot !== undefined && readUlong(handle) !== slot) return false;
    if (tokenLabel === undefined) return true;
    try {
      return api.C_GetTokenInfo(handle).label.trimEnd() === tokenLabel;
    } catch {
      return false;
    }
  });
  const wanted = [slot !== undefined ? `slot ${slot}` : '', tokenLabel !== undefined ? `token label '${tokenLabel}'` : ''].filter(Boolean).join(' and ');
  if (matches.length === 0) throw new VaultError('ERR_CONFIG', `PKCS#11 module ${modulePath} has no token with ${wanted}`);
  if (matches.length > 1) throw new VaultError('ERR_CONFIG', `several tokens in ${modulePath} match ${wanted}; name the slot too`);
  return matches[0]!;
}

/**
 * The PKCS#11 provider: KEKs are non-extractable AES-256 keys generated inside the token, and
 * every wrap and unwrap is an AES-GCM operation the token performs; the vault never sees a KEK.
 * Which KEK is active is written in the token itself (labels), so every instance sharing the
 * token agrees after `refresh()`, and a crash at any step of `createKek` resolves the same way on
 * open (docs/adr/0007-pkcs11-key-provider.md). Fails closed with `ERR_CONFIG` when the module,
 * token or PIN is wrong and `ERR_KEY_UNAVAILABLE` when no KEK exists and `createIfMissing` is off.
 *
 * @example
 * const provider = await openPkcs11KeyProvider({
 *   module: '/usr/lib/softhsm/libsofthsm2.so', tokenLabel: 'activity-vault',
 *   pinFile: '/etc/activity-vault/hsm-pin', keyLabel: 'vault-kek', createIfMissing: false,
 * });
 */
export async function openPkcs11KeyProvider(options: Pkcs11KeyProviderOptions): Promise<KeyProvider> {
  const { keyLabel, slot, tokenLabel } = options;
  if (keyLabel.length === 0 || keyLabel.trim() !== keyLabel) throw new VaultError('ERR_CONFIG', 'the PKCS#11 key label must be non-empty, without surrounding spaces');
  if (slot === undefined && (tokenLabel === undefined || tokenLabel.length === 0)) {
    throw new VaultError('ERR_CONFIG', 'name the PKCS#11 token by slot or by token label');
  }
  if (slot !== undefined && (!Number.isSafeInteger(slot) || slot < 0)) throw new VaultError('ERR_CONFIG', 'the PKCS#11 slot must be a non-negative integer');
  let pin: string | undefined = await readPin(options.pinFile);
  const ck = await loadBinding();
  let modulePath: string;
  try {
    modulePath = await fs.realpath(options.module);
  } catch {
    throw new VaultError('ERR_CONFIG', `PKCS#11 module ${options.module} does not exist`);
  }

  // From here to the end of open, everything is synchronous, so two opens in one process cannot
  // interleave between finding the module in the registry and logging in.
  const loaded = acquireModule(ck, modulePath);
  const { api } = loaded;
  let session: Handle | undefined;
  let login: TokenLogin | undefined;
  let loginKey = '';
  const releaseSession = (): void => {
    if (session && login) {
      login.users -= 1;
      if (login.users === 0) {
        loaded.logins.delete(loginKey);
        try {
          api.C_Logout(session);
        } catch {
          // closing the last session logs out as well
        }
      }
    }
    if (session) {
      try {
        api.C_CloseSession(session);
      } catch {
        // already closed by the token
      }
    }
    session = undefined;
    login = undefined;
    releaseModule(modulePath, loaded);
  };

  try {
    const slotHandle = findSlot(ck, api, modulePath, slot, tokenLabel);
    loginKey = slotHandle.toString('hex');
    try {
      session = api.C_OpenSession(slotHandle, ck.CKF_SERIAL_SESSION | ck.CKF_RW_SESSION);
    } catch (err) {
      throw tokenError(ck, 'ERR_KEY_UNAVAILABLE', 'the PKCS#11 token refused a session', err);
    }
    const digest = pinDigest(pin);
    const shared = loaded.logins.get(loginKey);
    if (shared) {
      if (!timingSafeEqual(shared.pinDigest, digest)) throw new VaultError('ERR_CONFIG', `the PKCS#11 token refused the PIN in ${options.pinFile}`);
      shared.users += 1;
      login = shared;
    } else {
      try {
        api.C_Login(session, ck.CKU_USER, pin);
      } catch (err) {
        const code = (err as { code?: unknown }).code;
        if (code === ck.CKR_PIN_INCORRECT || code === ck.CKR_PIN_LEN_RANGE) {
          throw new VaultError('ERR_CONFIG', `the PKCS#11 token refused the PIN in ${options.pinFile}`, { internal: { pkcs11: ckrName(ck, err) } });
        }
        throw tokenError(ck, 'ERR_KEY_UNAVAILABLE', 'the PKCS#11 login failed', err);
      }
      login = { users: 1, pinDigest: digest };
      loaded.logins.set(loginKey, login);
    }
  } catch (err) {
    pin = undefined;
    releaseSession();
    throw err;
  }
  pin = undefined;

  const labels: Record<KekRole, string> = { active: keyLabel, next: `${keyLabel}.next`, previous: `${keyLabel}.previous` };
  const ratchetLabel = `${keyLabel}.months`;
  const kekIdOf = (hex: string): string => `pkcs11:${keyLabel}:${hex}`;
  let closed = false;

  const live = (): Handle => {
    if (closed || !session) throw new VaultError('ERR_KEY_UNAVAILABLE', 'key provider is closed');
    return session;
  };

  const findObjects = (template: Template): Handle[] => {
    const s = live();
    try {
      api.C_FindObjectsInit(s, template);
      const found: Handle[] = [];
      for (;;) {
        const batch = api.C_FindObjects(s, 64);
        if (batch.length === 0) break;
        found.push(...batch);
      }
      api.C_FindObjectsFinal(s);
      return found;
    } catch (err) {
      try {
        api.C_FindObjectsFinal(s);
      } catch {
        // not started, or already ended
      }
      throw tokenError(ck, 'ERR_KEY_UNAVAILABLE', 'searching the PKCS#11 token failed', err);
    }
  };

  // A misconfigured object under our label (an imported or extractable key) must not become the
  // root of the hierarchy, so anything that is not exactly what createKek makes is refused.
  const readKek = (handle: Handle, role: KekRole): Kek => {
    let attrs;
    try {
      attrs = api.C_GetAttributeValue(live(), handle, [
        { type: ck.CKA_ID },
        { type: ck.CKA_KEY_TYPE },
        { type: ck.CKA_VALUE_LEN },
        { type: ck.CKA_SENSITIVE },
        { type: ck.CKA_EXTRACTABLE },
        { type: ck.CKA_ENCRYPT },
        { type: ck.CKA_DECRYPT },
      ]);
    } catch (err) {
      throw tokenError(ck, 'ERR_KEY_UNAVAILABLE', `reading a KEK labelled '${labels[role]}' failed`, err);
    }
    const [id, keyType, valueLen, sensitive, extractable, encrypt, decrypt] = attrs.map((a) => a.value as Buffer);
    const ok =
      id?.length === KEK_FINGERPRINT_BYTES &&
      keyType !== undefined && readUlong(keyType) === ck.CKK_AES &&
      valueLen !== undefined && readUlong(valueLen) === AES_256_BYTES &&
      sensitive?.[0] === 1 && extractable?.[0] === 0 && encrypt?.[0] === 1 && decrypt?.[0] === 1;
    if (!ok || !id) {
      const shown = id && id.length <= 32 ? id.toString('hex') : 'unreadable';
      throw new VaultError('ERR_CONFIG', `the object labelled '${labels[role]}' with CKA_ID ${shown} is not a KEK this vault accepts (AES-256, sensitive, not extractable, 8-byte CKA_ID)`);
    }
    return { id: Buffer.from(id), hex: id.toString('hex'), handle, role };
  };

  const listKeks = (): Kek[] => {
    const keks: Kek[] = [];
    for (const role of ['active', 'next', 'previous'] as const) {
      for (const handle of findObjects([
        { type: ck.CKA_CLASS, value: ck.CKO_SECRET_KEY },
        { type: ck.CKA_LABEL, value: labels[role] },
      ])) {
        keks.push(readKek(handle, role));
      }
    }
    const seen = new Set<string>();
    for (const kek of keks) {
      if (seen.has(kek.hex)) throw new VaultError('ERR_CONFIG', `two KEK objects under '${keyLabel}' share CKA_ID ${kek.hex}`);
      seen.add(kek.hex);
    }
    return keks;
  };

  const byId = (a: Kek, b: Kek): number => Buffer.compare(a.id, b.id);

  /** The activation rule (ADR 0007): the lowest CKA_ID labelled `keyLabel`, else the lowest labelled `.next`. */
  const resolveActive = (keks: readonly Kek[]): Kek | undefined =>
    keks.filter((k) => k.role === 'active').sort(byId)[0] ?? keks.filter((k) => k.role === 'next').sort(byId)[0];

  const setLabel = (kek: Kek, role: KekRole): void => {
    try {
      api.C_SetAttributeValue(live(), kek.handle, [{ type: ck.CKA_LABEL, value: labels[role] }]);
    } catch (err) {
      throw tokenError(ck, 'ERR_KEY_UNAVAILABLE', `relabelling KEK ${kekIdOf(kek.hex)} failed`, err);
    }
  };

  const generateKek = (): Kek => {
    const id = randomBytes(KEK_FINGERPRINT_BYTES);
    let handle: Handle;
    try {
      handle = api.C_GenerateKey(live(), { mechanism: ck.CKM_AES_KEY_GEN }, [
        { type: ck.CKA_CLASS, value: ck.CKO_SECRET_KEY },
        { type: ck.CKA_KEY_TYPE, value: ck.CKK_AES },
        { type: ck.CKA_VALUE_LEN, value: AES_256_BYTES },
        { type: ck.CKA_TOKEN, value: true },
        { type: ck.CKA_PRIVATE, value: true },
        { type: ck.CKA_SENSITIVE, value: true },
        { type: ck.CKA_EXTRACTABLE, value: false },
        { type: ck.CKA_ENCRYPT, value: true },
        { type: ck.CKA_DECRYPT, value: true },
        { type: ck.CKA_WRAP, value: false },
        { type: ck.CKA_UNWRAP, value: false },
        { type: ck.CKA_ID, value: id },
        { type: ck.CKA_LABEL, value: labels.next },
      ]);
    } catch (err) {
      throw tokenError(ck, 'ERR_KEY_UNAVAILABLE', 'generating a KEK in the PKCS#11 token failed', err);
    }
    return { id, hex: id.toString('hex'), handle, role: 'next' };
  };

  const stateOf = (keks: readonly Kek[]): KekState | undefined => {
    const active = resolveActive(keks);
    if (!active) return undefined;
    return { active, byHex: new Map(keks.map((k) => [k.hex, k])) };
  };

  /*
   * Rotation, in this order so that the rule above resolves a crash after any step:
   *   1. generate the new KEK labelled `.next` (or reuse a `.next` a crashed call left: never active,
   *      it wrapped nothing),
   *   2. relabel every `keyLabel` KEK `.previous` (from here the `.next` one is active by the rule),
   *   3. relabel the new KEK `keyLabel`.
   * A `.next` that is already active (a crash after step 2) is finished first, so the key returned
   * is always one that was not active before the call.
   */
  const rotate = (): KekState => {
    let keks = listKeks();
    if (!keks.some((k) => k.role === 'active')) {
      const orphan = keks.filter((k) => k.role === 'next').sort(byId)[0];
      if (orphan) {
        setLabel(orphan, 'active');
        keks = listKeks();
      }
    }
    const fresh = keks.filter((k) => k.role === 'next').sort(byId)[0] ?? generateKek();
    for (const old of keks.filter((k) => k.role === 'active')) setLabel(old, 'previous');
    setLabel(fresh, 'active');
    const state = stateOf(listKeks());
    if (!state) throw new VaultError('ERR_KEY_UNAVAILABLE', `the KEK under '${keyLabel}' vanished while it was being created`);
    return state;
  };

  let state: KekState;
  try {
    const found = stateOf(listKeks());
    if (found) state = found;
    else if (options.createIfMissing) state = rotate();
    else throw new VaultError('ERR_KEY_UNAVAILABLE', `the PKCS#11 token holds no KEK labelled '${keyLabel}'`);
  } catch (err) {
    closed = true;
    releaseSession();
    throw err;
  }

  const current = (): KekState => {
    live();
    return state;
  };

  // A blob wrapped by another instance after it rotated names a KEK this one has not loaded yet.
  const kekNamed = (id: Buffer): Kek | undefined => {
    const hex = id.toString('hex');
    const known = current().byHex.get(hex);
    if (known) return known;
    for (const handle of findObjects([
      { type: ck.CKA_CLASS, value: ck.CKO_SECRET_KEY },
      { type: ck.CKA_ID, value: Buffer.from(id) },
    ])) {
      let label: string;
      try {
        label = (api.C_GetAttributeValue(live(), handle, [{ type: ck.CKA_LABEL }])[0]?.value as Buffer | undefined)?.toString('utf8') ?? '';
      } catch {
        continue;
      }
      const role = (Object.keys(labels) as KekRole[]).find((r) => labels[r] === label);
      if (!role) continue;
      const kek = readKek(handle, role === 'active' ? 'previous' : role);
      state.byHex.set(hex, kek);
      return kek;
    }
    return undefined;
  };

  const isHandleGone = (err: unknown): boolean => {
    const code = (err as { code?: unknown }).code;
    return code === ck.CKR_KEY_HANDLE_INVALID || code === ck.CKR_OBJECT_HANDLE_INVALID;
  };

  const gcm = (iv: Buffer, aad: Buffer) => ({
    mechanism: ck.CKM_AES_GCM,
    parameter: { type: ck.CK_PARAMS_GCM, iv, ivBits: IV_BYTES * 8, aad, tagBits: GCM_TAG_BYTES * 8 },
  });

  const aadFor = (header: Buffer, context: string): Buffer => Buffer.concat([header, Buffer.from(context, 'utf8')]);

  const sealOnce = (kek: Kek, plaintext: Buffer, context: string): Buffer => {
    const blob = Buffer.allocUnsafe(BLOB_OVERHEAD + plaintext.length);
    blob[0] = BLOB_FORMAT;
    kek.id.copy(blob, 1);
    const iv = randomFillSync(blob, BLOB_HEADER_BYTES, IV_BYTES).subarray(BLOB_HEADER_BYTES, BLOB_HEADER_BYTES + IV_BYTES);
    const s = live();
    api.C_EncryptInit(s, gcm(iv, aadFor(blob.subarray(0, BLOB_HEADER_BYTES), context)), kek.handle);
    const sealed = api.C_Encrypt(s, plaintext, blob.subarray(BLOB_HEADER_BYTES + IV_BYTES));
    if (sealed.length !== plaintext.length + GCM_TAG_BYTES) throw new VaultError('ERR_KEY_UNAVAILABLE', 'the PKCS#11 token returned a GCM output of the wrong length');
    return blob;
  };

  // Synchronous from C_EncryptInit to C_Encrypt: nothing else can use the session in between.
  const seal = (plaintext: Uint8Array, context: string): Buffer => {
    // Tokens refuse a zero-length C_Encrypt (SoftHSM: CKR_ARGUMENTS_BAD), and an empty key is a bug anyway.
    if (plaintext.length === 0) throw new TypeError('nothing to wrap: the key material is empty');
    const input = asBuffer(plaintext);
    try {
      return sealOnce(current().active, input, context);
    } catch (err) {
      if (err instanceof VaultError) throw err;
      if (!isHandleGone(err)) throw tokenError(ck, 'ERR_KEY_UNAVAILABLE', 'wrapping in the PKCS#11 token failed', err);
    }
    // Another instance retired the KEK this one still took for active: take the token's word and retry once.
    reload();
    try {
      return sealOnce(current().active, input, context);
    } catch (err) {
      if (err instanceof VaultError) throw err;
      throw tokenError(ck, 'ERR_KEY_UNAVAILABLE', 'wrapping in the PKCS#11 token failed', err);
    }
  };

  const parse = (wrapped: Uint8Array): { id: Buffer; iv: Buffer; sealed: Buffer; header: Buffer } => {
    const blob = asBuffer(wrapped);
    if (blob.length < BLOB_OVERHEAD || blob[0] !== BLOB_FORMAT) throw malformed();
    return {
      header: blob.subarray(0, BLOB_HEADER_BYTES),
      id: blob.subarray(1, BLOB_HEADER_BYTES),
      iv: blob.subarray(BLOB_HEADER_BYTES, BLOB_HEADER_BYTES + IV_BYTES),
      sealed: blob.subarray(BLOB_HEADER_BYTES + IV_BYTES),
    };
  };

  const open = (wrapped: Uint8Array, context: string): Buffer => {
    live();
    const { header, id, iv, sealed } = parse(wrapped);
    const kek = kekNamed(id);
    if (!kek) throw new VaultError('ERR_KEY_UNAVAILABLE', `this key was wrapped under ${kekIdOf(id.toString('hex'))}, which the PKCS#11 token does not hold`);
    const s = live();
    try {
      api.C_DecryptInit(s, gcm(Buffer.from(iv), aadFor(header, context)), kek.handle);
    } catch (err) {
      if (isHandleGone(err)) {
        current().byHex.delete(kek.hex);
        throw new VaultError('ERR_KEY_UNAVAILABLE', `KEK ${kekIdOf(kek.hex)} is no longer in the PKCS#11 token`);
      }
      throw tokenError(ck, 'ERR_KEY_UNAVAILABLE', 'unwrapping in the PKCS#11 token failed', err);
    }
    // SoftHSM needs room for the tag in the output buffer even though it writes only the plaintext.
    const out = Buffer.alloc(sealed.length);
    try {
      return api.C_Decrypt(s, sealed, out);
    } catch (err) {
      out.fill(0);
      const code = (err as { code?: unknown }).code;
      // Once C_DecryptInit accepted the key, a failure is the data's (SoftHSM reports a bad GCM tag
      // as CKR_GENERAL_ERROR), unless the session or device itself went away.
      const gone = [ck.CKR_SESSION_HANDLE_INVALID, ck.CKR_SESSION_CLOSED, ck.CKR_DEVICE_REMOVED, ck.CKR_DEVICE_ERROR, ck.CKR_TOKEN_NOT_PRESENT, ck.CKR_USER_NOT_LOGGED_IN];
      if (gone.includes(code as number)) throw tokenError(ck, 'ERR_KEY_UNAVAILABLE', 'the PKCS#11 session was lost', err);
      throw decryptFailed();
    }
  };

  const reload = (): void => {
    const found = stateOf(listKeks());
    if (!found) throw new VaultError('ERR_KEY_UNAVAILABLE', `the PKCS#11 token holds no active KEK labelled '${keyLabel}'`);
    state = found;
  };

  const parseKekId = (kekId: string): string => {
    const prefix = `pkcs11:${keyLabel}:`;
    const hex = kekId.startsWith(prefix) ? kekId.slice(prefix.length) : '';
    if (!/^[0-9a-f]{16}$/.test(hex)) throw new VaultError('ERR_KEY_UNAVAILABLE', `${kekId} is not a KEK of this provider (${prefix}...)`);
    return hex;
  };

  interface RatchetObject {
    readonly handle: Handle;
    readonly generation: bigint;
    readonly value: Buffer;
  }

  const ratchetObjects = (): RatchetObject[] => {
    const objects: RatchetObject[] = [];
    for (const handle of findObjects([
      { type: ck.CKA_CLASS, value: ck.CKO_DATA },
      { type: ck.CKA_LABEL, value: ratchetLabel },
    ])) {
      let value: Buffer | undefined;
      try {
        value = api.C_GetAttributeValue(live(), handle, [{ type: ck.CKA_VALUE }])[0]?.value as Buffer | undefined;
      } catch (err) {
        throw tokenError(ck, 'ERR_KEY_UNAVAILABLE', `reading '${ratchetLabel}' failed`, err);
      }
      if (!value || value.length < RATCHET_GENERATION_BYTES) throw new VaultError('ERR_KEY_UNAVAILABLE', `the object '${ratchetLabel}' in the PKCS#11 token is malformed`);
      objects.push({ handle, generation: value.readBigUInt64BE(0), value: Buffer.from(value) });
    }
    // The highest generation wins; equal generations (two writers) are ordered by value so every reader picks the same.
    return objects.sort((a, b) => (a.generation === b.generation ? Buffer.compare(b.value, a.value) : a.generation > b.generation ? -1 : 1));
  };

  const provider: KeyProvider = {
    get kekId() {
      return kekIdOf(current().active.hex);
    },
    get kekFingerprint() {
      return Buffer.from(current().active.id);
    },
    kekIds() {
      const { active, byHex } = current();
      const others = [...byHex.values()].filter((k) => k !== active).sort(byId);
      return [active, ...others].map((k) => kekIdOf(k.hex));
    },
    kekOf(wrapped) {
      return kekIdOf(parse(wrapped).id.toString('hex'));
    },
    async wrapDataKey(dek, context) {
      if (dek.length > MAX_DATA_KEY_BYTES) throw new TypeError(`data-key material is limited to ${MAX_DATA_KEY_BYTES} bytes`);
      return seal(dek, dataKeyContext(context));
    },
    async unwrapDataKey(wrapped, context) {
      return open(wrapped, dataKeyContext(context));
    },
    async wrapSecret(name, secret) {
      if (secret.length > MAX_SECRET_BYTES) throw new TypeError(`a secret is limited to ${MAX_SECRET_BYTES} bytes`);
      return seal(secret, secretContext(name));
    },
    async unwrapSecret(name, wrapped) {
      return open(wrapped, secretContext(name));
    },
    async createKek() {
      live();
      state = rotate();
      return kekIdOf(state.active.hex);
    },
    async refresh() {
      live();
      reload();
    },
    async retireKek(kekId) {
      const hex = parseKekId(kekId);
      live();
      // Decided on the token's current state, not this instance's, so a stale instance cannot
      // destroy the KEK another one just made active.
      reload();
      if (hex === state.active.hex) throw new VaultError('ERR_CONFLICT', `${kekId} is the active KEK and cannot be retired`);
      const kek = state.byHex.get(hex);
      if (!kek) return;
      try {
        api.C_DestroyObject(live(), kek.handle);
      } catch (err) {
        if (!isHandleGone(err)) throw tokenError(ck, 'ERR_KEY_UNAVAILABLE', `destroying ${kekId} failed`, err);
      }
      state.byHex.delete(hex);
    },
    async readMonthRatchet() {
      const newest = ratchetObjects()[0];
      return newest ? Buffer.from(newest.value.subarray(RATCHET_GENERATION_BYTES)) : undefined;
    },
    async writeMonthRatchet(ratchet) {
      if (ratchet.length > MAX_RATCHET_BYTES) throw new TypeError(`the month ratchet is limited to ${MAX_RATCHET_BYTES} bytes`);
      const existing = ratchetObjects();
      const value = Buffer.alloc(RATCHET_GENERATION_BYTES + ratchet.length);
      value.writeBigUInt64BE((existing[0]?.generation ?? 0n) + 1n, 0);
      value.set(ratchet, RATCHET_GENERATION_BYTES);
      // New object first, old ones after: a crash in between leaves both, and the higher generation wins.
      try {
        api.C_CreateObject(live(), [
          { type: ck.CKA_CLASS, value: ck.CKO_DATA },
          { type: ck.CKA_TOKEN, value: true },
          { type: ck.CKA_PRIVATE, value: true },
          { type: ck.CKA_MODIFIABLE, value: false },
          { type: ck.CKA_LABEL, value: ratchetLabel },
          { type: ck.CKA_APPLICATION, value: OBJECT_APPLICATION },
          { type: ck.CKA_VALUE, value },
        ]);
      } catch (err) {
        throw tokenError(ck, 'ERR_KEY_UNAVAILABLE', `writing '${ratchetLabel}' failed`, err);
      }
      for (const old of existing) {
        try {
          api.C_DestroyObject(live(), old.handle);
        } catch (err) {
          if (!isHandleGone(err)) throw tokenError(ck, 'ERR_KEY_UNAVAILABLE', `removing an older '${ratchetLabel}' failed`, err);
        }
      }
    },
    close() {
      if (closed) return;
      closed = true;
      releaseSession();
    },
  };
  return provider;
}
