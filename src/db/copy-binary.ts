/*
 * PostgreSQL's binary COPY format, for the record columns the vault writes. Binary COPY is the
 * fastest way into PostgreSQL (see ../shared/FACTS.md) and PGlite reads the same bytes.
 */
const SIGNATURE = Buffer.from('PGCOPY\n\xff\r\n\0', 'latin1');
const PG_EPOCH_MS = 946_684_800_000;
const UUID_HEX = /^[0-9a-f]{8}-?[0-9a-f]{4}-?[0-9a-f]{4}-?[0-9a-f]{4}-?[0-9a-f]{12}$/i;

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

export function encodeRecordRows(rows: readonly RecordRow[]): Buffer {
  let size = SIGNATURE.length + 8 + 2;
  for (const r of rows) {
    size += 2 + FIELD_COUNT * 4 + 16 + 8 + 2 + 4 + r.envelope.length;
    size += Buffer.byteLength(r.employeeId) + Buffer.byteLength(r.orgUnit) + Buffer.byteLength(r.kind);
  }
  const buf = Buffer.allocUnsafe(size);
  let o = SIGNATURE.copy(buf, 0);
  o = buf.writeInt32BE(0, o);
  o = buf.writeInt32BE(0, o);
  const text = (value: string): void => {
    const len = buf.write(value, o + 4, 'utf8');
    buf.writeInt32BE(len, o);
    o += 4 + len;
  };
  for (const r of rows) {
    if (!UUID_HEX.test(r.eventId)) throw new TypeError('event id is not a UUID');
    o = buf.writeInt16BE(FIELD_COUNT, o);
    o = buf.writeInt32BE(16, o);
    o += buf.write(r.eventId.replaceAll('-', ''), o, 'hex');
    o = buf.writeInt32BE(8, o);
    o = buf.writeBigInt64BE(BigInt(r.capturedAt.getTime() - PG_EPOCH_MS) * 1000n, o);
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
  o = buf.writeInt16BE(-1, o);
  if (o !== size) throw new Error(`COPY encoder size mismatch: ${o} != ${size}`);
  return buf;
}
