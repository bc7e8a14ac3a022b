import assert from 'node:assert/strict';
import { createCipheriv, randomBytes } from 'node:crypto';
import { describe, it } from 'node:test';
import { FixedLengthSiv } from '../../src/crypto/index.js';

const { SLOT_BYTES, SEALED_SLOT_BYTES, TAG_BYTES } = FixedLengthSiv;

/** SIV from OpenSSL's own modes: CBC-MAC as the last block of AES-CBC under a zero IV, then AES-CTR from the tag. */
function referenceSeal(macKey: Buffer, encKey: Buffer, message: Buffer): Buffer {
  const padded = Buffer.alloc(SLOT_BYTES);
  message.copy(padded);
  const cbc = createCipheriv('aes-256-cbc', macKey, Buffer.alloc(16)).setAutoPadding(false).update(padded);
  const tag = cbc.subarray(SLOT_BYTES - TAG_BYTES);
  return Buffer.concat([tag, createCipheriv('aes-256-ctr', encKey, tag).update(message)]);
}

function sealAll(siv: FixedLengthSiv, messages: Buffer[]): Buffer[] {
  const slots = Buffer.alloc(messages.length * SLOT_BYTES);
  messages.forEach((m, i) => m.copy(slots, i * SLOT_BYTES));
  const sealed = siv.sealMany(slots);
  return messages.map((_, i) => sealed.subarray(i * SEALED_SLOT_BYTES, i * SEALED_SLOT_BYTES + siv.sealedBytes));
}

describe('FixedLengthSiv (AES-256 SIV over fixed-length messages)', () => {
  const [macKey, encKey] = [randomBytes(32), randomBytes(32)];

  for (const size of [1, 16, 26, 32]) {
    it(`matches CBC-MAC and CTR computed by OpenSSL's own modes, for ${size}-byte messages, counter carries included`, () => {
      const siv = new FixedLengthSiv(macKey, encKey, size);
      // About one tag in 256 ends in 0xff, so the counter's carry is exercised wherever a second
      // keystream block is used (messages over 16 bytes).
      const messages = Array.from({ length: 4000 }, () => randomBytes(size));
      const sealed = sealAll(siv, messages);
      let carries = 0;
      messages.forEach((m, i) => {
        assert.deepEqual(sealed[i], referenceSeal(macKey, encKey, m));
        if (sealed[i]![TAG_BYTES - 1] === 0xff) carries++;
        assert.deepEqual(siv.open(sealed[i]!), m);
      });
      if (size > 16) assert.ok(carries > 0, 'no tag ended in 0xff');
    });
  }

  it('refuses every single-bit change of a sealed message, and any other length', () => {
    const siv = new FixedLengthSiv(macKey, encKey, 26);
    const [sealed] = sealAll(siv, [randomBytes(26)]);
    for (let bit = 0; bit < sealed!.length * 8; bit++) {
      const flipped = Buffer.from(sealed!);
      flipped[bit >> 3]! ^= 1 << (bit & 7);
      assert.equal(siv.open(flipped), undefined, `bit ${bit} flipped still opened`);
    }
    assert.equal(siv.open(sealed!.subarray(0, -1)), undefined);
    assert.equal(siv.open(Buffer.concat([sealed!, Buffer.alloc(1)])), undefined);
  });

  it('does not open what other keys sealed, and is deterministic under its own', () => {
    const message = randomBytes(26);
    const mine = new FixedLengthSiv(macKey, encKey, 26);
    const [a, again] = sealAll(mine, [message, message]);
    assert.deepEqual(a, again);
    for (const other of [new FixedLengthSiv(randomBytes(32), encKey, 26), new FixedLengthSiv(macKey, randomBytes(32), 26)]) {
      const [b] = sealAll(other, [message]);
      assert.notDeepEqual(b, a);
      assert.equal(other.open(a!), undefined);
      assert.equal(mine.open(b!), undefined);
    }
  });

  it('zeroes the plaintext it was given, and is unusable once destroyed', () => {
    const siv = new FixedLengthSiv(macKey, encKey, 26);
    const slots = randomBytes(3 * SLOT_BYTES);
    siv.sealMany(slots);
    assert.ok(slots.every((b) => b === 0));
    siv.destroy();
    assert.throws(() => siv.sealMany(Buffer.alloc(SLOT_BYTES)), TypeError);
    assert.throws(() => new FixedLengthSiv(macKey, encKey, 33), TypeError);
    assert.throws(() => siv.sealMany(Buffer.alloc(SLOT_BYTES + 1)), TypeError);
  });
});
