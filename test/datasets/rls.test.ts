import assert from 'node:assert/strict';
import { randomBytes, randomUUID } from 'node:crypto';
import { setTimeout as sleep } from 'node:timers/promises';
import { after, before, describe, it } from 'node:test';
import { sql } from 'kysely';
import { PAGE } from '../../src/datasets/index.js';
import { freezeLeaseSnapshot, readScopePage, withDatasetReader, type DatasetScope, type Db } from '../../src/db/index.js';
import { STORE } from '../support/database.js';
import { postRecords, putRoster, startTestVault, type TestVault } from '../support/vault.js';

// "NULL" and "null" are valid org units (A-Z a-z 0-9 . _ -): an unquoted NULL in an array literal
// is a null element, so they show whether the scope's list encoding can be confused.
const UNITS = ['u1', 'u10', 'NULL', 'null', 'r.d-lab_2', 'u2'];
const KINDS = ['keystroke', 'click', 'mouse_move', 'prompt', 'screenshot', 'scroll'];
const READER = 'vault_dataset_reader';

interface Sent {
  eventId: string;
  unit: string;
  kind: string;
  capturedAt: string;
  /** Ingested after the scopes' frozenAt. */
  late: boolean;
}

interface ReadRow {
  event_id: string;
  org_unit: string;
  kind: string;
  sensitivity: number;
  captured_at: Date;
}

function errorCode(err: unknown): string | undefined {
  const code = (err as { code?: unknown } | null)?.code;
  return typeof code === 'string' ? code : undefined;
}

describe(`dataset reads are confined by row-level security (${STORE})`, () => {
  let t: TestVault;
  let db: Db;
  let owner: string;
  let total: number;
  let frozenAt: Date;
  let frozenSnapshot: string;
  let laterSnapshot: string;
  const sent: Sent[] = [];
  const sensitivity = new Map<string, number>();

  const scopeA = (): DatasetScope => ({
    orgUnits: ['u1', 'NULL', 'r.d-lab_2'],
    kinds: ['keystroke', 'click', 'prompt'],
    maxSensitivity: 2,
    from: new Date('2026-10-25T00:00:00Z'),
    to: new Date('2026-11-10T00:00:00Z'),
    frozenAt,
    snapshot: frozenSnapshot,
  });
  const scopeB = (): DatasetScope => ({
    orgUnits: ['u10', 'null'],
    kinds: ['mouse_move', 'scroll', 'screenshot', 'click'],
    maxSensitivity: 3,
    from: new Date('2026-10-20T00:00:00Z'),
    to: new Date('2026-11-20T00:00:00Z'),
    frozenAt: new Date('2100-01-01T00:00:00Z'),
    snapshot: laterSnapshot,
  });

  function expectedIn(scope: DatasetScope): Sent[] {
    return sent.filter(
      (s) =>
        scope.orgUnits.includes(s.unit) &&
        scope.kinds.includes(s.kind) &&
        sensitivity.get(s.eventId)! <= scope.maxSensitivity &&
        s.capturedAt >= scope.from.toISOString() &&
        s.capturedAt < scope.to.toISOString() &&
        (!s.late || scope.frozenAt.getTime() > Date.now()),
    );
  }

  /** A read path that forgot its WHERE clause. */
  const everything = (reader: Db) => sql<ReadRow>`select event_id, org_unit, kind, sensitivity, captured_at from activity_records`.execute(reader);

  const count = async (q: Db) => Number((await sql<{ n: string }>`select count(*)::text as n from activity_records`.execute(q)).rows[0]!.n);
  const whoAmI = async (q: Db) =>
    (await sql<{ role: string; units: string | null }>`select current_user as role, current_setting('vault.scope_org_units', true) as units`.execute(q)).rows[0]!;

  before(async () => {
    t = await startTestVault();
    db = t.database.db;
    owner = (await whoAmI(db)).role;
    const employees = Array.from({ length: 36 }, (_, i) => ({ employee_id: `e${i}`, org_unit: UNITS[i % UNITS.length]! }));
    await putRoster(t, employees);
    const base = Date.parse('2026-10-18T00:00:00Z');
    const batch = (from: number, n: number, late: boolean) =>
      Array.from({ length: n }, (_, k) => {
        const i = from + k;
        const employee = employees[(i * 5) % employees.length]!;
        const kind = KINDS[i % KINDS.length]!;
        const capturedAt = new Date(base + ((i * 7919) % (34 * 86_400)) * 1000).toISOString();
        const eventId = randomUUID();
        sent.push({ eventId, unit: employee.org_unit, kind, capturedAt, late });
        return { event_id: eventId, employee_id: employee.employee_id, captured_at: capturedAt, kind, payload: { i }, ...(i % 7 === 0 ? { sensitivity: 3 } : {}) };
      });
    assert.equal((await postRecords(t, batch(0, 900, false))).json().accepted, 900);
    await sleep(20);
    frozenAt = new Date();
    frozenSnapshot = (await freezeLeaseSnapshot(db)).snapshot;
    await sleep(20);
    assert.equal((await postRecords(t, batch(900, 150, true))).json().accepted, 150);
    laterSnapshot = (await freezeLeaseSnapshot(db)).snapshot;
    const rows = await sql<{ event_id: string; sensitivity: number }>`select event_id, sensitivity from activity_records`.execute(db);
    for (const r of rows.rows) sensitivity.set(r.event_id, r.sensitivity);
    total = rows.rows.length;
    assert.equal(total, 1050);
  });
  after(() => t.close());

  it('with no scope set, the reader role sees no row and gets no error', async () => {
    await db.transaction().execute(async (trx) => {
      assert.equal((await whoAmI(trx)).units, null, 'never set in this session');
      await sql`set local role vault_dataset_reader`.execute(trx);
      assert.equal(await count(trx), 0);
    });
    // Set, then ended: current_setting now gives '' rather than NULL.
    await db.transaction().execute(async (trx) => {
      await withDatasetReader(trx, scopeB(), async () => {});
      assert.equal((await whoAmI(trx)).units, '');
      await sql`set local role vault_dataset_reader`.execute(trx);
      assert.equal(await count(trx), 0);
    });
    // Only part of the scope set: still nothing.
    await db.transaction().execute(async (trx) => {
      await sql`select set_config('vault.scope_org_units', ${UNITS}::text[]::text, true), set_config('vault.scope_kinds', ${KINDS}::text[]::text, true)`.execute(trx);
      await sql`set local role vault_dataset_reader`.execute(trx);
      assert.equal(await count(trx), 0);
    });
    // Each setting emptied on its own, the others in force (none may be skipped by partition pruning).
    for (const name of ['org_units', 'kinds', 'max_sensitivity', 'from', 'to', 'frozen_at', 'snapshot']) {
      const n = await db.transaction().execute((trx) =>
        withDatasetReader(trx, scopeB(), async (r) => {
          assert.ok((await count(r)) > 0);
          await sql`select set_config(${`vault.scope_${name}`}, '', true)`.execute(r);
          return count(r);
        }),
      );
      assert.equal(n, 0, `vault.scope_${name} empty`);
    }
  });

  for (const [name, scope] of [
    ['A (three units including "NULL", frozen before the late batch)', scopeA],
    ['B (units "u10" and "null", every sensitivity up to 3)', scopeB],
  ] as const) {
    it(`a read that forgot its WHERE clause returns exactly scope ${name}, record by record`, async () => {
      const expected = expectedIn(scope());
      assert.ok(expected.length > 30 && expected.length < total / 3, `scope ${name} expects ${expected.length} of ${total}`);
      const rows = await db.transaction().execute((trx) => withDatasetReader(trx, scope(), everything));
      assert.deepEqual(rows.rows.map((r) => r.event_id).sort(), expected.map((s) => s.eventId).sort());
      const byId = new Map(sent.map((s) => [s.eventId, s]));
      for (const row of rows.rows) {
        const s = byId.get(row.event_id)!;
        assert.deepEqual(
          { unit: row.org_unit, kind: row.kind, sensitivity: row.sensitivity, capturedAt: row.captured_at.toISOString() },
          { unit: s.unit, kind: s.kind, sensitivity: sensitivity.get(s.eventId), capturedAt: s.capturedAt },
        );
      }
    });
  }

  it('the late batch is outside a scope frozen before it, and the stream page reader agrees with the policy', async () => {
    const scope = scopeA();
    assert.ok(sent.some((s) => s.late && scope.orgUnits.includes(s.unit) && scope.kinds.includes(s.kind) && s.capturedAt >= scope.from.toISOString() && s.capturedAt < scope.to.toISOString()));
    for (const unit of scope.orgUnits) {
      const { rows: page } = await readScopePage(db, scope, unit, undefined, PAGE);
      assert.deepEqual(page.map((r) => r.event_id).sort(), expectedIn(scope).filter((s) => s.unit === unit).map((s) => s.eventId).sort());
    }
  });

  it('reading a partition directly as the reader is refused, and would show no row if it were granted', async () => {
    const partitions = await sql<{ name: string }>`select inhrelid::regclass::text as name from pg_inherits where inhparent = 'activity_records'::regclass`.execute(db);
    assert.ok(partitions.rows.length >= 2);
    for (const { name } of partitions.rows) {
      await assert.rejects(
        db.transaction().execute((trx) => withDatasetReader(trx, scopeB(), (r) => sql`select count(*) from ${sql.table(name)}`.execute(r))),
        (err) => errorCode(err) === '42501',
      );
    }
    // Had a grant slipped in, the partition's own row-level security (no policy) would still show nothing.
    const [first] = partitions.rows;
    await sql`grant select on ${sql.table(first!.name)} to vault_dataset_reader`.execute(db);
    try {
      const n = await db.transaction().execute((trx) => withDatasetReader(trx, scopeB(), (r) => sql<{ n: string }>`select count(*)::text as n from ${sql.table(first!.name)}`.execute(r)));
      assert.equal(n.rows[0]!.n, '0');
      assert.ok(Number((await sql<{ n: string }>`select count(*)::text as n from ${sql.table(first!.name)}`.execute(db)).rows[0]!.n) > 0, 'the partition has rows');
    } finally {
      await sql`revoke select on ${sql.table(first!.name)} from vault_dataset_reader`.execute(db);
    }
  });

  it('the reader cannot insert, update or delete records', async () => {
    const victim = sent.find((s) => expectedIn(scopeB()).includes(s))!;
    const writes = [
      sql`insert into activity_records (event_id, captured_at, employee_id, org_unit, kind, sensitivity, dek_version, envelope)
        values (${randomUUID()}, ${new Date('2026-11-01T00:00:00Z')}, 'e1', 'u10', 'click', 0, 1, ${randomBytes(8)})`,
      sql`update activity_records set sensitivity = 0 where event_id = ${victim.eventId}`,
      sql`delete from activity_records where event_id = ${victim.eventId}`,
      sql`delete from activity_records`,
    ];
    for (const write of writes) {
      await assert.rejects(
        db.transaction().execute((trx) => withDatasetReader(trx, scopeB(), (r) => write.execute(r))),
        (err) => errorCode(err) === '42501',
      );
    }
    assert.equal(await count(db), total);
    assert.equal(sensitivity.get(victim.eventId), (await sql<{ s: number }>`select sensitivity as s from activity_records where event_id = ${victim.eventId}`.execute(db)).rows[0]!.s);
  });

  it('after the read the transaction is the owner again, and nothing of the scope reaches the next transaction', async () => {
    // One connection for both transactions, so a leak into the session would show.
    await db.connection().execute(async (conn) => {
      await conn.transaction().execute(async (trx) => {
        const seen = await withDatasetReader(trx, scopeA(), async (r) => ({ who: await whoAmI(r), n: await count(r) }));
        assert.equal(seen.who.role, READER);
        assert.equal(seen.n, expectedIn(scopeA()).length);
        assert.deepEqual(await whoAmI(trx), { role: owner, units: '' });
        assert.equal(await count(trx), total, 'the owner is not subject to the policy');
        // A read that throws in JavaScript, not in the database: the role is restored all the same.
        await assert.rejects(withDatasetReader(trx, scopeA(), async () => Promise.reject(new Error('boom'))), /boom/);
        assert.equal((await whoAmI(trx)).role, owner);
      });
      const next = await conn.transaction().execute(async (trx) => ({ who: await whoAmI(trx), n: await count(trx) }));
      assert.equal(next.who.role, owner);
      assert.ok(next.who.units === null || next.who.units === '', `scope leaked: ${next.who.units}`);
      assert.equal(next.n, total);
      // A read that fails in the database aborts the transaction; the rollback ends the role.
      await assert.rejects(conn.transaction().execute((trx) => withDatasetReader(trx, scopeA(), (r) => sql`select 1 / 0`.execute(r))));
      assert.equal((await whoAmI(conn)).role, owner);
      assert.ok([null, ''].includes((await whoAmI(conn)).units));
    });
  });

  it('outside a transaction it throws instead of reading unconfined, and leaves the session as it was', async () => {
    await db.connection().execute(async (conn) => {
      let called = false;
      await assert.rejects(
        withDatasetReader(conn, scopeA(), async (r) => {
          called = true;
          return everything(r);
        }),
        (err) => err instanceof TypeError && /inside a transaction/.test(err.message),
      );
      assert.equal(called, false);
      assert.equal((await whoAmI(conn)).role, owner);
      // A page opens a reader transaction of its own, so even on a bare connection it is confined, and leaves nothing behind.
      const { rows: page } = await readScopePage(conn, scopeA(), 'u1', undefined, PAGE);
      assert.deepEqual(new Set(page.map((r) => r.event_id)), new Set(expectedIn(scopeA()).filter((s) => s.unit === 'u1').map((s) => s.eventId)));
      assert.equal((await whoAmI(conn)).role, owner);
      await conn.transaction().execute((trx) => assert.rejects(readScopePage(trx, scopeA(), 'u1', undefined, PAGE), /transaction of its own/));
      assert.equal(await count(conn), total);
    });
    await assert.rejects(withDatasetReader(db, scopeA(), everything), TypeError);
  });

  it('does not nest: an inner call throws and leaves the outer scope and role as they were', async () => {
    await db.transaction().execute(async (trx) => {
      await withDatasetReader(trx, scopeA(), async (r) => {
        await assert.rejects(withDatasetReader(r, scopeB(), everything), (err) => err instanceof TypeError && /does not nest/.test(err.message));
        assert.equal((await whoAmI(r)).role, READER);
        assert.equal(await count(r), expectedIn(scopeA()).length);
      });
      assert.equal((await whoAmI(trx)).role, owner);
    });
  });

  it('a role without a policy of its own sees no row, even granted SELECT', async () => {
    const other = `vault_test_no_policy_${randomBytes(4).toString('hex')}`;
    await sql`create role ${sql.id(other)} nologin`.execute(db);
    try {
      await sql`grant select on activity_records to ${sql.id(other)}`.execute(db);
      await sql`grant ${sql.id(other)} to current_user`.execute(db);
      const n = await db.transaction().execute(async (trx) => {
        await sql`select set_config('role', ${other}, true)`.execute(trx);
        assert.equal((await whoAmI(trx)).role, other);
        return count(trx);
      });
      assert.equal(n, 0);
    } finally {
      await sql`revoke select on activity_records from ${sql.id(other)}`.execute(db);
      await sql`drop role ${sql.id(other)}`.execute(db);
    }
  });
});
