import assert from 'node:assert/strict';
import { inspect } from 'node:util';
import { randomUUID } from 'node:crypto';
import path from 'node:path';
import { MessageChannel, receiveMessageOnPort } from 'node:worker_threads';
import { describe, it } from 'node:test';
import { KeyRing, loadAead, openLocalKeyProvider, RecordOpener, dataKeyId, envelopePlaintextBytes, type DataKey, type RecordBinding } from '../../src/crypto/index.js';
import { isVaultError } from '../../src/errors/index.js';
import { tempDir } from '../support/vault.js';

const binding = (employeeId: string): RecordBinding => ({
  eventId: randomUUID(),
  employeeId,
  orgUnit: 'research',
  kind: 'keystroke',
  capturedAt: new Date('2026-11-20T10:00:00.123Z'),
  sensitivity: 2,
  dekVersion: 1,
  categories: [],
});

/** Data keys handed to a page worker: packed, moved, opened there, zeroed. */
describe('data key bundles for worker threads', () => {
  it('moves a page\'s keys in a buffer of their own, leaves no copy behind, and zeroes them after use', async () => {
    const aead = await loadAead();
    const provider = await openLocalKeyProvider({ file: path.join(await tempDir('vault-kek-'), 'kek.bin'), createIfMissing: true, aead });
    const keyRing = new KeyRing(aead, provider);
    const keys = [await keyRing.unwrapDataKey(await keyRing.createDataKey('emp-1', 1)), await keyRing.unwrapDataKey(await keyRing.createDataKey('emp-2', 1))];
    const records = keys.map((key) => {
      const b = binding(key.employeeId);
      return { binding: b, envelope: keyRing.encryptRecord(key, b, Buffer.from(`typed by ${key.employeeId}`)) };
    });

    const bundle = keyRing.packDataKeys(keys);
    // Its own ArrayBuffer, exactly the keys: never a slab of Buffer's pool with other data in it.
    assert.equal(bundle.bytes.byteOffset, 0);
    assert.equal(bundle.bytes.buffer.byteLength, 2 * 32);
    // Logged or serialised, it shows none of the keys' bytes.
    const secretHex = Buffer.from(bundle.bytes).toString('hex');
    for (const shown of [JSON.stringify(bundle), inspect(bundle), inspect({ nested: bundle }, { depth: 5 })]) {
      assert.ok(!shown.includes(secretHex.slice(0, 16)) && !/\b\d{1,3}, \d{1,3}, \d{1,3}/.test(shown), `a bundle showed its bytes: ${shown}`);
      assert.match(shown, /redacted/);
    }
    const { port1, port2 } = new MessageChannel();
    port1.postMessage(bundle, [bundle.bytes.buffer as ArrayBuffer]);
    assert.equal(bundle.bytes.byteLength, 0, 'a copy of the keys stayed in the sending thread');
    const moved = receiveMessageOnPort(port2)!.message as typeof bundle;
    port1.close();

    const opener = new RecordOpener(aead);
    const openOne = (byId: ReadonlyMap<string, DataKey>, employeeId: string, r: (typeof records)[number]) => {
      const target = Buffer.alloc(envelopePlaintextBytes(r.envelope));
      opener.openInto(byId.get(dataKeyId(employeeId, 1))!, r.binding, r.envelope, target);
      return target.toString();
    };
    const opened = opener.withKeys(moved, (byId) => records.map((r) => openOne(byId, r.binding.employeeId, r)));
    assert.deepEqual(opened, ['typed by emp-1', 'typed by emp-2']);
    assert.ok(moved.bytes.every((b) => b === 0), 'the keys outlived their page');

    // A key opens only its own employee's records, as KeyRing.decryptRecord.
    const again = keyRing.packDataKeys(keys);
    assert.throws(
      () => opener.withKeys(again, (byId) => openOne(byId, 'emp-1', records[1]!)),
      (err) => isVaultError(err, 'ERR_DECRYPT_FAILED'),
    );
    assert.ok(again.bytes.every((b) => b === 0), 'the keys outlived a failed page');
    // A bundle that does not hold the keys it names is refused.
    assert.throws(() => opener.withKeys({ ids: again.ids, bytes: new Uint8Array(40) }, () => undefined), (err) => isVaultError(err, 'ERR_KEY_UNAVAILABLE'));
    for (const key of keys) key.destroy();
    keyRing.close();
  });
});
