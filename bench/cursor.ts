/*
 * Cursor sealing, one thread, no database: the c1 cursor (HMAC-SHA256 as SIV and AES-256-CTR, a
 * new HMAC and cipher object a line; kept here as the baseline) against c2 (AES-256 SIV, a page's
 * cursors in a few AES calls on contexts built once a stream). Sealing runs once a streamed line,
 * opening once a resumed stream. Rounds alternate; median of BENCH_ROUNDS (default 5) with min and max.
 * Not a test; prints a table.
 *   BENCH_LINES (default 200000), BENCH_ROUNDS (default 5)
 */
import { createCipheriv, createHmac, hkdfSync, randomBytes, randomUUID, timingSafeEqual } from 'node:crypto';
import os from 'node:os';
import { PAGE_RECORDS } from '../src/datasets/index.js';
import { CursorSeal, type StreamPosition } from '../src/datasets/cursor.js';
import { printTable, median } from './support.js';

const LINES = Number(process.env.BENCH_LINES ?? 200_000);
const ROUNDS = Math.max(1, Number(process.env.BENCH_ROUNDS ?? 5));
const OPENS = 20_000;

/** The c1 sealer as it shipped before c2, verbatim in its crypto. */
class CursorSealC1 {
  readonly #macKey: Buffer;
  readonly #encKey: Buffer;
  constructor(secret: Uint8Array, datasetId: string) {
    const keys = Buffer.from(hkdfSync('sha256', secret, datasetId, 'activity-vault dataset cursor v1', 64));
    this.#macKey = keys.subarray(0, 32);
    this.#encKey = keys.subarray(32);
  }
  seal(p: StreamPosition): string {
    const plain = Buffer.alloc(26);
    plain.writeUInt16BE(p.unit, 0);
    plain.writeBigInt64BE(BigInt(p.capturedAtMs), 2);
    plain.write(p.eventId.replaceAll('-', ''), 10, 'hex');
    const siv = createHmac('sha256', this.#macKey).update(plain).digest().subarray(0, 16);
    const sealed = createCipheriv('aes-256-ctr', this.#encKey, siv).update(plain);
    return 'c1.' + Buffer.concat([siv, sealed]).toString('base64url');
  }
  open(text: string): boolean {
    const bytes = Buffer.from(text.slice(3), 'base64url');
    const siv = bytes.subarray(0, 16);
    const plain = createCipheriv('aes-256-ctr', this.#encKey, siv).update(bytes.subarray(16));
    return timingSafeEqual(createHmac('sha256', this.#macKey).update(plain).digest().subarray(0, 16), siv);
  }
}

interface Row {
  readonly captured_at: Date;
  readonly event_id: string;
}

const rows: Row[] = Array.from({ length: LINES }, (_, i) => ({ captured_at: new Date(Date.parse('2026-11-02T08:00:00Z') + i * 37), event_id: randomUUID() }));
const positionOf = (row: Row): StreamPosition => ({ unit: 0, capturedAtMs: row.captured_at.getTime(), eventId: row.event_id });
const secret = randomBytes(32);
const datasetId = randomUUID();

/** Microseconds a line to seal every row, the way the stream calls each format. */
const sealers: Record<string, () => { us: number; sample: string }> = {
  'c1: HMAC + AES-CTR objects a line': () => {
    const c1 = new CursorSealC1(secret, datasetId);
    let sample = '';
    const started = performance.now();
    for (const row of rows) sample = c1.seal(positionOf(row));
    return { us: ((performance.now() - started) * 1000) / LINES, sample };
  },
  [`c2: AES-SIV, ${PAGE_RECORDS} lines a call`]: () => {
    const c2 = new CursorSeal(secret, datasetId);
    let sample = '';
    const started = performance.now();
    for (let at = 0; at < LINES; at += PAGE_RECORDS) {
      const page = rows.slice(at, at + PAGE_RECORDS);
      const cursorOf = c2.sealPage(page, positionOf);
      for (const row of page) sample = cursorOf(row);
    }
    const us = ((performance.now() - started) * 1000) / LINES;
    c2.destroy();
    return { us, sample };
  },
  'c2: AES-SIV, one line a call': () => {
    const c2 = new CursorSeal(secret, datasetId);
    let sample = '';
    const started = performance.now();
    for (const row of rows) sample = c2.seal(positionOf(row));
    const us = ((performance.now() - started) * 1000) / LINES;
    c2.destroy();
    return { us, sample };
  },
};

/** Microseconds to open one cursor (once a resumed stream). */
const openers: Record<string, () => number> = {
  'c1: open': () => {
    const c1 = new CursorSealC1(secret, datasetId);
    const text = c1.seal(positionOf(rows[0]!));
    const started = performance.now();
    for (let i = 0; i < OPENS; i++) if (!c1.open(text)) throw new Error('c1 did not open its own cursor');
    return ((performance.now() - started) * 1000) / OPENS;
  },
  'c2: open': () => {
    const c2 = new CursorSeal(secret, datasetId);
    const text = c2.seal(positionOf(rows[0]!));
    const started = performance.now();
    for (let i = 0; i < OPENS; i++) if (!c2.open(text, 1)) throw new Error('c2 did not open its own cursor');
    const us = ((performance.now() - started) * 1000) / OPENS;
    c2.destroy();
    return us;
  },
};

const seal: Record<string, number[]> = Object.fromEntries(Object.keys(sealers).map((k) => [k, []]));
const open: Record<string, number[]> = Object.fromEntries(Object.keys(openers).map((k) => [k, []]));
const load = os.loadavg()[0]!.toFixed(1);
for (const run of [...Object.values(sealers), ...Object.values(openers)]) run(); // warm-up
for (let round = 0; round < ROUNDS; round++) {
  for (const [name, run] of Object.entries(sealers)) seal[name]!.push(run().us);
  for (const [name, run] of Object.entries(openers)) open[name]!.push(run());
}

console.log(`\ncursor sealing: ${LINES.toLocaleString('en-US')} lines a run, median of ${ROUNDS} alternating runs, one thread, ${os.cpus().length} cores (load before ${load})\n`);
const c1 = median(seal['c1: HMAC + AES-CTR objects a line']!);
const us = (x: number) => x.toFixed(2);
printTable(
  ['path', 'us a line (median)', 'min', 'max', 'lines/s', 'vs c1'],
  [...Object.entries(seal), ...Object.entries(open)].map(([name, xs]) => [name, us(median(xs)), us(Math.min(...xs)), us(Math.max(...xs)), Math.round(1e6 / median(xs)).toLocaleString('en-US'), name.endsWith('open') ? '' : (c1 / median(xs)).toFixed(1) + 'x']),
);
