import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import fs from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { inspect } from 'node:util';
import { after, before, describe, it } from 'node:test';
import type { KeyProvider } from '../../src/crypto/key-provider.js';
import { openPkcs11KeyProvider, type Pkcs11KeyProviderOptions } from '../../src/crypto/pkcs11-provider.js';
import { isVaultError, type VaultErrorCode } from '../../src/errors/index.js';

const repo = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');
const providerModule = path.join(repo, 'src/crypto/pkcs11-provider.ts');

let hsmDir = '';
let env: Record<string, string> = {};
let pin = '';
let labels = 0;
const seenErrors: unknown[] = [];

/** A key label of its own per test, so the tests share one token without sharing KEKs. */
function freshLabel(): string {
  labels += 1;
  return `kek-${process.pid}-${labels}`;
}

function options(keyLabel: string, over: Partial<Pkcs11KeyProviderOptions> = {}): Pkcs11KeyProviderOptions {
  return {
    module: env.VAULT_PKCS11_MODULE!,
    tokenLabel: env.VAULT_PKCS11_TOKEN_LABEL!,
    pinFile: env.VAULT_PKCS11_PIN_FILE!,
    keyLabel,
    createIfMissing: true,
    ...over,
  };
}

async function rejectsWith(action: Promise<unknown> | (() => unknown), code: VaultErrorCode): Promise<void> {
  try {
    await (typeof action === 'function' ? action() : action);
  } catch (err) {
    seenErrors.push(err);
    assert.ok(isVaultError(err, code), `expected ${code}, got ${inspect(err)}`);
    return;
  }
  assert.fail(`expected ${code}, but it succeeded`);
}

/**
 * Another process working on the token with raw PKCS#11 calls: how the tests put the token into
 * the states a crash between two steps would leave, and read what the provider cannot show.
 */
const TOKEN_TOOL = String.raw`
const p = require('pkcs11js');
const fs = require('fs');
const crypto = require('crypto');
const [op, ...args] = process.argv.slice(1);
const h = new p.PKCS11();
h.load(process.env.VAULT_PKCS11_MODULE);
h.C_Initialize();
const slot = h.C_GetSlotList(true).find((s) => h.C_GetTokenInfo(s).label.trim() === process.env.VAULT_PKCS11_TOKEN_LABEL);
const s = h.C_OpenSession(slot, p.CKF_SERIAL_SESSION | p.CKF_RW_SESSION);
h.C_Login(s, p.CKU_USER, fs.readFileSync(process.env.VAULT_PKCS11_PIN_FILE, 'utf8').trim());
const find = (tpl) => { h.C_FindObjectsInit(s, tpl); const r = h.C_FindObjects(s, 1000); h.C_FindObjectsFinal(s); return r; };
const keyById = (hex) => {
  const r = find([{ type: p.CKA_CLASS, value: p.CKO_SECRET_KEY }, { type: p.CKA_ID, value: Buffer.from(hex, 'hex') }]);
  if (r.length !== 1) throw new Error('expected one key with id ' + hex + ', found ' + r.length);
  return r[0];
};
const attr = (o, t) => h.C_GetAttributeValue(s, o, [{ type: t }])[0].value;
const failure = (fn) => { try { fn(); return 'succeeded'; } catch (e) { return e.message; } };
let out;
switch (op) {
  case 'generate': {
    const id = args[1] ? Buffer.from(args[1], 'hex') : crypto.randomBytes(8);
    h.C_GenerateKey(s, { mechanism: p.CKM_AES_KEY_GEN }, [
      { type: p.CKA_CLASS, value: p.CKO_SECRET_KEY }, { type: p.CKA_KEY_TYPE, value: p.CKK_AES }, { type: p.CKA_VALUE_LEN, value: 32 },
      { type: p.CKA_TOKEN, value: true }, { type: p.CKA_PRIVATE, value: true }, { type: p.CKA_SENSITIVE, value: true },
      { type: p.CKA_EXTRACTABLE, value: false }, { type: p.CKA_ENCRYPT, value: true }, { type: p.CKA_DECRYPT, value: true },
      { type: p.CKA_ID, value: id }, { type: p.CKA_LABEL, value: args[0] },
    ]);
    out = id.toString('hex');
    break;
  }
  case 'relabel':
    h.C_SetAttributeValue(s, keyById(args[0]), [{ type: p.CKA_LABEL, value: args[1] }]);
    break;
  case 'destroy':
    h.C_DestroyObject(s, keyById(args[0]));
    break;
  case 'list': {
    out = [];
    for (const [kind, cls] of [['key', p.CKO_SECRET_KEY], ['data', p.CKO_DATA]]) {
      for (const o of find([{ type: p.CKA_CLASS, value: cls }])) {
        const label = attr(o, p.CKA_LABEL).toString();
        if (label !== args[0] && !label.startsWith(args[0] + '.')) continue;
        out.push(kind === 'key' ? { kind, label, id: attr(o, p.CKA_ID).toString('hex') } : { kind, label, value: attr(o, p.CKA_VALUE).toString('hex') });
      }
    }
    out.sort((a, b) => JSON.stringify(a).localeCompare(JSON.stringify(b)));
    break;
  }
  case 'attributes': {
    const k = keyById(args[0]);
    const bool = (t) => attr(k, t)[0] === 1;
    out = {
      token: bool(p.CKA_TOKEN), private: bool(p.CKA_PRIVATE), sensitive: bool(p.CKA_SENSITIVE),
      extractable: bool(p.CKA_EXTRACTABLE), neverExtractable: bool(p.CKA_NEVER_EXTRACTABLE), alwaysSensitive: bool(p.CKA_ALWAYS_SENSITIVE),
      local: bool(p.CKA_LOCAL), keyType: attr(k, p.CKA_KEY_TYPE).readUInt32LE(0) === p.CKK_AES ? 'AES' : 'other', valueLen: attr(k, p.CKA_VALUE_LEN).readUInt32LE(0),
      readValue: failure(() => h.C_GetAttributeValue(s, k, [{ type: p.CKA_VALUE }])),
      makeExtractable: failure(() => h.C_SetAttributeValue(s, k, [{ type: p.CKA_EXTRACTABLE, value: true }])),
      makeInsensitive: failure(() => h.C_SetAttributeValue(s, k, [{ type: p.CKA_SENSITIVE, value: false }])),
    };
    break;
  }
  case 'put-data':
    h.C_CreateObject(s, [
      { type: p.CKA_CLASS, value: p.CKO_DATA }, { type: p.CKA_TOKEN, value: true }, { type: p.CKA_PRIVATE, value: true },
      { type: p.CKA_LABEL, value: args[0] }, { type: p.CKA_VALUE, value: Buffer.from(args[1], 'hex') },
    ]);
    break;
  default:
    throw new Error('unknown op ' + op);
}
h.C_Logout(s);
h.C_CloseSession(s);
h.C_Finalize();
process.stdout.write(JSON.stringify(out ?? null));
`;

function tokenTool<T = unknown>(...args: string[]): T {
  const out = execFileSync(process.execPath, ['-e', TOKEN_TOOL, '--', ...args], { cwd: repo, env: { ...process.env, ...env }, encoding: 'utf8' });
  return JSON.parse(out) as T;
}

interface TokenObject {
  readonly kind: 'key' | 'data';
  readonly label: string;
  readonly id?: string;
  readonly value?: string;
}

/** The vault's own provider, in another process: what a second vault instance on the same token sees. */
function otherProcess(keyLabel: string, op: 'kekId' | 'createKek'): string {
  const script = `
    const { openPkcs11KeyProvider } = await import(${JSON.stringify(providerModule)});
    const provider = await openPkcs11KeyProvider(JSON.parse(process.argv[1]));
    const out = ${op === 'createKek' ? 'await provider.createKek()' : 'provider.kekId'};
    provider.close();
    process.stdout.write(out);`;
  return execFileSync(process.execPath, ['--import', 'tsx', '--input-type=module', '-e', script, JSON.stringify(options(keyLabel, { createIfMissing: false }))], {
    cwd: repo,
    env: { ...process.env, ...env },
    encoding: 'utf8',
  });
}

const hexOf = (kekId: string): string => kekId.split(':').at(-1)!;
const dek = (employeeId: string, dekVersion: number) => ({ employeeId, dekVersion });

describe('PKCS#11 key provider on SoftHSM2', () => {
  before(async () => {
    hsmDir = await fs.mkdtemp(path.join(os.tmpdir(), 'vault-softhsm-'));
    const exports = execFileSync('bash', [path.join(repo, 'scripts/softhsm-up.sh'), hsmDir], { encoding: 'utf8' });
    for (const line of exports.trim().split('\n')) {
      const match = /^export ([A-Z0-9_]+)=(.*)$/.exec(line);
      assert.ok(match, `unexpected line from softhsm-up.sh: ${line}`);
      env[match[1]!] = match[2]!.replace(/\\(.)/g, '$1');
    }
    assert.deepEqual(Object.keys(env).sort(), [
      'SOFTHSM2_CONF',
      'VAULT_KEY_PROVIDER',
      'VAULT_PKCS11_KEY_LABEL',
      'VAULT_PKCS11_MODULE',
      'VAULT_PKCS11_PIN_FILE',
      'VAULT_PKCS11_TOKEN_LABEL',
    ]);
    // SoftHSM reads its configuration once, at C_Initialize in this process.
    process.env.SOFTHSM2_CONF = env.SOFTHSM2_CONF;
    pin = (await fs.readFile(env.VAULT_PKCS11_PIN_FILE!, 'utf8')).trim();
    assert.ok(pin.length >= 16);
  });

  after(async () => {
    assert.ok(seenErrors.length > 10);
    for (const err of seenErrors) {
      const shown = `${inspect(err, { depth: 5 })} ${JSON.stringify(err)} ${(err as Error).stack}`;
      assert.ok(!shown.includes(pin), `an error named the PIN: ${(err as Error).message}`);
    }
    await fs.rm(hsmDir, { recursive: true, force: true });
  });

  it('the setup script is idempotent and keeps the PIN file private', async () => {
    const again = execFileSync('bash', [path.join(repo, 'scripts/softhsm-up.sh'), hsmDir], { encoding: 'utf8' });
    assert.match(again, /^export VAULT_KEY_PROVIDER=pkcs11$/m);
    assert.match(again, /^export VAULT_PKCS11_KEY_LABEL=vault-kek$/m);
    assert.equal((await fs.readFile(env.VAULT_PKCS11_PIN_FILE!, 'utf8')).trim(), pin);
    assert.equal((await fs.stat(env.VAULT_PKCS11_PIN_FILE!)).mode & 0o777, 0o600);
  });

  it('wraps data keys of 32 and 72 bytes and secrets in the token, and the blob names its KEK', async () => {
    const provider = await openPkcs11KeyProvider(options(freshLabel()));
    try {
      assert.equal(provider.kekFingerprint.length, 8);
      assert.match(provider.kekId, /^pkcs11:kek-\d+-\d+:[0-9a-f]{16}$/);
      assert.equal(hexOf(provider.kekId), provider.kekFingerprint.toString('hex'));
      assert.deepEqual(provider.kekIds(), [provider.kekId]);
      for (const size of [32, 72, 1024]) {
        const material = Buffer.alloc(size, size);
        const wrapped = await provider.wrapDataKey(material, dek('emp-1', 3));
        assert.equal(wrapped.length, 1 + 8 + 12 + size + 16);
        assert.equal(wrapped[0], 0x81);
        assert.ok(wrapped.subarray(1, 9).equals(provider.kekFingerprint));
        assert.equal(provider.kekOf(wrapped), provider.kekId);
        assert.ok(!wrapped.includes(material.subarray(0, 16)), 'the key material is not in the blob');
        assert.deepEqual(await provider.unwrapDataKey(wrapped, dek('emp-1', 3)), material);
      }
      const a = await provider.wrapDataKey(Buffer.alloc(32, 1), dek('emp-1', 1));
      const b = await provider.wrapDataKey(Buffer.alloc(32, 1), dek('emp-1', 1));
      assert.ok(!a.subarray(9, 21).equals(b.subarray(9, 21)), 'every wrap draws a fresh IV');
      await assert.rejects(provider.wrapDataKey(Buffer.alloc(1025), dek('emp-1', 1)), TypeError);

      const secret = Buffer.from('audit-mac-key-0123456789abcdef!!');
      const sealed = await provider.wrapSecret('audit-mac', secret);
      assert.deepEqual(await provider.unwrapSecret('audit-mac', sealed), secret);
      await assert.rejects(provider.wrapSecret('empty', Buffer.alloc(0)), TypeError);
    } finally {
      provider.close();
    }
  });

  it('an altered blob or a wrong context fails with ERR_DECRYPT_FAILED', async () => {
    const provider = await openPkcs11KeyProvider(options(freshLabel()));
    try {
      const wrapped = await provider.wrapDataKey(Buffer.alloc(72, 7), dek('emp-1', 2));
      for (const at of [9, 20, 21, 21 + 40, wrapped.length - 16, wrapped.length - 1]) {
        const altered = Buffer.from(wrapped);
        altered[at]! ^= 0x01;
        await rejectsWith(provider.unwrapDataKey(altered, dek('emp-1', 2)), 'ERR_DECRYPT_FAILED');
      }
      const badFormat = Buffer.from(wrapped);
      badFormat[0] = 0x01;
      await rejectsWith(provider.unwrapDataKey(badFormat, dek('emp-1', 2)), 'ERR_DECRYPT_FAILED');
      await rejectsWith(() => provider.kekOf(badFormat), 'ERR_DECRYPT_FAILED');
      await rejectsWith(provider.unwrapDataKey(wrapped.subarray(0, 36), dek('emp-1', 2)), 'ERR_DECRYPT_FAILED');
      await rejectsWith(provider.unwrapDataKey(wrapped, dek('emp-2', 2)), 'ERR_DECRYPT_FAILED');
      await rejectsWith(provider.unwrapDataKey(wrapped, dek('emp-1', 3)), 'ERR_DECRYPT_FAILED');
      await rejectsWith(provider.unwrapSecret('emp-1', wrapped), 'ERR_DECRYPT_FAILED');
      const secret = await provider.wrapSecret('checkpoint-signing', Buffer.alloc(64, 9));
      await rejectsWith(provider.unwrapSecret('audit-mac', secret), 'ERR_DECRYPT_FAILED');
      await rejectsWith(provider.unwrapDataKey(secret, dek('checkpoint-signing', 1)), 'ERR_DECRYPT_FAILED');

      // A changed KEK id names a KEK the token does not hold: the cause is named, not hidden as a bad tag.
      const otherKek = Buffer.from(wrapped);
      otherKek[1]! ^= 0x01;
      await rejectsWith(provider.unwrapDataKey(otherKek, dek('emp-1', 2)), 'ERR_KEY_UNAVAILABLE');
      // The session survives every failure above.
      assert.deepEqual(await provider.unwrapDataKey(wrapped, dek('emp-1', 2)), Buffer.alloc(72, 7));
    } finally {
      provider.close();
    }
  });

  it('the KEK is generated in the token and cannot be read out of it', async () => {
    const keyLabel = freshLabel();
    const provider = await openPkcs11KeyProvider(options(keyLabel));
    const id = provider.kekFingerprint.toString('hex');
    provider.close();
    const found = tokenTool<Record<string, unknown>>('attributes', id);
    assert.deepEqual(found, {
      token: true,
      private: true,
      sensitive: true,
      extractable: false,
      neverExtractable: true,
      alwaysSensitive: true,
      local: true,
      keyType: 'AES',
      valueLen: 32,
      readValue: 'CKR_ATTRIBUTE_SENSITIVE',
      makeExtractable: found.makeExtractable,
      makeInsensitive: found.makeInsensitive,
    });
    assert.match(String(found.makeExtractable), /^CKR_/);
    assert.match(String(found.makeInsensitive), /^CKR_/);
    assert.deepEqual(tokenTool<TokenObject[]>('list', keyLabel), [{ kind: 'key', label: keyLabel, id }]);
  });

  it('fails closed on a wrong module, token or PIN, a loose PIN file or a missing KEK, and never names the PIN', async () => {
    const keyLabel = freshLabel();
    const wrongPin = path.join(hsmDir, 'wrong-pin');
    await fs.writeFile(wrongPin, `${pin.slice(0, -1)}x\n`, { mode: 0o600 });
    const loosePin = path.join(hsmDir, 'loose-pin');
    await fs.writeFile(loosePin, pin, { mode: 0o600 });
    await fs.chmod(loosePin, 0o640);

    // Nothing is open in this process: the token itself checks the PIN.
    await rejectsWith(openPkcs11KeyProvider(options(keyLabel, { pinFile: wrongPin })), 'ERR_CONFIG');
    await rejectsWith(openPkcs11KeyProvider(options(keyLabel, { pinFile: loosePin })), 'ERR_CONFIG');
    await rejectsWith(openPkcs11KeyProvider(options(keyLabel, { pinFile: path.join(hsmDir, 'absent') })), 'ERR_CONFIG');
    await rejectsWith(openPkcs11KeyProvider(options(keyLabel, { module: path.join(hsmDir, 'libabsent.so') })), 'ERR_CONFIG');
    await rejectsWith(openPkcs11KeyProvider(options(keyLabel, { module: env.SOFTHSM2_CONF! })), 'ERR_CONFIG');
    await rejectsWith(openPkcs11KeyProvider(options(keyLabel, { tokenLabel: 'no-such-token' })), 'ERR_CONFIG');
    await rejectsWith(openPkcs11KeyProvider(options(keyLabel, { slot: 424242 })), 'ERR_CONFIG');
    await rejectsWith(openPkcs11KeyProvider(options(keyLabel, { tokenLabel: undefined })), 'ERR_CONFIG');
    await rejectsWith(openPkcs11KeyProvider(options('')), 'ERR_CONFIG');
    await rejectsWith(openPkcs11KeyProvider(options(keyLabel, { createIfMissing: false })), 'ERR_KEY_UNAVAILABLE');
    assert.deepEqual(tokenTool('list', keyLabel), [], 'a refused open created nothing');

    // With a provider open the login is shared; a wrong PIN is still refused.
    const provider = await openPkcs11KeyProvider(options(keyLabel));
    try {
      await rejectsWith(openPkcs11KeyProvider(options(keyLabel, { pinFile: wrongPin })), 'ERR_CONFIG');
      const second = await openPkcs11KeyProvider(options(keyLabel, { createIfMissing: false }));
      assert.equal(second.kekId, provider.kekId);
      second.close();
      assert.deepEqual(await provider.unwrapSecret('s', await provider.wrapSecret('s', Buffer.from('still logged in'))), Buffer.from('still logged in'));
    } finally {
      provider.close();
    }

    await rejectsWith(provider.wrapDataKey(Buffer.alloc(32), dek('emp-1', 1)), 'ERR_KEY_UNAVAILABLE');
    await rejectsWith(provider.unwrapSecret('s', Buffer.alloc(64)), 'ERR_KEY_UNAVAILABLE');
    await rejectsWith(provider.readMonthRatchet(), 'ERR_KEY_UNAVAILABLE');
    await rejectsWith(() => provider.kekId, 'ERR_KEY_UNAVAILABLE');
    provider.close();

    // The module was finalised with the last provider; it initialises again.
    const reopened = await openPkcs11KeyProvider(options(keyLabel, { createIfMissing: false }));
    reopened.close();
    // A slot given by its PKCS#11 ID works, alone or with the label.
    const slotId = Number(/Slot (\d+)[\s\S]*?Label:\s+activity-vault\s*$/m.exec(execFileSync('softhsm2-util', ['--show-slots'], { env: { ...process.env, ...env }, encoding: 'utf8' }))?.[1]);
    const bySlot = await openPkcs11KeyProvider(options(keyLabel, { tokenLabel: undefined, slot: slotId, createIfMissing: false }));
    bySlot.close();
  });

  it('rotation: a new KEK becomes active, old blobs still open, other instances agree, and only a retired KEK is destroyed', async () => {
    const keyLabel = freshLabel();
    const first = await openPkcs11KeyProvider(options(keyLabel));
    const second = await openPkcs11KeyProvider(options(keyLabel, { createIfMissing: false }));
    try {
      const oldKek = first.kekId;
      assert.equal(second.kekId, oldKek);
      const oldDek = await first.wrapDataKey(Buffer.alloc(72, 1), dek('emp-1', 1));
      const oldSecret = await first.wrapSecret('audit-mac', Buffer.alloc(32, 2));

      const newKek = await first.createKek();
      assert.notEqual(newKek, oldKek);
      assert.equal(first.kekId, newKek);
      assert.deepEqual(first.kekIds(), [newKek, oldKek]);
      assert.equal(hexOf(newKek), first.kekFingerprint.toString('hex'));
      assert.deepEqual(tokenTool('list', keyLabel), [
        { kind: 'key', label: keyLabel, id: hexOf(newKek) },
        { kind: 'key', label: `${keyLabel}.previous`, id: hexOf(oldKek) },
      ].sort((a, b) => JSON.stringify(a).localeCompare(JSON.stringify(b))));

      const newDek = await first.wrapDataKey(Buffer.alloc(72, 3), dek('emp-1', 2));
      assert.equal(first.kekOf(newDek), newKek);
      assert.equal(first.kekOf(oldDek), oldKek);
      assert.deepEqual(await first.unwrapDataKey(oldDek, dek('emp-1', 1)), Buffer.alloc(72, 1));
      assert.deepEqual(await first.unwrapSecret('audit-mac', oldSecret), Buffer.alloc(32, 2));

      // Not refreshed yet: still wraps under the old KEK, but opens what the new one wrapped.
      assert.equal(second.kekId, oldKek);
      assert.deepEqual(await second.unwrapDataKey(newDek, dek('emp-1', 2)), Buffer.alloc(72, 3));
      await second.refresh();
      assert.equal(second.kekId, newKek);
      assert.equal(second.kekOf(await second.wrapDataKey(Buffer.alloc(32), dek('emp-9', 1))), newKek);
      assert.equal(otherProcess(keyLabel, 'kekId'), newKek);

      await rejectsWith(second.retireKek(newKek), 'ERR_CONFLICT');
      await rejectsWith(second.retireKek('local:0011223344556677'), 'ERR_KEY_UNAVAILABLE');

      // Another process rotates again; a stale instance may not retire what is now active.
      const thirdKek = otherProcess(keyLabel, 'createKek');
      assert.equal(first.kekId, newKek);
      await rejectsWith(first.retireKek(thirdKek), 'ERR_CONFLICT');
      assert.equal(first.kekId, thirdKek, 'retireKek decided on the token state and took it');

      await second.retireKek(oldKek);
      await second.retireKek(oldKek);
      assert.deepEqual(second.kekIds(), [thirdKek, newKek]);
      await rejectsWith(second.unwrapDataKey(oldDek, dek('emp-1', 1)), 'ERR_KEY_UNAVAILABLE');
      await rejectsWith(first.unwrapDataKey(oldDek, dek('emp-1', 1)), 'ERR_KEY_UNAVAILABLE');
      await rejectsWith(first.unwrapSecret('audit-mac', oldSecret), 'ERR_KEY_UNAVAILABLE');
      assert.deepEqual(await first.unwrapDataKey(newDek, dek('emp-1', 2)), Buffer.alloc(72, 3));

      // Retired from outside this process while this instance still holds its handle.
      tokenTool('destroy', hexOf(newKek));
      await rejectsWith(first.unwrapDataKey(newDek, dek('emp-1', 2)), 'ERR_KEY_UNAVAILABLE');
      assert.deepEqual(tokenTool<TokenObject[]>('list', keyLabel), [{ kind: 'key', label: keyLabel, id: hexOf(thirdKek) }]);
    } finally {
      first.close();
      second.close();
    }
  });

  it('a stale instance whose active KEK was destroyed elsewhere wraps under the token’s active KEK', async () => {
    const keyLabel = freshLabel();
    const stale = await openPkcs11KeyProvider(options(keyLabel));
    try {
      const before = stale.kekId;
      const after = otherProcess(keyLabel, 'createKek');
      tokenTool('destroy', hexOf(before));
      const wrapped = await stale.wrapDataKey(Buffer.alloc(32, 4), dek('emp-1', 1));
      assert.equal(stale.kekOf(wrapped), after);
      assert.equal(stale.kekId, after);
    } finally {
      stale.close();
    }
  });

  it('a crash between the steps of createKek resolves by the activation rule', async () => {
    // Crash after step 1 (a `.next` KEK exists beside the active one): the old KEK stays active,
    // and the next createKek finishes with the KEK the crashed call generated.
    {
      const keyLabel = freshLabel();
      const provider = await openPkcs11KeyProvider(options(keyLabel));
      const active = provider.kekId;
      const pending = tokenTool<string>('generate', `${keyLabel}.next`);
      await provider.refresh();
      assert.equal(provider.kekId, active);
      assert.ok(provider.kekIds().includes(`pkcs11:${keyLabel}:${pending}`));
      const reopened = await openPkcs11KeyProvider(options(keyLabel, { createIfMissing: false }));
      assert.equal(reopened.kekId, active);
      assert.equal(otherProcess(keyLabel, 'kekId'), active);
      assert.equal(await reopened.createKek(), `pkcs11:${keyLabel}:${pending}`);
      assert.deepEqual(tokenTool<TokenObject[]>('list', keyLabel).map((o) => [o.label, o.id]).sort(), [
        [keyLabel, pending],
        [`${keyLabel}.previous`, hexOf(active)],
      ]);
      await provider.refresh();
      assert.equal(provider.kekId, `pkcs11:${keyLabel}:${pending}`);
      provider.close();
      reopened.close();
    }
    // Crash after step 2 (the old KEK relabelled `.previous`, the new one still `.next`): the new
    // one is active everywhere, and the next createKek labels it and makes yet another.
    {
      const keyLabel = freshLabel();
      const provider = await openPkcs11KeyProvider(options(keyLabel));
      const old = provider.kekId;
      const wrapped = await provider.wrapDataKey(Buffer.alloc(32, 5), dek('emp-1', 1));
      const pending = tokenTool<string>('generate', `${keyLabel}.next`);
      tokenTool('relabel', hexOf(old), `${keyLabel}.previous`);
      await provider.refresh();
      assert.equal(provider.kekId, `pkcs11:${keyLabel}:${pending}`);
      assert.equal(otherProcess(keyLabel, 'kekId'), `pkcs11:${keyLabel}:${pending}`);
      const reopened = await openPkcs11KeyProvider(options(keyLabel, { createIfMissing: false }));
      assert.equal(reopened.kekId, `pkcs11:${keyLabel}:${pending}`);
      const fresh = await reopened.createKek();
      assert.ok(![old, `pkcs11:${keyLabel}:${pending}`].includes(fresh));
      assert.deepEqual(tokenTool<TokenObject[]>('list', keyLabel).map((o) => [o.label, o.id]).sort(), [
        [keyLabel, hexOf(fresh)],
        [`${keyLabel}.previous`, hexOf(old)],
        [`${keyLabel}.previous`, pending],
      ].sort());
      assert.deepEqual(await reopened.unwrapDataKey(wrapped, dek('emp-1', 1)), Buffer.alloc(32, 5));
      provider.close();
      reopened.close();
    }
    // Two KEKs labelled active (two first starts raced): the lowest CKA_ID wins, for everyone.
    {
      const keyLabel = freshLabel();
      tokenTool('generate', keyLabel, 'ff00000000000001');
      tokenTool('generate', keyLabel, '0100000000000002');
      tokenTool('generate', `${keyLabel}.next`, '0000000000000003');
      const provider = await openPkcs11KeyProvider(options(keyLabel, { createIfMissing: false }));
      assert.equal(provider.kekId, `pkcs11:${keyLabel}:0100000000000002`);
      assert.equal(otherProcess(keyLabel, 'kekId'), `pkcs11:${keyLabel}:0100000000000002`);
      assert.equal(await provider.createKek(), `pkcs11:${keyLabel}:0000000000000003`);
      assert.deepEqual(tokenTool<TokenObject[]>('list', keyLabel).map((o) => o.label).sort(), [keyLabel, `${keyLabel}.previous`, `${keyLabel}.previous`]);
      provider.close();
    }
    // A crash during the very first creation leaves only a `.next` KEK: it is the active one.
    {
      const keyLabel = freshLabel();
      const pending = tokenTool<string>('generate', `${keyLabel}.next`);
      const provider = await openPkcs11KeyProvider(options(keyLabel, { createIfMissing: false }));
      assert.equal(provider.kekId, `pkcs11:${keyLabel}:${pending}`);
      provider.close();
    }
    // Only retired KEKs and nothing active (not a state createKek leaves): refused, nothing guessed.
    {
      const keyLabel = freshLabel();
      tokenTool('generate', `${keyLabel}.previous`);
      await rejectsWith(openPkcs11KeyProvider(options(keyLabel, { createIfMissing: false })), 'ERR_KEY_UNAVAILABLE');
    }
  });

  it('the month ratchet round-trips, survives reopening, and a crash mid-write leaves the old or the new state', async () => {
    const keyLabel = freshLabel();
    const provider = await openPkcs11KeyProvider(options(keyLabel));
    try {
      assert.equal(await provider.readMonthRatchet(), undefined);
      await provider.writeMonthRatchet(Buffer.from('state-1'));
      assert.deepEqual(Buffer.from((await provider.readMonthRatchet())!), Buffer.from('state-1'));
      await provider.writeMonthRatchet(Buffer.alloc(4096, 0xab));
      assert.deepEqual(Buffer.from((await provider.readMonthRatchet())!), Buffer.alloc(4096, 0xab));
      await assert.rejects(provider.writeMonthRatchet(Buffer.alloc(4097)), TypeError);
      const objects = tokenTool<TokenObject[]>('list', keyLabel).filter((o) => o.kind === 'data');
      assert.deepEqual(objects.map((o) => [o.label, o.value!.slice(0, 16)]), [[`${keyLabel}.months`, '0000000000000002']]);
    } finally {
      provider.close();
    }
    const reopened = await openPkcs11KeyProvider(options(keyLabel, { createIfMissing: false }));
    try {
      assert.deepEqual(Buffer.from((await reopened.readMonthRatchet())!), Buffer.alloc(4096, 0xab));
      // A writer killed after creating generation 3 and before destroying generation 2.
      tokenTool('put-data', `${keyLabel}.months`, `0000000000000003${Buffer.from('state-3').toString('hex')}`);
      assert.deepEqual(Buffer.from((await reopened.readMonthRatchet())!), Buffer.from('state-3'));
      await reopened.writeMonthRatchet(Buffer.from('state-4'));
      assert.deepEqual(Buffer.from((await reopened.readMonthRatchet())!), Buffer.from('state-4'));
      assert.deepEqual(tokenTool<TokenObject[]>('list', keyLabel).filter((o) => o.kind === 'data').map((o) => o.value), [
        `0000000000000004${Buffer.from('state-4').toString('hex')}`,
      ]);
      const otherLabel = await openPkcs11KeyProvider(options(freshLabel()));
      assert.equal(await otherLabel.readMonthRatchet(), undefined, 'each key label has its own ratchet');
      otherLabel.close();
    } finally {
      reopened.close();
    }
  });
});
