import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { parseTimestamp } from '../../src/model/index.js';

const TIMESTAMP = /^(\d{4})-(\d{2})-(\d{2})T(\d{2}):(\d{2}):(\d{2})(\.\d{1,9})?(Z|[+-](\d{2}):(\d{2}))$/;
const EARLIEST = Date.parse('0001-01-01T00:00:00Z');
const LATEST = Date.parse('9999-12-31T23:59:59.999Z');

/** The reading parseTimestamp must keep: checked fields, then Date.parse itself. */
function reference(text: string): number | undefined {
  const m = TIMESTAMP.exec(text);
  if (!m) return undefined;
  const [year, month, day, hour, minute, second] = m.slice(1, 7).map(Number) as [number, number, number, number, number, number];
  const [oh, om] = [Number(m[9] ?? 0), Number(m[10] ?? 0)];
  const days = new Date(Date.UTC(2000, month, 0)).getUTCDate() - (month === 2 && !(year % 4 === 0 && (year % 100 !== 0 || year % 400 === 0)) ? 1 : 0);
  if (month < 1 || month > 12 || day < 1 || day > days || hour > 23 || minute > 59 || second > 59 || oh > 23 || om > 59) return Number.NaN;
  const ms = Date.parse(text);
  return ms < EARLIEST || ms > LATEST ? Number.NaN : ms;
}

const pad = (n: number, width: number) => String(n).padStart(width, '0');
/** A small deterministic generator, so a failure names a case that can be run again. */
function* cases(count: number): Generator<string> {
  let state = 0x2545f491;
  const next = (n: number) => {
    state ^= state << 13;
    state ^= state >>> 17;
    state ^= state << 5;
    return (state >>> 0) % n;
  };
  const pick = <T>(xs: readonly T[]) => xs[next(xs.length)]!;
  for (let i = 0; i < count; i++) {
    const year = pick([0, 1, 50, 99, 100, 1600, 1900, 1970, 2000, 2024, 2026, 2100, 9999, next(10000)]);
    const fraction = pick(['', '.1', '.12', '.123', '.1239', '.999999999', `.${pad(next(1_000_000), 6)}`]);
    const zone = pick(['Z', `+${pad(next(26), 2)}:${pad(next(61), 2)}`, `-${pad(next(26), 2)}:${pad(next(61), 2)}`, '+00:00', '-00:00', '+14:00', '-12:00']);
    const text = `${pad(year, 4)}-${pad(next(14), 2)}-${pad(next(33), 2)}T${pad(next(26), 2)}:${pad(next(61), 2)}:${pad(next(61), 2)}${fraction}${zone}`;
    yield text;
    // And the same text with one character changed, dropped or added: shapes a parser must refuse as the pattern does.
    const at = next(text.length + 1);
    const char = pick(['0', '9', '-', ':', '.', 'T', 'Z', 'z', '+', ' ', 'x', '\u0661', '']);
    yield pick([text.slice(0, at) + char + text.slice(at + 1), text.slice(0, at) + char + text.slice(at), text.slice(0, at) + text.slice(at + 1)]);
  }
}

describe('RFC 3339 timestamps', () => {
  it('read every instant as Date.parse does, and refuse what it would roll over', () => {
    const fixed = [
      '2026-11-02T08:00:00Z',
      '2026-11-02T08:00:00.123456789+05:30',
      '2024-02-29T23:59:59.999-00:00',
      '2023-02-29T00:00:00Z',
      '2100-02-29T00:00:00Z',
      '2000-02-29T00:00:00Z',
      '2026-04-31T00:00:00Z',
      '2026-12-31T24:00:00Z',
      '0001-01-01T00:00:00Z',
      '0001-01-01T00:00:00+01:00',
      '0099-12-31T23:59:59Z',
      '9999-12-31T23:59:59.999Z',
      '9999-12-31T23:59:59.999-00:01',
      '2026-11-02T08:00:00',
      '2026-11-02 08:00:00Z',
      '2026-11-02t08:00:00z',
      '2026-11-02T08:00:00.Z',
      '2026-11-02T08:00:00.1234567890Z',
      '2026-11-02T08:00:00+0100',
      '2026-11-02T08:00:00Z ',
      '+2026-11-02T08:00:00Z',
      '2026-1-02T08:00:00Z',
    ];
    for (const text of [...fixed, ...cases(100_000)]) assert.deepEqual(parseTimestamp(text), reference(text), text);
  });
});
