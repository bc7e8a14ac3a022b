import assert from 'node:assert/strict';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import { loadAead, MonthKeys, openLocalKeyProvider, type Aead, type KeyProvider, type RatchetAnchorStore } from '../../src/crypto/index.js';
import { advanceRatchetAnchor, claimRatchetAnchor, readRatchetAnchor, replaceUnusedRatchetAnchor, type VaultDatabase } from '../../src/db/index.js';
import { freshDatabase, STORE, type FreshDatabase } from '../support/database.js';
import { tempDir } from '../support/vault.js';

const context = { employeeId: 'e-1', dekVersion: 1 };

/** The anchor in a real database, as the vault keeps it. */
function anchorsIn(database: VaultDatabase): RatchetAnchorStore {
  return {
    read: () => readRatchetAnchor(database.db),
    claim: (a) => claimRatchetAnchor(database.db, a),
    advance: (a) => advanceRatchetAnchor(database.db, a),
    replaceIfUnused: (expected, next) => replaceUnusedRatchetAnchor(database.db, expected, next),
  };
}

/** A provider whose ratchet writes land `delayMs` late (one instance slower than the other). */
function slowWrites(provider: KeyProvider, delayMs: number): KeyProvider {
  return new Proxy(provider, {
    get: (target, prop) => {
      if (prop === 'writeMonthRatchet') return async (state: Uint8Array) => (await new Promise((r) => setTimeout(r, delayMs)), target.writeMonthRatchet(state));
      const value: unknown = Reflect.get(target, prop, target);
      return typeof value === 'function' ? value.bind(target) : value;
    },
  });
}

describe(`the month-key ratchet (${STORE})`, () => {
  let fresh: FreshDatabase;
  let aead: Aead;
  let dir: string;

  before(async () => {
    fresh = await freshDatabase();
    aead = await loadAead();
    dir = await tempDir('ratchet-');
  });
  after(() => fresh.drop());

  it('two instances starting together on a new store end up on one ratchet, the one beside the KEK', async () => {
    const file = path.join(dir, 'kek');
    const [pa, pb] = [await openLocalKeyProvider({ file, createIfMissing: true, aead }), await openLocalKeyProvider({ file, createIfMissing: true, aead })];
    const anchors = anchorsIn(fresh.database);
    const [a, b] = await Promise.all([MonthKeys.open(aead, pa, anchors, '2025-01'), MonthKeys.open(aead, slowWrites(pb, 50), anchors, '2025-01')]);
    const sealed = a.seal('2026-03', context, Buffer.alloc(32, 9));
    assert.deepEqual(b.open('2026-03', context, sealed), Buffer.alloc(32, 9), 'both derive the same month keys');
    // A restart reads the ratchet beside the KEK and finds the store's.
    const restarted = await MonthKeys.open(aead, await openLocalKeyProvider({ file, createIfMissing: false, aead }), anchors, '2025-01');
    assert.deepEqual(restarted.open('2026-03', context, sealed), Buffer.alloc(32, 9));
    for (const m of [a, b, restarted]) m.close();
  });

  it('never moves the ratchet back: a rewrap racing an expiry, in one instance or from a stale one, keeps the expiry', async () => {
    const file = path.join(dir, 'kek-2');
    const scratch = await freshDatabase();
    try {
      const anchors = anchorsIn(scratch.database);
      const provider = await openLocalKeyProvider({ file, createIfMissing: true, aead });
      const keys = await MonthKeys.open(aead, provider, anchors, '2025-01');
      const stale = await MonthKeys.open(aead, await openLocalKeyProvider({ file, createIfMissing: false, aead }), anchors, '2025-01');
      const sealed = keys.seal('2025-03', context, Buffer.alloc(32, 1));
      await Promise.all([keys.expireBefore('2025-06', anchors), keys.rewrap()]);
      // Another instance that has not heard of the move rewraps its older state.
      assert.equal(stale.base, '2025-01');
      await stale.rewrap();
      assert.equal(stale.base, '2025-06', 'the stale instance took the state further on instead of writing its own');
      const reopened = await MonthKeys.open(aead, await openLocalKeyProvider({ file, createIfMissing: false, aead }), anchors, '2025-01');
      assert.equal(reopened.base, '2025-06');
      assert.throws(() => reopened.open('2025-03', context, sealed), /destroyed when it expired/);
      for (const m of [keys, stale, reopened]) m.close();
    } finally {
      await scratch.drop();
    }
  });

  it('a store claimed by an instance that died before writing its ratchet is taken over while no month key exists', async () => {
    const scratch = await freshDatabase();
    try {
      const anchors = anchorsIn(scratch.database);
      await anchors.claim({ base: '2025-01', check: 'from-an-instance-that-died' });
      const keys = await MonthKeys.open(aead, await openLocalKeyProvider({ file: path.join(dir, 'kek-3'), createIfMissing: true, aead }), anchors, '2025-01');
      assert.notEqual((await anchors.read())!.check, 'from-an-instance-that-died');
      keys.close();
    } finally {
      await scratch.drop();
    }
  });
});
