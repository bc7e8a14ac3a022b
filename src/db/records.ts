import { sql } from 'kysely';
import { anyOf } from './any-of.js';
import type { Db } from './database.js';
import { encodeRecordChunks, RECORD_COPY_COLUMNS, type RecordRow } from './copy-binary.js';
import type { VaultConnection } from './drivers.js';

/** `YYYY-MM` (UTC) of a timestamp: the month partition it lands in. */
export function recordMonth(at: Date): string {
  const month = at.getUTCMonth() + 1;
  return `${at.getUTCFullYear()}-${month < 10 ? '0' : ''}${month}`;
}

export async function ensureRecordPartitions(db: Db, months: Iterable<string>): Promise<void> {
  for (const month of months) await sql`select vault_ensure_record_partition(${month})`.execute(db);
}

/** `eventId|capturedAtMs` keys among the candidates that are already stored. */
export async function findStoredRecordKeys(
  db: Db,
  candidates: ReadonlyArray<{ eventId: string; capturedAt: Date }>,
): Promise<Set<string>> {
  const stored = new Set<string>();
  if (candidates.length === 0) return stored;
  let from = candidates[0]!.capturedAt;
  let to = from;
  for (const c of candidates) {
    if (c.capturedAt < from) from = c.capturedAt;
    if (c.capturedAt > to) to = c.capturedAt;
  }
  const rows = await db
    .selectFrom('activity_records')
    .select(['event_id', 'captured_at'])
    .where('event_id', '=', anyOf(candidates.map((c) => c.eventId), 'uuid'))
    .where('captured_at', '>=', from)
    .where('captured_at', '<=', to)
    .execute();
  for (const r of rows) stored.add(recordKey(r.event_id, r.captured_at));
  return stored;
}

export function recordKey(eventId: string, capturedAt: Date): string {
  return `${eventId.toLowerCase()}|${capturedAt.getTime()}`;
}

/**
 * Bulk-writes encrypted rows with binary COPY; run it inside the batch's transaction. Chunks are
 * pulled lazily, so rows may be sealed inside the iterable while earlier chunks are on the wire.
 */
export async function copyRecords(db: Db, rows: readonly RecordRow[] | Iterable<readonly RecordRow[]> | AsyncIterable<readonly RecordRow[]>): Promise<number> {
  const chunks = isRowArray(rows) ? [rows] : rows;
  const data = encodeRecordChunks(chunks);
  return db
    .getExecutor()
    .provideConnection((conn) =>
      (conn as VaultConnection).copyIn(`COPY activity_records (${RECORD_COPY_COLUMNS}) FROM STDIN WITH (FORMAT binary)`, data),
    );
}

export function isUniqueViolation(err: unknown): boolean {
  return sqlState(err) === '23505';
}

/**
 * The KEK-rotation fence refused a write (migration 20261203T1700): this instance wrapped under a
 * KEK other than the rotation's target; reload the KEKs and wrap again.
 */
export function isRotationFence(err: unknown): boolean {
  return sqlState(err) === 'VK001';
}

/** A deadlock or serialization failure: the transaction may simply be run again. */
export function isRetryableConflict(err: unknown): boolean {
  const state = sqlState(err);
  return state === '40P01' || state === '40001';
}

function sqlState(err: unknown): unknown {
  return typeof err === 'object' && err !== null ? (err as { code?: unknown }).code : undefined;
}

function isRowArray(rows: readonly RecordRow[] | Iterable<readonly RecordRow[]> | AsyncIterable<readonly RecordRow[]>): rows is readonly RecordRow[] {
  return Array.isArray(rows) && (rows.length === 0 || !Array.isArray(rows[0]));
}
