import { sql, type Expression, type ExpressionBuilder, type SqlBool } from 'kysely';
import { anyOf } from './any-of.js';
import type { Db, VaultDatabase } from './database.js';
import { inTransaction } from './transaction.js';
import { decodeStreamRows, STREAM_ROW_COLUMNS, withLiteralParameters } from './copy-out.js';
import type { VaultConnection } from './drivers.js';
import type { ActivityRecordsTable } from './schema.js';
import { MAX_PAYLOAD_BYTES, type Scope } from '../model/index.js';

/**
 * A lease's scope, frozen when it was granted: only records whose writing transaction had
 * committed in `snapshot` (a `pg_snapshot`, as text) and ingested by `frozenAt` are part of it.
 */
export type DatasetScope = Scope & { readonly frozenAt: Date; readonly snapshot: string };

export interface LeaseRow extends DatasetScope {
  readonly datasetId: string;
  readonly decisionId: string;
  readonly requester: string;
  readonly teams: string[];
  readonly purpose: string;
  readonly policyRevision: string;
  readonly recordCount: number;
  readonly employeeCount: number;
  readonly pseudonymKey: Uint8Array;
  /** The KEK that wraps the pseudonym secret (null: a lease from before KEK rotation). */
  readonly pseudonymKek: string | null;
  readonly createdAt: Date;
  readonly expiresAt: Date;
  /** Set once the policy in force no longer granted the lease; it is never streamed again. */
  readonly revokedAt: Date | null;
  readonly revokedRevision: string | null;
}

export interface StreamRow {
  readonly event_id: string;
  readonly captured_at: Date;
  readonly employee_id: string;
  readonly org_unit: string;
  readonly kind: string;
  readonly sensitivity: number;
  readonly dek_version: number;
  readonly envelope: Uint8Array;
  readonly categories: string[] | null;
}

/** The role that row-level security holds to the scope in the `vault.scope_*` settings (migration 20261125T1300). */
const DATASET_READER = 'vault_dataset_reader';

/**
 * Takes the reader role with `scope` in the open transaction `trx`, both `SET LOCAL`; returns the
 * role to restore. One statement reads the caller's role first (the CTE is evaluated before the
 * row it feeds), then sets the scope and the role, unless this already is the reader, which sets
 * nothing; a second proves the role holds.
 */
async function becomeDatasetReader(trx: Db, scope: DatasetScope): Promise<string> {
  if (!Number.isInteger(scope.maxSensitivity)) throw new TypeError('maxSensitivity must be an integer');
  // Outside a transaction SET LOCAL lasts one statement, and the read after it would run as the
  // owner, unconfined: refuse before anything is set.
  if (!trx.isTransaction) throw new TypeError('withDatasetReader must be called inside a transaction');
  // ISO 8601 with a zone: parsed the same whatever the session's DateStyle and TimeZone.
  const [from, to, frozenAt] = [scope.from.toISOString(), scope.to.toISOString(), scope.frozenAt.toISOString()];
  const switched = await sql<{ previous: string }>`with before as materialized (select current_user as role, current_setting('role') as previous)
    select before.previous,
      set_config('vault.scope_org_units', ${[...scope.orgUnits]}::text[]::text, true),
      set_config('vault.scope_kinds', ${[...scope.kinds]}::text[]::text, true),
      set_config('vault.scope_max_sensitivity', ${String(scope.maxSensitivity)}, true),
      set_config('vault.scope_from', ${from}, true),
      set_config('vault.scope_to', ${to}, true),
      set_config('vault.scope_frozen_at', ${frozenAt}, true),
      set_config('vault.scope_snapshot', ${scope.snapshot}, true),
      set_config('role', ${DATASET_READER}, true)
    from before where before.role <> ${DATASET_READER}`.execute(trx);
  const row = switched.rows[0];
  if (!row) throw new TypeError('withDatasetReader does not nest');
  // The role holds for the statements that follow only inside a transaction block: proved by the
  // database, not by the client's idea of where it is.
  const now = await sql<{ role: string }>`select current_user as role`.execute(trx);
  if (now.rows[0]!.role !== DATASET_READER) throw new TypeError('withDatasetReader must be called inside a transaction');
  // 'none' unless the session had switched role itself: restored exactly, not to a default.
  return row.previous;
}

/**
 * Runs `read` as the dataset reader, a role that row-level security confines to `scope`: a query
 * in `read` that forgets its WHERE clause still sees only the scope's records. `trx` must be an
 * open transaction (the role and the scope are `SET LOCAL`, so they end with it at the latest);
 * outside one this throws rather than run unconfined. When `read` returns, the transaction is
 * back to the caller's role with the scope cleared, so key lookups and audit appends that follow
 * run as before.
 *
 * @example
 * await inTransaction(database, (trx) =>
 *   withDatasetReader(trx, lease, (reader) => reader.selectFrom('activity_records').selectAll().execute()),
 * );
 */
export async function withDatasetReader<T>(trx: Db, scope: DatasetScope, read: (reader: Db) => Promise<T>): Promise<T> {
  const previous = await becomeDatasetReader(trx, scope);
  let result: T;
  try {
    result = await read(trx);
  } catch (err) {
    // The transaction is most likely aborted and will roll back, which ends the role too.
    await restoreRole(trx, previous).catch(() => {});
    throw err;
  }
  await restoreRole(trx, previous);
  return result;
}

async function restoreRole(trx: Db, previous: string): Promise<void> {
  // set_config('role', ...) is SET LOCAL ROLE taking the name as a value, so it needs no quoting.
  await sql`select set_config('role', ${previous}, true),
      set_config('vault.scope_org_units', '', true), set_config('vault.scope_kinds', '', true),
      set_config('vault.scope_max_sensitivity', '', true), set_config('vault.scope_from', '', true),
      set_config('vault.scope_to', '', true), set_config('vault.scope_frozen_at', '', true),
      set_config('vault.scope_snapshot', '', true)`.execute(trx);
}

type RecordsAsR = ExpressionBuilder<{ r: ActivityRecordsTable }, 'r'>;

function inScope(scope: DatasetScope) {
  return (eb: RecordsAsR) =>
    eb.and([
      eb('r.org_unit', '=', anyOf(scope.orgUnits, 'text')),
      eb('r.kind', '=', anyOf(scope.kinds, 'text')),
      eb('r.sensitivity', '<=', scope.maxSensitivity),
      eb('r.captured_at', '>=', scope.from),
      eb('r.captured_at', '<', scope.to),
      eb('r.ingested_at', '<=', scope.frozenAt),
      eb.or([eb('r.ingest_xid', 'is', null), sql<boolean>`pg_visible_in_snapshot(r.ingest_xid, ${scope.snapshot}::pg_snapshot)`]),
    ]);
}

/**
 * The database's clock and snapshot at this point of the caller's transaction: a lease frozen
 * with them counts and later streams exactly the records committed by then, whatever the
 * vault's own clock says and however long an ingest that began earlier takes to commit.
 */
export async function freezeLeaseSnapshot(db: Db): Promise<{ frozenAt: Date; snapshot: string }> {
  const row = await sql<{ frozen_at: Date; snapshot: string }>`select now() as frozen_at, pg_current_snapshot()::text as snapshot`.execute(db);
  return { frozenAt: new Date(row.rows[0]!.frozen_at), snapshot: row.rows[0]!.snapshot };
}

/** Ends a lease for good under `revision`; a lease already revoked keeps its first revocation. */
export async function revokeLease(db: Db, datasetId: string, revision: string): Promise<void> {
  await db
    .updateTable('dataset_leases')
    .set({ revoked_at: sql<Date>`now()`, revoked_revision: revision })
    .where('dataset_id', '=', datasetId)
    .where('revoked_at', 'is', null)
    .execute();
}

/**
 * Records which employees the scope reaches (and how many of their records), for the lease
 * `datasetId`, in the caller's transaction; returns the totals. The records are counted as the
 * dataset reader, the reach is written as the owner.
 */
export async function recordDatasetReach(db: Db, datasetId: string, scope: DatasetScope): Promise<{ records: number; employees: number }> {
  const reached = await withDatasetReader(db, scope, (reader) =>
    reader
      .selectFrom('activity_records as r')
      .select((eb) => ['r.employee_id', eb.cast<string>(eb.fn.countAll(), 'text').as('n')])
      .where(inScope(scope))
      .groupBy('r.employee_id')
      .execute(),
  );
  if (reached.length > 0) {
    // One statement of three parameters however many employees the lease reaches.
    await sql`insert into dataset_employees (dataset_id, employee_id, record_count, shard_rank)
      select ${datasetId}::uuid, e.employee_id, e.n, (row_number() over (order by random()) - 1)::integer
      from unnest(${reached.map((r) => r.employee_id)}::text[], ${reached.map((r) => r.n)}::bigint[]) as e (employee_id, n)`.execute(db);
  }
  return { records: reached.reduce((sum, r) => sum + Number(r.n), 0), employees: reached.length };
}

export async function insertLease(db: Db, lease: LeaseRow): Promise<void> {
  await db
    .insertInto('dataset_leases')
    .values({
      dataset_id: lease.datasetId,
      decision_id: lease.decisionId,
      requester: lease.requester,
      teams: lease.teams,
      purpose: lease.purpose,
      policy_revision: lease.policyRevision,
      org_units: [...lease.orgUnits],
      kinds: [...lease.kinds],
      max_sensitivity: lease.maxSensitivity,
      scope_from: lease.from,
      scope_to: lease.to,
      frozen_at: lease.frozenAt,
      frozen_snapshot: lease.snapshot,
      revoked_at: null,
      revoked_revision: null,
      record_count: lease.recordCount,
      employee_count: lease.employeeCount,
      pseudonym_key: lease.pseudonymKey,
      pseudonym_kek: lease.pseudonymKek,
      created_at: lease.createdAt,
      expires_at: lease.expiresAt,
    })
    .execute();
}

export async function setLeaseReach(db: Db, datasetId: string, reach: { records: number; employees: number }): Promise<void> {
  await db
    .updateTable('dataset_leases')
    .set({ record_count: reach.records, employee_count: reach.employees })
    .where('dataset_id', '=', datasetId)
    .execute();
}

export async function findLease(db: Db, datasetId: string): Promise<LeaseRow | undefined> {
  const r = await db.selectFrom('dataset_leases').selectAll().where('dataset_id', '=', datasetId).executeTakeFirst();
  if (!r) return undefined;
  return {
    datasetId: r.dataset_id,
    decisionId: r.decision_id,
    requester: r.requester,
    teams: r.teams,
    purpose: r.purpose,
    policyRevision: r.policy_revision,
    orgUnits: r.org_units,
    kinds: r.kinds,
    maxSensitivity: r.max_sensitivity,
    from: r.scope_from,
    to: r.scope_to,
    frozenAt: r.frozen_at,
    snapshot: r.frozen_snapshot,
    recordCount: Number(r.record_count),
    employeeCount: r.employee_count,
    pseudonymKey: r.pseudonym_key,
    pseudonymKek: r.pseudonym_kek,
    createdAt: r.created_at,
    expiresAt: r.expires_at,
    revokedAt: r.revoked_at,
    revokedRevision: r.revoked_revision,
  };
}

/** One part of a lease split by subject: the employees whose shard rank is `index` modulo `of`. */
export interface LeaseShard {
  readonly index: number;
  readonly of: number;
}

/** The employees of one shard of a lease (all of them for a single shard), frozen with the lease. */
export async function shardEmployees(db: Db, datasetId: string, shard: LeaseShard): Promise<string[]> {
  const rows = await db
    .selectFrom('dataset_employees')
    .select('employee_id')
    .where('dataset_id', '=', datasetId)
    .where(sql<boolean>`shard_rank % ${shard.of} = ${shard.index}`)
    .execute();
  return rows.map((r) => r.employee_id);
}

/**
 * What one page of stream rows may hold: at most `records` rows, and no row that starts after
 * `bytes` bytes of envelopes (so the first row always fits, and a page holds at most `bytes` plus
 * one record).
 */
export interface PageBound {
  readonly records: number;
  readonly bytes: number;
}

/** A page of stream rows; `final` when nothing follows them in the range that was read. */
export interface RowPage {
  readonly rows: StreamRow[];
  readonly final: boolean;
}

/**
 * Most bytes of binary COPY output a page may be: its budget, one record past it, and a generous
 * allowance per row for the fields besides the envelope. Reached only if the query's own bound
 * failed; the output past it is read and dropped, and the page refused.
 */
function copyLimit(bound: PageBound): number {
  return bound.bytes + MAX_PAYLOAD_BYTES + 64 * 1024 + bound.records * 4096;
}

/**
 * The rows of `activity_records as r` that `where` keeps, after `after`, in stream order, within
 * `bound`. The running sum of envelope sizes is taken in the query, so a page of large records
 * stops early in PostgreSQL rather than arriving whole (a payload may be 4 MiB).
 */
function pageQuery(db: Db, where: (eb: RecordsAsR) => Expression<SqlBool>, after: { capturedAt: Date; eventId: string } | undefined, bound: PageBound) {
  let rows = db
    .selectFrom('activity_records as r')
    .select(STREAM_ROW_COLUMNS.map((c) => `r.${c}` as const))
    .select(sql<string>`sum(octet_length(r.envelope)) over (order by r.captured_at, r.event_id rows unbounded preceding) - octet_length(r.envelope)`.as('bytes_before'))
    .where(where);
  if (after) {
    rows = rows.where((eb) => eb(eb.refTuple('r.captured_at', 'r.event_id'), '>', eb.tuple(after.capturedAt, eb.cast<string>(eb.val(after.eventId), 'uuid'))));
  }
  const limited = rows.orderBy('r.captured_at').orderBy('r.event_id').limit(bound.records);
  return db
    .selectFrom(limited.as('p'))
    .select(STREAM_ROW_COLUMNS.map((c) => `p.${c}` as const))
    .where('p.bytes_before', '<', String(bound.bytes))
    .orderBy('p.captured_at')
    .orderBy('p.event_id');
}

/**
 * Whether a page read by {@link pageQuery} ends its range. A row is left out only when the rows
 * before it hold `bound.bytes` or more, so a page under both bounds left nothing out.
 */
function rowPage(rows: StreamRow[], bound: PageBound): RowPage {
  let bytes = 0;
  for (const row of rows) bytes += row.envelope.length;
  return { rows, final: rows.length < bound.records && bytes < bound.bytes };
}

/**
 * One page of one org unit's in-scope records after the keyset position, in stream order; only
 * of `employees` when given (a shard of the lease). Read as the dataset reader in a transaction
 * of its own: the role and the scope end with its commit, so nothing is restored before it.
 * PostgreSQL sends the page as binary COPY (see copy-out.ts); PGlite, whose COPY output goes only
 * to a file, as rows (its bytea are bytes already).
 */
export async function readScopePage(
  database: VaultDatabase | Db,
  scope: DatasetScope,
  orgUnit: string,
  after: { capturedAt: Date; eventId: string } | undefined,
  bound: PageBound,
  employees?: readonly string[],
): Promise<RowPage> {
  if (!('ping' in database) && database.isTransaction) throw new TypeError('a page is read in a transaction of its own');
  return inTransaction(database, async (reader) => {
    await becomeDatasetReader(reader, scope);
    const query = pageQuery(
      reader,
      (eb) => eb.and([eb('r.org_unit', '=', orgUnit), inScope(scope)(eb), ...(employees ? [eb('r.employee_id', '=', anyOf(employees, 'text'))] : [])]),
      after,
      bound,
    );
    const rows = await reader.getExecutor().provideConnection(async (conn) => {
      const { copyOut } = conn as VaultConnection;
      if (!copyOut) return (await query.execute()) as StreamRow[];
      return decodeStreamRows(await copyOut(`COPY (${withLiteralParameters(query.compile())}) TO STDOUT (FORMAT binary)`, copyLimit(bound)));
    });
    return rowPage(rows, bound);
  });
}

/** One page of an employee's own records in `window`, after the keyset position, in stream order. */
export async function readEmployeePage(
  db: Db,
  employeeId: string,
  window: { from?: Date; to?: Date; belowSensitivity: number },
  after: { capturedAt: Date; eventId: string } | undefined,
  bound: PageBound,
): Promise<RowPage> {
  const query = pageQuery(
    db,
    (eb) =>
      eb.and([
        eb('r.employee_id', '=', employeeId),
        eb('r.sensitivity', '<', window.belowSensitivity),
        ...(window.from ? [eb('r.captured_at', '>=', window.from)] : []),
        ...(window.to ? [eb('r.captured_at', '<', window.to)] : []),
      ]),
    after,
    bound,
  );
  return rowPage((await query.execute()) as StreamRow[], bound);
}

export interface EmployeeKeyState {
  readonly enrolled: boolean;
  /** Live wrapped keys by version, with the month whose key seals each (null: a key from before month keys); a destroyed version is absent. */
  readonly keys: ReadonlyMap<number, { readonly wrappedKey: Uint8Array; readonly month: string | null }>;
}

/**
 * Enrolment and the live keys among `used` (the key versions a page's records name) of their
 * employees. Takes the employees' rows FOR KEY SHARE until the transaction ends: an erasure
 * (which locks the row FOR UPDATE) waits for a page already reading, and a page that starts after
 * an erasure sees its keys gone. Nothing is decrypted after an erasure's commit.
 */
export async function employeeKeyStates(db: Db, used: ReadonlyArray<{ employeeId: string; dekVersion: number }>): Promise<Map<string, EmployeeKeyState>> {
  const states = new Map<string, { enrolled: boolean; keys: Map<number, { wrappedKey: Uint8Array; month: string | null }> }>();
  if (used.length === 0) return states;
  const employees = await db
    .selectFrom('employees')
    .select(['employee_id', 'enrolled'])
    .where('employee_id', '=', anyOf([...new Set(used.map((u) => u.employeeId))], 'text'))
    .forKeyShare()
    .execute();
  for (const e of employees) states.set(e.employee_id, { enrolled: e.enrolled, keys: new Map() });
  const keys = await sql<{ employee_id: string; dek_version: number; wrapped_key: Uint8Array; key_month: string | null }>`
    select k.employee_id, k.dek_version, k.wrapped_key, k.key_month
      from employee_data_keys k join unnest(${used.map((u) => u.employeeId)}::text[], ${used.map((u) => u.dekVersion)}::int[]) as u(employee_id, dek_version)
        on k.employee_id = u.employee_id and k.dek_version = u.dek_version
     where k.wrapped_key is not null`.execute(db);
  for (const k of keys.rows) states.get(k.employee_id)?.keys.set(k.dek_version, { wrappedKey: k.wrapped_key, month: k.key_month });
  return states;
}

/** The distinct (employee, key version) pairs a page's rows were sealed under, in the order first met. */
export function keysUsedBy(rows: ReadonlyArray<{ employee_id: string; dek_version: number }>): Array<{ employeeId: string; dekVersion: number }> {
  const used: Array<{ employeeId: string; dekVersion: number }> = [];
  // An employee's rows name one or two versions: a short list each, and no key string a row.
  const versions = new Map<string, number[]>();
  for (const r of rows) {
    const seen = versions.get(r.employee_id);
    if (seen?.includes(r.dek_version)) continue;
    if (seen) seen.push(r.dek_version);
    else versions.set(r.employee_id, [r.dek_version]);
    used.push({ employeeId: r.employee_id, dekVersion: r.dek_version });
  }
  return used;
}

export interface AccessReportRow {
  readonly datasetId: string;
  readonly decisionId: string;
  readonly requester: string;
  readonly teams: string[];
  readonly purpose: string;
  readonly policyRevision: string;
  readonly createdAt: Date;
  readonly expiresAt: Date;
  readonly revokedAt: Date | null;
  readonly employeeRecords: number;
}

export async function datasetsReachingEmployee(db: Db, employeeId: string): Promise<AccessReportRow[]> {
  const rows = await db
    .selectFrom('dataset_employees as d')
    .innerJoin('dataset_leases as l', 'l.dataset_id', 'd.dataset_id')
    .select(['l.dataset_id', 'l.decision_id', 'l.requester', 'l.teams', 'l.purpose', 'l.policy_revision', 'l.created_at', 'l.expires_at', 'l.revoked_at', 'd.record_count'])
    .where('d.employee_id', '=', employeeId)
    .orderBy('l.created_at', 'desc')
    .execute();
  return rows.map((r) => ({
    datasetId: r.dataset_id,
    decisionId: r.decision_id,
    requester: r.requester,
    teams: r.teams,
    purpose: r.purpose,
    policyRevision: r.policy_revision,
    createdAt: r.created_at,
    expiresAt: r.expires_at,
    revokedAt: r.revoked_at,
    employeeRecords: Number(r.record_count),
  }));
}

export async function employeeExists(db: Db, employeeId: string): Promise<boolean> {
  const row = await db.selectFrom('employees').select('employee_id').where('employee_id', '=', employeeId).executeTakeFirst();
  return row !== undefined;
}
