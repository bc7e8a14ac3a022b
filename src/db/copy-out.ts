/*
 * Reading stored records back in PostgreSQL's binary COPY format: the bytea comes as its bytes
 * (the text protocol sends it as hex, twice its size, decoded to a string and back), timestamps
 * and integers as their binary values. The reverse of copy-binary.ts, for a page of stream rows.
 */
import pg from 'pg';
import type { CompiledQuery } from 'kysely';
import { uuidFromBytes } from '../model/index.js';
import { PG_EPOCH_MS, BINARY_COPY_SIGNATURE } from './copy-binary.js';
import type { StreamRow } from './datasets.js';

const FIELD_COUNT = 9;

/** `event_id, captured_at, employee_id, org_unit, kind, sensitivity, dek_version, envelope, categories`, in that order. */
export const STREAM_ROW_COLUMNS = ['event_id', 'captured_at', 'employee_id', 'org_unit', 'kind', 'sensitivity', 'dek_version', 'envelope', 'categories'] as const;

class Reader {
  at = 0;
  constructor(readonly data: Buffer) {}
  need(n: number): void {
    if (n < 0 || this.at + n > this.data.length) throw new TypeError('binary COPY data ends inside a row');
  }
  int16(): number {
    this.need(2);
    const v = this.data.readInt16BE(this.at);
    this.at += 2;
    return v;
  }
  int32(): number {
    this.need(4);
    const v = this.data.readInt32BE(this.at);
    this.at += 4;
    return v;
  }
  /** The next field's length, checked to be `expected` when given; -1 is NULL. */
  field(expected?: number): number {
    const len = this.int32();
    if (len === -1) return -1;
    if (expected !== undefined && len !== expected) throw new TypeError(`binary COPY field of ${len} bytes where ${expected} were expected`);
    this.need(len);
    return len;
  }
  text(len: number): string {
    const v = this.data.toString('utf8', this.at, this.at + len);
    this.at += len;
    return v;
  }
}

/**
 * The text of a column that repeats from row to row (a page is one org unit, of a few kinds): the
 * last string read is given again when the bytes are the same, rather than a new one a row.
 */
class RepeatedText {
  #bytes: Buffer = Buffer.alloc(0);
  #text = '';
  read(r: Reader, len: number): string {
    const { data, at } = r;
    const last = this.#bytes;
    let same = last.length === len;
    for (let i = 0; same && i < len; i++) same = data[at + i] === last[i];
    if (!same) {
      this.#text = data.toString('utf8', at, at + len);
      this.#bytes = Buffer.from(data.subarray(at, at + len));
    }
    r.at += len;
    return this.#text;
  }
}

function notNull(len: number, column: string): number {
  if (len === -1) throw new TypeError(`binary COPY row with a NULL ${column}`);
  return len;
}

function uuid(r: Reader): string {
  notNull(r.field(16), 'event_id');
  const text = uuidFromBytes(r.data, r.at);
  r.at += 16;
  return text;
}

function timestamp(r: Reader): Date {
  notNull(r.field(8), 'captured_at');
  const micros = r.data.readInt32BE(r.at) * 0x1_0000_0000 + r.data.readUInt32BE(r.at + 4);
  r.at += 8;
  return new Date(Math.floor(micros / 1000) + PG_EPOCH_MS);
}

/** A one-dimensional text[] (ndim, has-null, element type, [size, lower bound], elements), or null. */
function textArray(r: Reader): string[] | null {
  const len = r.field();
  if (len === -1) return null;
  const end = r.at + len;
  const ndim = r.int32();
  r.int32();
  r.int32();
  if (ndim === 0) {
    if (r.at !== end) throw new TypeError('binary COPY: categories does not fill its field');
    return [];
  }
  if (ndim !== 1) throw new TypeError('binary COPY: categories is not a one-dimensional array');
  const size = r.int32();
  r.int32();
  const values: string[] = [];
  for (let i = 0; i < size; i++) values.push(r.text(notNull(r.field(), 'category')));
  if (r.at !== end) throw new TypeError('binary COPY: categories does not fill its field');
  return values;
}

/**
 * Stream rows from the whole output of `COPY (SELECT <STREAM_ROW_COLUMNS>) TO STDOUT (FORMAT
 * binary)`. Each envelope is a view into `data`, not a copy.
 */
export function decodeStreamRows(data: Buffer): StreamRow[] {
  if (data.length < BINARY_COPY_SIGNATURE.length + 8 || !data.subarray(0, BINARY_COPY_SIGNATURE.length).equals(BINARY_COPY_SIGNATURE)) throw new TypeError('not binary COPY data');
  const r = new Reader(data);
  r.at = BINARY_COPY_SIGNATURE.length + 4;
  const extension = r.int32();
  r.need(extension);
  r.at += extension;
  const rows: StreamRow[] = [];
  const orgUnits = new RepeatedText();
  const kinds = new RepeatedText();
  for (;;) {
    const fields = r.int16();
    if (fields === -1) break;
    if (fields !== FIELD_COUNT) throw new TypeError(`binary COPY row of ${fields} fields where ${FIELD_COUNT} were expected`);
    const event_id = uuid(r);
    const captured_at = timestamp(r);
    const employee_id = r.text(notNull(r.field(), 'employee_id'));
    const org_unit = orgUnits.read(r, notNull(r.field(), 'org_unit'));
    const kind = kinds.read(r, notNull(r.field(), 'kind'));
    notNull(r.field(2), 'sensitivity');
    const sensitivity = r.data.readInt16BE(r.at);
    r.at += 2;
    notNull(r.field(4), 'dek_version');
    const dek_version = r.data.readInt32BE(r.at);
    r.at += 4;
    const envelopeLength = notNull(r.field(), 'envelope');
    const envelope = r.data.subarray(r.at, r.at + envelopeLength);
    r.at += envelopeLength;
    const categories = textArray(r);
    rows.push({ event_id, captured_at, employee_id, org_unit, kind, sensitivity, dek_version, envelope, categories });
  }
  if (r.at !== data.length) throw new TypeError('binary COPY data goes on after its trailer');
  return rows;
}

/**
 * `query` as one statement with its parameters written in as literals, for COPY, which takes no
 * bind parameters. Each value is written as `pg` would send it (the same text, as a literal of
 * unknown type), so the statement means and plans exactly what the parameterised one does.
 * Quoted strings and identifiers in the SQL are passed over, so only real placeholders are replaced.
 */
export function withLiteralParameters(query: CompiledQuery): string {
  // Only what this scanner reads exactly: no comments, escape strings, backslashes or dollar
  // quoting, in which a placeholder or a quote would not be what it seems (the page query has none).
  if (/--|\/\*|\\|\b[eE]'|\$(?!\d)/.test(query.sql)) throw new TypeError('this SQL cannot take its parameters as literals');
  return query.sql.replace(/'(?:[^']|'')*'|"(?:[^"]|"")*"|\$(\d+)/g, (token, index: string | undefined) => {
    if (index === undefined) return token;
    const n = Number(index);
    if (n < 1 || n > query.parameters.length) throw new TypeError(`placeholder $${index} has no parameter`);
    return literal(query.parameters[n - 1]);
  });
}

function literal(value: unknown): string {
  if (value === null || value === undefined) return 'NULL';
  return pg.escapeLiteral(parameterText(value));
}

/** The text `pg` sends for a parameter of the kinds the page query has. */
function parameterText(value: unknown): string {
  if (typeof value === 'string') return value;
  if (typeof value === 'number') {
    if (!Number.isFinite(value)) throw new TypeError('a parameter is not a finite number');
    return String(value);
  }
  if (value instanceof Date) {
    if (Number.isNaN(value.getTime())) throw new TypeError('a parameter is an invalid date');
    return value.toISOString();
  }
  if (Array.isArray(value) && value.every((v) => typeof v === 'string')) {
    return `{${value.map((v: string) => `"${v.replace(/[\\"]/g, '\\$&')}"`).join(',')}}`;
  }
  throw new TypeError(`a ${typeof value} parameter cannot be written as a literal`);
}
