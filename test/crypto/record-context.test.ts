import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { RECORD_CONTEXT, recordContext, type RecordBinding } from '../../src/crypto/record-context.js';

const TEXTS = ['', 'a', 'emp-1', 'research', 'keystroke', 'Zoë', '☃', '𝔘', '\ud800', 'x|3:y', '0190a0c5-7f3e-7a41-9c0e-000000000001', 'e'.repeat(128), 'é'.repeat(300)];
const NUMBERS = [0, -0, 1, 9, 10, 99, 100, 4, 2147483647, 2147483648, -2147483648, 999_999_999, 1_000_000_000, 1_000_000_001, 4_000_000_007, -1, -10, 1.5, Number.MAX_SAFE_INTEGER, -Number.MAX_SAFE_INTEGER, 2 ** 60, Number.NaN, -(2 ** 53) + 1, 1_793_606_400_000, -1_000_000_000_000];
const CATEGORIES: Array<readonly string[] | null | undefined> = [undefined, null, [], ['health'], ['health', 'tax', 'credential'], ['Zoë,☃']];

/** A small deterministic generator, so a failure names a case that can be run again. */
function* bindings(count: number): Generator<RecordBinding> {
  let state = 0x1b873593;
  const next = (n: number) => {
    state ^= state << 13;
    state ^= state >>> 17;
    state ^= state << 5;
    return (state >>> 0) % n;
  };
  const pick = <T>(list: readonly T[]) => list[next(list.length)]!;
  for (let i = 0; i < count; i++) {
    const time = next(4) === 0 ? pick(NUMBERS) : Date.UTC(2000 + next(40), next(12), 1 + next(28), next(24), next(60), next(60), next(1000));
    yield {
      eventId: pick(TEXTS),
      employeeId: pick(TEXTS),
      orgUnit: pick(TEXTS),
      kind: pick(TEXTS),
      capturedAt: new Date(time),
      sensitivity: pick(NUMBERS),
      dekVersion: pick(NUMBERS),
      categories: pick(CATEGORIES),
    };
  }
}

describe('a record context written into an AAD', () => {
  it('is byte for byte the UTF-8 of the context string, and never over its bound', () => {
    const target = Buffer.alloc(64 * 1024);
    let n = 0;
    for (const b of bindings(20_000)) {
      const expected = Buffer.from(recordContext(b), 'utf8');
      target.fill(0xaa);
      const written = RECORD_CONTEXT.write(target, 7, b);
      assert.deepEqual(target.subarray(7, 7 + written), expected, `case ${n}: ${JSON.stringify(b)}`);
      assert.equal(target[7 + written], 0xaa, `case ${n} wrote past its end`);
      assert.ok(written <= RECORD_CONTEXT.maxBytes(b), `case ${n}: ${written} bytes over the bound ${RECORD_CONTEXT.maxBytes(b)}`);
      n++;
    }
  });
});
