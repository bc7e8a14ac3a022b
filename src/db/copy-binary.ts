/*
 * PostgreSQL's binary COPY format, for the record columns the vault writes. Binary COPY is the
 * fastest way into PostgreSQL (see ../shared/FACTS.md) and PGlite reads the same bytes.
 */
export const BINARY_COPY_SIGNATURE = Buffer.from('PGCOPY\n\xff\r\n\0', 'latin1');
/** 2000-01-01, PostgreSQL's epoch for binary timestamps. */
export const PG_EPOCH_MS = 946_684_800_000;

export interface RecordRow {
  readonly eventId: string;
  readonly capturedAt: Date;
  readonly employeeId: string;
  readonly orgUnit: string;
  readonly kind: string;
  readonly sensitivity: number;
  readonly dekVersion: number;
  readonly envelope: Uint8Array;
  /** Sorted category names (ASCII); an empty list when nothing was found. */
  readonly categories: readonly string[];
}

export const RECORD_COPY_COLUMNS = 'event_id, captured_at, employee_id, org_unit, kind, sensitivity, dek_version, envelope, categories';
const FIELD_COUNT = 9;
const TEXT_OID = 25;

/** Bytes of a one-dimensional text[] in binary COPY: ndim, has-null, element type, [size, lower bound], elements. */
function textArrayBytes(values: readonly string[]): number {
  let n = 12 + (values.length ? 8 : 0);
  for (const v of values) n += 4 + Buffer.byteLength(v);
  return n;
}

/**
 * The COPY stream as one buffer per chunk of rows, produced lazily: a caller that encrypts rows
 * inside the iterator overlaps that work with PostgreSQL consuming the previous chunk.
 */
export async function* encodeRecordChunks(chunks: Iterable<readonly RecordRow[]> | AsyncIterable<readonly RecordRow[]>): AsyncGenerator<Buffer> {
  let first = true;
  for await (const rows of chunks) {
    yield encodeChunk(rows, first, false);
    first = false;
  }
  yield encodeChunk([], first, true);
}

/** The value of hex digit `c` (a char code), or -1. */
function hexValue(c: number): number {
  if (c >= 48 && c <= 57) return c - 48;
  const lower = c | 0x20;
  return lower >= 97 && lower <= 102 ? lower - 87 : -1;
}

/** Writes a UUID's 16 bytes from its 36-character text (either case) at `o`, without building a string. */
function writeUuid(buf: Buffer, o: number, text: string): number {
  if (text.length !== 36 || text[8] !== '-' || text[13] !== '-' || text[18] !== '-' || text[23] !== '-') throw new TypeError('event id is not a UUID');
  for (let i = 0; i < 36; i += 2) {
    if (i === 8 || i === 13 || i === 18 || i === 23) i++;
    const high = hexValue(text.charCodeAt(i));
    const low = hexValue(text.charCodeAt(i + 1));
    if (high < 0 || low < 0) throw new TypeError('event id is not a UUID');
    buf[o++] = (high << 4) | low;
  }
  return o;
}

function encodeChunk(rows: readonly RecordRow[], withHeader: boolean, withTrailer: boolean): Buffer {
  let size = (withHeader ? BINARY_COPY_SIGNATURE.length + 8 : 0) + (withTrailer ? 2 : 0);
  for (const r of rows) {
    size += 2 + FIELD_COUNT * 4 + 16 + 8 + 2 + 4 + r.envelope.length;
    size += Buffer.byteLength(r.employeeId) + Buffer.byteLength(r.orgUnit) + Buffer.byteLength(r.kind);
    size += textArrayBytes(r.categories);
  }
  const buf = Buffer.allocUnsafe(size);
  let o = 0;
  if (withHeader) {
    o = BINARY_COPY_SIGNATURE.copy(buf, 0);
    o = buf.writeInt32BE(0, o);
    o = buf.writeInt32BE(0, o);
  }
  const text = (value: string): void => {
    const len = buf.write(value, o + 4, 'utf8');
    buf.writeInt32BE(len, o);
    o += 4 + len;
  };
  for (const r of rows) {
    o = buf.writeInt16BE(FIELD_COUNT, o);
    o = buf.writeInt32BE(16, o);
    o = writeUuid(buf, o, r.eventId);
    o = buf.writeInt32BE(8, o);
    const micros = (r.capturedAt.getTime() - PG_EPOCH_MS) * 1000;
    if (micros < 0) throw new TypeError('timestamps before 2000-01-01 are not stored');
    o = buf.writeUInt32BE(Math.floor(micros / 0x1_0000_0000), o);
    o = buf.writeUInt32BE(micros % 0x1_0000_0000, o);
    text(r.employeeId);
    text(r.orgUnit);
    text(r.kind);
    o = buf.writeInt32BE(2, o);
    o = buf.writeInt16BE(r.sensitivity, o);
    o = buf.writeInt32BE(4, o);
    o = buf.writeInt32BE(r.dekVersion, o);
    o = buf.writeInt32BE(r.envelope.length, o);
    buf.set(r.envelope, o);
    o += r.envelope.length;
    o = buf.writeInt32BE(textArrayBytes(r.categories), o);
    o = buf.writeInt32BE(r.categories.length ? 1 : 0, o);
    o = buf.writeInt32BE(0, o);
    o = buf.writeInt32BE(TEXT_OID, o);
    if (r.categories.length) {
      o = buf.writeInt32BE(r.categories.length, o);
      o = buf.writeInt32BE(1, o);
      for (const c of r.categories) text(c);
    }
  }
  if (withTrailer) o = buf.writeInt16BE(-1, o);
  if (o !== size) throw new Error(`COPY encoder size mismatch: ${o} != ${size}`);
  return buf;
}
