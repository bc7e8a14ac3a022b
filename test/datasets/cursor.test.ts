import assert from 'node:assert/strict';
import { createCipheriv, createHmac, hkdfSync, randomBytes, randomUUID } from 'node:crypto';
import { describe, it } from 'node:test';
import { CursorSeal, type StreamPosition } from '../../src/datasets/cursor.js';

const PREFIX = 'c2.';
const position = (over: Partial<StreamPosition> = {}): StreamPosition => ({ unit: 1, capturedAtMs: Date.parse('2026-11-06T10:00:00.123Z'), eventId: randomUUID(), ...over });

/** The bytes under a cursor's text, changed by `change`, as a cursor's text again. */
function rewritten(cursor: string, change: (bytes: Buffer) => void): string {
  const bytes = Buffer.from(cursor.slice(PREFIX.length), 'base64url');
  change(bytes);
  return PREFIX + bytes.toString('base64url');
}

/** A cursor as the c1 format sealed it (HMAC-SHA256 as SIV, AES-256-CTR), for the same dataset. */
function c1Cursor(secret: Buffer, datasetId: string, p: StreamPosition): string {
  const keys = Buffer.from(hkdfSync('sha256', secret, datasetId, 'activity-vault dataset cursor v1', 64));
  const plain = Buffer.alloc(26);
  plain.writeUInt16BE(p.unit, 0);
  plain.writeBigInt64BE(BigInt(p.capturedAtMs), 2);
  plain.write(p.eventId.replaceAll('-', ''), 10, 'hex');
  const siv = createHmac('sha256', keys.subarray(0, 32)).update(plain).digest().subarray(0, 16);
  return 'c1.' + Buffer.concat([siv, createCipheriv('aes-256-ctr', keys.subarray(32), siv).update(plain)]).toString('base64url');
}

describe('stream cursors (c2): opaque, one dataset each, tamper-evident', () => {
  const secret = randomBytes(32);
  const datasetId = randomUUID();

  it('a page of cursors opens back to its positions, at the edges of the date range too', () => {
    const seal = new CursorSeal(secret, datasetId);
    const positions = [
      position(),
      position({ unit: 0, capturedAtMs: Date.parse('0001-01-01T00:00:00.000Z') }),
      position({ unit: 4, capturedAtMs: Date.parse('9999-12-31T23:59:59.999Z') }),
      position({ capturedAtMs: -1 }),
      position({ capturedAtMs: 0 }),
      position({ eventId: '00000000-0000-4000-8000-000000000000' }),
      position({ eventId: 'ffffffff-ffff-7fff-bfff-ffffffffffff' }),
    ];
    const cursorOf = seal.sealPage(positions, (p) => p);
    for (const p of positions) {
      const cursor = cursorOf(p);
      assert.match(cursor, /^c2\.[A-Za-z0-9_-]{56}$/);
      assert.ok(CursorSeal.looksLikeCursor(cursor));
      assert.deepEqual(seal.open(cursor, 5), p);
      assert.equal(seal.seal(p), cursor, 'a page and a single line seal alike');
    }
    assert.throws(() => cursorOf(position()), TypeError);
  });

  it('a cursor carries no event id, not even in part, and repeats only within its own dataset', () => {
    const p = position();
    const [mine, again] = [new CursorSeal(secret, datasetId).seal(p), new CursorSeal(secret, datasetId).seal(p)];
    assert.equal(mine, again);
    const hex = p.eventId.replaceAll('-', '');
    const body = Buffer.from(mine.slice(PREFIX.length), 'base64url').toString('hex');
    for (let at = 0; at + 8 <= hex.length; at += 2) assert.ok(!body.includes(hex.slice(at, at + 8)), `cursor holds event id bytes ${hex.slice(at, at + 8)}`);
    assert.ok(!mine.toLowerCase().includes(hex.slice(0, 8)));
  });

  it('the same record gets unrelated cursors in two datasets, and neither opens in the other', () => {
    const p = position();
    const otherId = randomUUID();
    const a = new CursorSeal(secret, datasetId);
    // The same secret under another id as well as another secret: the id alone must separate them.
    for (const b of [new CursorSeal(secret, otherId), new CursorSeal(randomBytes(32), otherId), new CursorSeal(randomBytes(32), datasetId)]) {
      const [ca, cb] = [a.seal(p), b.seal(p)];
      const [ba, bb] = [Buffer.from(ca.slice(3), 'base64url'), Buffer.from(cb.slice(3), 'base64url')];
      const equalBytes = ba.reduce((n, byte, i) => n + (byte === bb[i] ? 1 : 0), 0);
      assert.ok(equalBytes < 8, `${equalBytes} of 42 bytes equal`);
      assert.equal(a.open(cb, 5), undefined);
      assert.equal(b.open(ca, 5), undefined);
      assert.ok(CursorSeal.looksLikeCursor(cb), 'a foreign cursor still looks like one: it is reported as forged, not noise');
    }
  });

  it('every single-bit change of a cursor is refused', () => {
    const seal = new CursorSeal(secret, datasetId);
    const cursor = seal.seal(position());
    for (let bit = 0; bit < 42 * 8; bit++) {
      const flipped = rewritten(cursor, (bytes) => {
        bytes[bit >> 3]! ^= 1 << (bit & 7);
      });
      assert.ok(CursorSeal.looksLikeCursor(flipped));
      assert.equal(seal.open(flipped, 5), undefined, `bit ${bit} flipped still opened`);
    }
  });

  it('is case-exact: a cursor with any letter in the other case does not open', () => {
    const seal = new CursorSeal(secret, datasetId);
    const cursor = seal.seal(position());
    for (let i = PREFIX.length; i < cursor.length; i++) {
      const c = cursor[i]!;
      const swapped = c === c.toLowerCase() ? c.toUpperCase() : c.toLowerCase();
      if (swapped === c) continue;
      assert.equal(seal.open(cursor.slice(0, i) + swapped + cursor.slice(i + 1), 5), undefined);
    }
    assert.equal(seal.open(cursor.toUpperCase(), 5), undefined);
    assert.equal(seal.open(`C2.${cursor.slice(3)}`, 5), undefined);
  });

  it('refuses cursors of the c1 format, other lengths, and positions outside the lease', () => {
    const seal = new CursorSeal(secret, datasetId);
    const p = position({ unit: 3 });
    const old = c1Cursor(secret, datasetId, p);
    assert.equal(seal.open(old, 5), undefined);
    assert.equal(seal.open(`c2.${old.slice(3)}`, 5), undefined, 'a c1 body under the c2 prefix');
    const cursor = seal.seal(p);
    assert.equal(seal.open(cursor, 3), undefined, 'org unit 3 in a lease of 3 units');
    assert.equal(seal.open(cursor.slice(0, -4), 5), undefined);
    assert.equal(seal.open(`${cursor}AAAA`, 5), undefined);
    assert.equal(seal.open('', 5), undefined);
  });

  it('a destroyed seal seals nothing more', () => {
    const seal = new CursorSeal(secret, datasetId);
    seal.destroy();
    assert.throws(() => seal.seal(position()), TypeError);
  });
});
