import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import fs from 'node:fs/promises';
import path from 'node:path';
import { inspect } from 'node:util';
import { describe, it } from 'node:test';
import { KeyRing, ENVELOPE_OVERHEAD, envelopePlaintextBytes, loadAead, openLocalKeyProvider, readEnvelopeHeader, type RecordBinding } from '../../src/crypto/index.js';
import { isVaultError } from '../../src/errors/index.js';
import { EnvelopeRun } from '../../src/crypto/envelope.js';
import { RECORD_CONTEXT } from '../../src/crypto/record-context.js';
import { tempDir } from '../support/vault.js';

async function ring(prefer?: 'native' | 'wasm', file?: string) {
  const aead = await loadAead(prefer);
  const kekFile = file ?? path.join(await tempDir('vault-kek-'), 'kek.bin');
  const provider = await openLocalKeyProvider({ file: kekFile, createIfMissing: true, aead });
  return { keyRing: new KeyRing(aead, provider), kekFile };
}

const binding: RecordBinding = {
  eventId: randomUUID(),
  employeeId: 'emp-1',
  orgUnit: 'research',
  kind: 'keystroke',
  capturedAt: new Date('2026-11-20T10:00:00.123Z'),
  sensitivity: 2,
  dekVersion: 1,
};

const decryptFails = (fn: () => unknown) => assert.throws(fn, (err) => isVaultError(err, 'ERR_DECRYPT_FAILED'));

describe('record envelopes', () => {
  it('round-trips a record and describes itself in the header', async () => {
    const { keyRing } = await ring();
    const key = await keyRing.unwrapDataKey(await keyRing.createDataKey('emp-1', 1));
    const envelope = keyRing.encryptRecord(key, binding, Buffer.from('typed text'));
    assert.equal(keyRing.decryptRecord(key, binding, envelope).toString(), 'typed text');
    const header = readEnvelopeHeader(envelope);
    assert.deepEqual([header.formatVersion, header.algorithm, header.dekVersion], [1, 1, 1]);
    assert.equal(`local:${header.kekFingerprint}`, keyRing.kekId);
  });

  it('a ciphertext fails to decrypt under any other binding', async () => {
    const { keyRing } = await ring();
    const key = await keyRing.unwrapDataKey(await keyRing.createDataKey('emp-1', 1));
    const envelope = keyRing.encryptRecord(key, binding, Buffer.from('typed text'));
    const variants: Array<Partial<RecordBinding>> = [
      { eventId: randomUUID() },
      { orgUnit: 'finance' },
      { kind: 'click' },
      { capturedAt: new Date(binding.capturedAt.getTime() + 1) },
      { sensitivity: 1 },
    ];
    for (const change of variants) decryptFails(() => keyRing.decryptRecord(key, { ...binding, ...change }, envelope));
  });

  it("a ciphertext moved to another employee's row fails to decrypt", async () => {
    const { keyRing } = await ring();
    const mine = await keyRing.unwrapDataKey(await keyRing.createDataKey('emp-1', 1));
    const theirs = await keyRing.unwrapDataKey(await keyRing.createDataKey('emp-2', 1));
    const envelope = keyRing.encryptRecord(mine, binding, Buffer.from('typed text'));
    decryptFails(() => keyRing.decryptRecord(theirs, { ...binding, employeeId: 'emp-2' }, envelope));
  });

  it('a flipped bit anywhere in the envelope fails authentication', async () => {
    const { keyRing } = await ring();
    const key = await keyRing.unwrapDataKey(await keyRing.createDataKey('emp-1', 1));
    const envelope = keyRing.encryptRecord(key, binding, Buffer.from('typed text'));
    for (const at of [0, 1, 3, 11, 20, 40, envelope.length - 1]) {
      const tampered = Buffer.from(envelope);
      tampered[at]! ^= 0x01;
      decryptFails(() => keyRing.decryptRecord(key, binding, tampered));
    }
    decryptFails(() => keyRing.decryptRecord(key, binding, envelope.subarray(0, 30)));
  });

  it('the native and WebAssembly libsodium bindings read each other’s ciphertexts', async () => {
    const native = await ring('native');
    const wasm = await ring('wasm', native.kekFile);
    const stored = await native.keyRing.createDataKey('emp-1', 1);
    const nKey = await native.keyRing.unwrapDataKey(stored);
    const wKey = await wasm.keyRing.unwrapDataKey(stored);
    const fromNative = native.keyRing.encryptRecord(nKey, binding, Buffer.from('one'));
    const fromWasm = wasm.keyRing.encryptRecord(wKey, binding, Buffer.from('two'));
    assert.equal(wasm.keyRing.decryptRecord(wKey, binding, fromNative).toString(), 'one');
    assert.equal(native.keyRing.decryptRecord(nKey, binding, fromWasm).toString(), 'two');
  });

  it('opens into a caller\'s buffer as it opens into its own, on both bindings, and leaves it zeroed when it fails', async () => {
    const native = await ring('native');
    const wasm = await ring('wasm', native.kekFile);
    const stored = await native.keyRing.createDataKey('emp-1', 1);
    for (const { keyRing } of [native, wasm]) {
      const key = await keyRing.unwrapDataKey(stored);
      const envelope = keyRing.encryptRecord(key, binding, Buffer.from('typed text, Zoë'));
      const body = Buffer.alloc(4 + envelopePlaintextBytes(envelope) + 4, 0xee);
      keyRing.decryptRecordInto(key, binding, envelope, body.subarray(4, body.length - 4));
      assert.equal(body.subarray(4, body.length - 4).toString(), 'typed text, Zoë');
      assert.deepEqual([...body.subarray(0, 4), ...body.subarray(body.length - 4)], Array(8).fill(0xee), 'wrote outside its target');

      const tampered = Buffer.from(envelope);
      tampered[tampered.length - 1]! ^= 0x01;
      const otherVersion = Buffer.from(envelope);
      otherVersion[13]! ^= 0x02;
      const failing: Array<[string, RecordBinding, Uint8Array, number]> = [
        ['a tampered tag', binding, tampered, 0],
        ['another binding (AAD)', { ...binding, kind: 'click' }, envelope, 0],
        ['another key version in the header', binding, otherVersion, 0],
        ['a target one byte long', binding, envelope, 1],
        ['another employee', { ...binding, employeeId: 'emp-2' }, envelope, 0],
      ];
      for (const [what, b, env, extra] of failing) {
        const target = Buffer.alloc(envelopePlaintextBytes(env) + extra, 0xee);
        decryptFails(() => keyRing.decryptRecordInto(key, b, env, target));
        assert.ok(target.every((x) => x === 0), `${keyRing === wasm.keyRing ? 'wasm' : 'native'}: ${what} left bytes in its target`);
      }
      decryptFails(() => keyRing.decryptRecordInto(key, binding, envelope.subarray(0, 30), Buffer.alloc(0)));
    }
  });

  it('every record gets a fresh nonce', async () => {
    const { keyRing } = await ring();
    const key = await keyRing.unwrapDataKey(await keyRing.createDataKey('emp-1', 1));
    const { envelopes, ends } = keyRing.sealRecords(Array.from({ length: 1000 }, () => ({ key, binding, plaintext: 'same' })));
    const nonces = ends.map((end, i) => envelopes.subarray((i === 0 ? 0 : ends[i - 1]!) + 14, (i === 0 ? 0 : ends[i - 1]!) + 38).toString('hex'));
    assert.equal(new Set(nonces).size, 1000);
  });

  it('seals a chunk back to back in one buffer of its own, skipping the records given as undefined', async () => {
    const { keyRing } = await ring();
    const key = await keyRing.unwrapDataKey(await keyRing.createDataKey('emp-1', 1));
    const texts = ['{"text":"typed"}', undefined, '{"text":"Zoë ☃ 𝔘"}', '', undefined, 'x'.repeat(5000), '{"lone":"\ud800"}'];
    const bindings = texts.map((_, i) => ({ ...binding, eventId: `0190a0c5-7f3e-7a41-9c0e-${String(i).padStart(12, '0')}` }));
    const { envelopes, ends } = keyRing.sealRecords(texts.map((plaintext, i) => (plaintext === undefined ? undefined : { key, binding: bindings[i]!, plaintext })));
    assert.equal(envelopes.byteOffset, 0);
    assert.equal(envelopes.buffer.byteLength, envelopes.length, 'the buffer owns its memory, so it can be moved to another thread');
    assert.equal(ends.length, texts.length);
    assert.equal(ends.at(-1), envelopes.length);
    texts.forEach((text, i) => {
      const envelope = envelopes.subarray(i === 0 ? 0 : ends[i - 1]!, ends[i]!);
      if (text === undefined) return assert.equal(envelope.length, 0);
      assert.equal(envelope.length, ENVELOPE_OVERHEAD + Buffer.byteLength(text));
      assert.deepEqual(keyRing.decryptRecord(key, bindings[i]!, envelope), Buffer.from(text));
      // Bound to its own record: another record's binding does not open it.
      decryptFails(() => keyRing.decryptRecord(key, bindings[(i + 2) % texts.length]!, envelope));
    });
    const other = await keyRing.unwrapDataKey(await keyRing.createDataKey('emp-2', 1));
    assert.throws(() => keyRing.sealRecords([{ key: other, binding, plaintext: 'x' }]), /does not belong/);
  });
  it('seals a chunk whose bindings differ in length, long and non-ASCII ones among them, as each opens alone', async () => {
    const { keyRing } = await ring();
    const employeeId = 'e'.repeat(128);
    const key = await keyRing.unwrapDataKey(await keyRing.createDataKey(employeeId, 3));
    const bindings: RecordBinding[] = [
      { ...binding, employeeId, dekVersion: 3 },
      { ...binding, employeeId, dekVersion: 3, orgUnit: `recherche-${'é'.repeat(100)}`, categories: ['health', 'credentials'] },
      { ...binding, employeeId, dekVersion: 3, orgUnit: 'r', kind: 'k', sensitivity: 0 },
      { ...binding, employeeId, dekVersion: 3, orgUnit: '☃'.repeat(300) },
      { ...binding, employeeId, dekVersion: 3, eventId: randomUUID() },
    ];
    const texts = bindings.map((_, i) => `{"n":${i},"text":"${'ä'.repeat(i * 40)}"}`);
    const { envelopes, ends } = keyRing.sealRecords(bindings.map((b, i) => ({ key, binding: b, plaintext: texts[i]! })));
    bindings.forEach((b, i) => {
      const envelope = envelopes.subarray(i === 0 ? 0 : ends[i - 1]!, ends[i]!);
      assert.equal(keyRing.decryptRecord(key, b, envelope).toString(), texts[i]);
      decryptFails(() => keyRing.decryptRecord(key, bindings[(i + 1) % bindings.length]!, envelope));
    });
  });
});

describe('a run of envelopes', () => {
  it('refuses a plaintext longer or shorter than stated instead of sealing part of it', async () => {
    const aead = await loadAead();
    const key = Buffer.alloc(32, 7);
    const fingerprint = Buffer.alloc(8, 1);
    for (const [text, stated] of [['abcdEFGH', 4], ['abcdé', 5], ['ab', 4], ['☃☃', 4]] as const) {
      const run = new EnvelopeRun(aead, Buffer.alloc(ENVELOPE_OVERHEAD * 2 + 16), fingerprint, RECORD_CONTEXT, 2, 4);
      assert.throws(() => run.seal(key, 1, binding, text, stated), /not as long as stated/, `${text} stated as ${stated} bytes`);
      run.wipe();
    }
  });
});

describe('key hierarchy', () => {
  it('a data key wrapped for one employee does not unwrap for another', async () => {
    const { keyRing } = await ring();
    const stored = await keyRing.createDataKey('emp-1', 1);
    await assert.rejects(keyRing.unwrapDataKey({ ...stored, employeeId: 'emp-2' }), (err) => isVaultError(err, 'ERR_DECRYPT_FAILED'));
    await assert.rejects(keyRing.unwrapDataKey({ ...stored, dekVersion: 2 }), (err) => isVaultError(err, 'ERR_DECRYPT_FAILED'));
  });

  it('a data key wrapped under another KEK does not unwrap, and the error names both KEKs', async () => {
    const a = await ring();
    const b = await ring();
    await assert.rejects(
      b.keyRing.unwrapDataKey(await a.keyRing.createDataKey('emp-1', 1)),
      (err) => isVaultError(err, 'ERR_KEY_UNAVAILABLE') && err.message.includes(a.keyRing.kekId) && err.message.includes(b.keyRing.kekId) && /another KEK/.test(err.message),
    );
  });

  it('creates the KEK file with mode 0600 and refuses one readable by others', async () => {
    const { kekFile } = await ring();
    const stat = await fs.stat(kekFile);
    assert.equal(stat.mode & 0o777, 0o600);
    assert.equal(stat.size, 32);
    await fs.chmod(kekFile, 0o644);
    const aead = await loadAead();
    await assert.rejects(openLocalKeyProvider({ file: kekFile, createIfMissing: true, aead }), (err) => isVaultError(err, 'ERR_CONFIG'));
  });

  it('refuses to invent a KEK when creation is not allowed', async () => {
    const aead = await loadAead();
    const file = path.join(await tempDir('vault-kek-'), 'missing.bin');
    await assert.rejects(openLocalKeyProvider({ file, createIfMissing: false, aead }), (err) => isVaultError(err, 'ERR_KEY_UNAVAILABLE'));
  });

  it('unwrapped keys never print; a caller’s copy outlives cache eviction and is zeroed by destroy()', async () => {
    const aead = await loadAead();
    const provider = await openLocalKeyProvider({ file: path.join(await tempDir('vault-kek-'), 'k'), createIfMissing: true, aead });
    const keyRing = new KeyRing(aead, provider, { maxCachedKeys: 2 });
    const first = await keyRing.unwrapDataKey(await keyRing.createDataKey('emp-1', 1));
    const hex = first.bytes().toString('hex');
    assert.ok(!inspect(first).includes(hex) && !JSON.stringify(first).includes(hex));
    const envelope = keyRing.encryptRecord(first, { ...binding, employeeId: 'emp-1' }, Buffer.from('in flight'));
    await keyRing.unwrapDataKey(await keyRing.createDataKey('emp-2', 1));
    await keyRing.unwrapDataKey(await keyRing.createDataKey('emp-3', 1));
    assert.equal(keyRing.cachedKeyCount, 2, 'emp-1 was evicted from the cache');
    assert.equal(keyRing.decryptRecord(first, { ...binding, employeeId: 'emp-1' }, envelope).toString(), 'in flight', 'an in-flight copy survives eviction');
    const bytes = first.bytes();
    first.destroy();
    assert.ok(bytes.every((b) => b === 0), 'destroy() zeroes the copy');
    assert.throws(() => first.bytes(), (err) => isVaultError(err, 'ERR_KEY_UNAVAILABLE'));
    keyRing.close();
    await assert.rejects(keyRing.createDataKey('emp-4', 1), (err) => isVaultError(err, 'ERR_KEY_UNAVAILABLE'));
  });

  it('concurrent misses unwrap once, and expired keys are swept without being asked for', async () => {
    const aead = await loadAead();
    const provider = await openLocalKeyProvider({ file: path.join(await tempDir('vault-kek-'), 'k'), createIfMissing: true, aead });
    let unwraps = 0;
    const countUnwrap = (w: Uint8Array, c: { employeeId: string; dekVersion: number }) => (unwraps++, provider.unwrapDataKey(w, c));
    const counting = new Proxy(provider, {
      get: (target, prop) => {
        if (prop === 'unwrapDataKey') return countUnwrap;
        const value: unknown = Reflect.get(target, prop, target);
        return typeof value === 'function' ? value.bind(target) : value;
      },
    });
    const keyRing = new KeyRing(aead, counting, { maxKeyAgeMs: 30 });
    const stored = await keyRing.createDataKey('emp-1', 1);
    const copies = await Promise.all(Array.from({ length: 10 }, () => keyRing.unwrapDataKey(stored)));
    assert.equal(unwraps, 1);
    assert.equal(new Set(copies.map((k) => k.bytes().toString('hex'))).size, 1);
    assert.equal(keyRing.cachedKeyCount, 1);
    await new Promise((r) => setTimeout(r, 100));
    assert.equal(keyRing.cachedKeyCount, 0, 'the idle key was zeroed and dropped by the sweeper');
    keyRing.close();
  });
});
