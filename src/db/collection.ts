import { sql } from 'kysely';
import { anyOf } from './any-of.js';
import type { Db } from './database.js';

/** The channel every collection change is announced on; the payload is the change's event id. */
export const COLLECTION_CHANNEL = 'vault_collection';

/**
 * Collection controls and the writes they govern exclude each other: a change (a pause, a
 * manifest) takes this lock exclusively, an ingest (or a dataset grant) shares it. An ingest that
 * commits after a pause therefore read the pause, and one that committed before it had nothing to read.
 */
const CONTROLS_LOCK = sql`hashtext('vault_collection_controls')`;

export async function lockCollectionControls(trx: Db, mode: 'change' | 'share'): Promise<void> {
  await (mode === 'change' ? sql`select pg_advisory_xact_lock(${CONTROLS_LOCK})` : sql`select pg_advisory_xact_lock_shared(${CONTROLS_LOCK})`).execute(trx);
}

export interface StoredManifest {
  readonly version: number;
  readonly document: unknown;
  readonly sha256: string;
  readonly createdBy: string;
  readonly createdAt: Date;
}

const manifestColumns = ['version', sql<string>`document::text`.as('document'), 'sha256', 'created_by', 'created_at'] as const;

function manifestOf(r: { version: number; document: string; sha256: string; created_by: string; created_at: Date }): StoredManifest {
  return { version: r.version, document: JSON.parse(r.document), sha256: r.sha256, createdBy: r.created_by, createdAt: r.created_at };
}

export async function latestManifest(db: Db): Promise<StoredManifest | undefined> {
  const row = await db.selectFrom('collection_manifests').select(manifestColumns).orderBy('version', 'desc').limit(1).executeTakeFirst();
  return row && manifestOf(row);
}

/** The version in force (0 before any manifest is installed), and the database's clock now. */
export async function manifestVersionNow(db: Db): Promise<{ version: number; now: Date }> {
  const { rows } = await sql<{ version: number; now: Date }>`select coalesce(max(version), 0) as version, clock_timestamp() as now from collection_manifests`.execute(db);
  return rows[0]!;
}

/** The version in force; 0 before any manifest is installed. */
export async function latestManifestVersion(db: Db): Promise<number> {
  return (await manifestVersionNow(db)).version;
}

export async function manifestVersion(db: Db, version: number): Promise<StoredManifest | undefined> {
  const row = await db.selectFrom('collection_manifests').select(manifestColumns).where('version', '=', version).executeTakeFirst();
  return row && manifestOf(row);
}

export async function insertManifest(trx: Db, m: { version: number; document: unknown; sha256: string; createdBy: string }): Promise<void> {
  await trx
    .insertInto('collection_manifests')
    .values({ version: m.version, document: JSON.stringify(m.document), sha256: m.sha256, created_by: m.createdBy })
    .execute();
}

/**
 * Records consent to `version` now for enrolled employees who have none: enrolment without an
 * explicit consent is consent to the manifest in force. `employeeIds` narrows it to those.
 */
export async function consentEnrolledWithoutConsent(trx: Db, version: number, employeeIds?: readonly string[]): Promise<number> {
  let update = trx
    .updateTable('employees')
    .set({ consented_version: version, consented_at: sql<Date>`now()` })
    .where('enrolled', '=', true)
    .where('consented_version', 'is', null);
  if (employeeIds) update = update.where('employee_id', '=', anyOf(employeeIds, 'text'));
  const rows = await update.returning('employee_id').execute();
  return rows.length;
}

/** A window during which nothing captured is kept: an employee's pause or opt-out, or the program's. */
export interface ControlWindow {
  readonly pauseId: string;
  readonly kind: 'pause' | 'opt_out' | 'program';
  readonly employeeId: string | null;
  readonly startsAt: Date;
  /** Null while open (an opt-out, or a program pause not yet resumed). */
  readonly endsAt: Date | null;
}

/**
 * The windows that can hold a record of `employeeIds` captured between `from` and `to`: every
 * program collection pause and every pause or opt-out of these employees overlapping the range.
 */
export async function controlWindows(db: Db, employeeIds: readonly string[], from: Date, to: Date): Promise<ControlWindow[]> {
  const result = await sql<{ pause_id: string; kind: ControlWindow['kind']; employee_id: string | null; starts_at: Date; ends_at: Date | null }>`
    select pause_id::text, 'program' as kind, null::text as employee_id, starts_at, ends_at
      from program_pauses
     where scope = 'collection' and starts_at <= ${to} and (ends_at is null or ends_at > ${from})
    union all
    select pause_id::text, kind, employee_id, starts_at, ends_at
      from employee_pauses
     where employee_id = ${anyOf(employeeIds, 'text')} and starts_at <= ${to} and (ends_at is null or ends_at > ${from})`.execute(db);
  return result.rows.map((r) => ({ pauseId: r.pause_id, kind: r.kind, employeeId: r.employee_id, startsAt: r.starts_at, endsAt: r.ends_at }));
}

/** The employee's row locked for a change to their collection state; undefined when not on the roster. */
export async function lockEmployeeForControl(trx: Db, employeeId: string) {
  return trx
    .selectFrom('employees')
    .select(['employee_id', 'enrolled', 'region', 'consented_version', 'consented_at'])
    .where('employee_id', '=', employeeId)
    .forUpdate()
    .executeTakeFirst();
}

export async function employeeCollectionFacts(db: Db, employeeId: string) {
  return db
    .selectFrom('employees')
    .select(['employee_id', 'enrolled', 'region', 'consented_version', 'consented_at'])
    .where('employee_id', '=', employeeId)
    .executeTakeFirst();
}

/** The database's clock now: every window starts and ends on it, whichever instance wrote it. */
export async function databaseNow(db: Db): Promise<Date> {
  const { rows } = await sql<{ now: Date }>`select clock_timestamp() as now`.execute(db);
  return rows[0]!.now;
}

export async function insertEmployeePause(
  trx: Db,
  p: { employeeId: string; kind: 'pause' | 'opt_out'; startsAt: Date; until: Date | null; startedBy: string },
): Promise<string> {
  const row = await trx
    .insertInto('employee_pauses')
    .values({ employee_id: p.employeeId, kind: p.kind, starts_at: p.startsAt, ends_at: p.until, requested_until: p.until, started_by: p.startedBy })
    .returning(sql<string>`pause_id::text`.as('pause_id'))
    .executeTakeFirstOrThrow();
  return row.pause_id;
}

/** Ends, at `at`, the employee's windows of `kind` still open then; returns how many. */
export async function endEmployeePauses(trx: Db, employeeId: string, kind: 'pause' | 'opt_out', at: Date, endedBy: string): Promise<number> {
  const rows = await trx
    .updateTable('employee_pauses')
    .set({ ends_at: at, ended_by: endedBy })
    .where('employee_id', '=', employeeId)
    .where('kind', '=', kind)
    .where('starts_at', '<=', at)
    .where((eb) => eb.or([eb('ends_at', 'is', null), eb('ends_at', '>', at)]))
    .returning('pause_id')
    .execute();
  return rows.length;
}

/** The employee's windows open at `at` (a pause running, an opt-out in force). */
export async function openEmployeeWindows(db: Db, employeeId: string, at: Date) {
  return db
    .selectFrom('employee_pauses')
    .select(['kind', 'starts_at', 'ends_at'])
    .where('employee_id', '=', employeeId)
    .where('starts_at', '<=', at)
    .where((eb) => eb.or([eb('ends_at', 'is', null), eb('ends_at', '>', at)]))
    .orderBy('starts_at')
    .execute();
}

export type ProgramScope = 'collection' | 'exports';

export interface ProgramPauseRow {
  readonly pauseId: string;
  readonly scope: ProgramScope;
  readonly startsAt: Date;
  readonly reason: string;
  readonly pausedBy: string;
  readonly resumeRequestedBy: string | null;
  readonly resumeRequestedAt: Date | null;
}

export async function openProgramPauses(db: Db, lock = false): Promise<ProgramPauseRow[]> {
  let query = db
    .selectFrom('program_pauses')
    .select([sql<string>`pause_id::text`.as('pause_id'), 'scope', 'starts_at', 'reason', 'paused_by', 'resume_requested_by', 'resume_requested_at'])
    .where('ends_at', 'is', null);
  if (lock) query = query.forUpdate();
  const rows = await query.execute();
  return rows.map((r) => ({
    pauseId: r.pause_id,
    scope: r.scope,
    startsAt: r.starts_at,
    reason: r.reason,
    pausedBy: r.paused_by,
    resumeRequestedBy: r.resume_requested_by,
    resumeRequestedAt: r.resume_requested_at,
  }));
}

export async function insertProgramPause(trx: Db, p: { scope: ProgramScope; startsAt: Date; reason: string; pausedBy: string }): Promise<string> {
  const row = await trx
    .insertInto('program_pauses')
    .values({ scope: p.scope, starts_at: p.startsAt, reason: p.reason, paused_by: p.pausedBy })
    .returning(sql<string>`pause_id::text`.as('pause_id'))
    .executeTakeFirstOrThrow();
  return row.pause_id;
}

export async function requestProgramResume(trx: Db, pauseId: string, by: string, reason: string, at: Date): Promise<void> {
  await trx
    .updateTable('program_pauses')
    .set({ resume_requested_by: by, resume_requested_at: at, resume_reason: reason })
    .where('pause_id', '=', pauseId)
    .execute();
}

export async function endProgramPause(trx: Db, pauseId: string, by: string, reason: string, at: Date): Promise<void> {
  await trx
    .updateTable('program_pauses')
    .set((eb) => ({ ends_at: at, resumed_by: by, resume_reason: eb.fn.coalesce('resume_reason', eb.val(reason)) }))
    .where('pause_id', '=', pauseId)
    .execute();
}

export interface CollectionEventRow {
  readonly id: number;
  readonly occurredAt: Date;
  readonly type: string;
  readonly employeeId: string | null;
  readonly data: Record<string, unknown>;
}

/** Appends a change agents must learn of and announces it when the transaction commits. */
export async function appendCollectionEvent(trx: Db, type: string, employeeId: string | null, data: Record<string, unknown>): Promise<number> {
  const row = await trx
    .insertInto('collection_events')
    .values({ type, employee_id: employeeId, data: JSON.stringify(data) })
    .returning(sql<number>`event_id::float8`.as('id'))
    .executeTakeFirstOrThrow();
  await sql`select pg_notify(${COLLECTION_CHANNEL}, ${String(row.id)})`.execute(trx);
  return row.id;
}

export async function collectionEventsAfter(db: Db, afterId: number, limit: number): Promise<CollectionEventRow[]> {
  const rows = await db
    .selectFrom('collection_events')
    .select([sql<number>`event_id::float8`.as('id'), 'occurred_at', 'type', 'employee_id', sql<string>`data::text`.as('data')])
    .where('event_id', '>', afterId)
    .orderBy('event_id')
    .limit(limit)
    .execute();
  return rows.map((r) => ({ id: r.id, occurredAt: r.occurred_at, type: r.type, employeeId: r.employee_id, data: JSON.parse(r.data) as Record<string, unknown> }));
}

export async function lastCollectionEventId(db: Db): Promise<number> {
  const row = await db.selectFrom('collection_events').select(sql<number>`coalesce(max(event_id), 0)::float8`.as('id')).executeTakeFirstOrThrow();
  return row.id;
}

/** Sets the consent a roster upsert carries, one statement for the whole batch. */
export async function recordConsents(trx: Db, consents: ReadonlyArray<{ employeeId: string; version: number; at: Date }>): Promise<void> {
  if (consents.length === 0) return;
  await sql`
    update employees e set consented_version = c.version, consented_at = c.at
      from unnest(${consents.map((c) => c.employeeId)}::text[], ${consents.map((c) => c.version)}::int[], ${consents.map((c) => c.at.toISOString())}::timestamptz[]) as c(id, version, at)
     where e.employee_id = c.id`.execute(trx);
}
