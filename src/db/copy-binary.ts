/*
 * PostgreSQL's binary COPY format, for the record columns the vault writes. Binary COPY is the
 * fastest way into PostgreSQL (see ../shared/FACTS.md) and PGlite reads the same bytes.
 */
const SIGNATURE = Buffer.from('PGCOPY\n\xff\r\n\0', 'latin1');
const PG_EPOCH_MS = 946_684_800_000;

export interface RecordRow {
  readonly eventId: string;
  readonly capturedAt: Date;
  readonly employeeId: string;
  readonly orgUnit: string;
  readonly kind: string;
  readonly sensitivity: number;
  readonly dekVersion: number;
  readonly envelope: Uint8Array;
}

export const RECORD_COPY_COLUMNS = 'event_id, captured_at, employee_id, org_unit, kind, sensitivity, dek_version, envelope';
const FIELD_COUNT = 8;

/**
 * The COPY stream as one buffer per chunk of rows, produced lazily: a caller that encrypts rows
 * inside the iterator overlaps that work with PostgreSQL consuming the previous chunk.
 */
export function* encodeRecordChunks(chunks: Iterable<readonly RecordRow[]>): Generator<Buffer> {
  let first = true;
  for (const rows of chunks) {
    yield encodeChunk(rows, first, false);
    first = false;
  }
  yield encodeChunk([], first, true);
}

function encodeChunk(rows: readonly RecordRow[], withHeader: boolean, withTrailer: boolean): Buffer {
  let size = (withHeader ? SIGNATURE.length + 8 : 0) + (withTrailer ? 2 : 0);
  for (const r of rows) {
    size += 2 + FIELD_COUNT * 4 + 16 + 8 + 2 + 4 + r.envelope.length;
    size += Buffer.byteLength(r.employeeId) + Buffer.byteLength(r.orgUnit) + Buffer.byteLength(r.kind);
  }
  const buf = Buffer.allocUnsafe(size);
  let o = 0;
  if (withHeader) {
    o = SIGNATURE.copy(buf, 0);
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
    if (r.eventId.length !== 36 || buf.write(r.eventId.replaceAll('-', ''), o, 16, 'hex') !== 16) throw new TypeError('event id is not a UUID');
    o += 16;
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
  }
  if (withTrailer) o = buf.writeInt16BE(-1, o);
  if (o !== size) throw new Error(`COPY encoder size mismatch: ${o} != ${size}`);
  return buf;
}
