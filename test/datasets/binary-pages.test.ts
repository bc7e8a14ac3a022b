import assert from 'node:assert/strict';
import { randomBytes, randomUUID } from 'node:crypto';
import { after, before, describe, it } from 'node:test';
import { CompiledQuery, sql } from 'kysely';
import { freezeLeaseSnapshot, readScopePage, type DatasetScope, type Db, type PageBound, type StreamRow } from '../../src/db/index.js';
import { encodeRecordChunks, type RecordRow } from '../../src/db/copy-binary.js';
import { decodeStreamRows, withLiteralParameters } from '../../src/db/copy-out.js';
import type { VaultConnection } from '../../src/db/drivers.js';
import { STORE } from '../support/database.js';
import { postRecords, putRoster, startTestVault, type TestVault } from '../support/vault.js';

const UNITS = ['eng/ml', 'NULL', 'ops'];
/** At most `n` records a page, under a byte budget no test page reaches. */
const records = (n: number): PageBound => ({ records: n, bytes: 1 << 30 });
const KINDS = ['keystroke', 'prompt', 'click'];

/** Values that a literal must carry exactly: quotes, backslashes, placeholders, array syntax, NULL words. */
const NASTY = [
  "it's",
  "''",
  '\\',
  "\\'",
  "\\' or 1=1 --",
  '$1',
  '$$ $a$',
  '"quoted"',
  '{a,b}',
  'NULL',
  'null',
  "E'x'",
  "'); drop table employees; --",
  'line\nbreak\ttab',
  'Zoë ☃ 𝔘',
  '',
];

async function textRows(db: Db, eventIds: readonly string[]): Promise<Map<string, StreamRow>> {
  const rows = await db
    .selectFrom('activity_records')
    .select(['event_id', 'captured_at', 'employee_id', 'org_unit', 'kind', 'sensitivity', 'dek_version', 'envelope', 'categories'])
    .where('event_id', 'in', [...eventIds])
    .execute();
  return new Map(rows.map((r) => [r.event_id, r as StreamRow]));
}

const comparable = (r: StreamRow) => ({ ...r, envelope: Buffer.from(r.envelope).toString('hex'), captured_at: r.captured_at.toISOString() });

describe(`dataset pages read in binary (${STORE})`, () => {
  let t: TestVault;
  let db: Db;
  let scope: DatasetScope;
  let expected: string[];

  before(async () => {
    t = await startTestVault();
    db = t.database.db;
    const employees = Array.from({ length: 12 }, (_, i) => ({ employee_id: `e${i}`, org_unit: UNITS[i % UNITS.length]! }));
    await putRoster(t, employees);
    const base = Date.parse('2026-11-02T08:00:00Z');
    const records = Array.from({ length: 240 }, (_, i) => ({
      event_id: randomUUID(),
      employee_id: employees[i % employees.length]!.employee_id,
      // Some share a timestamp, so the keyset's tie-break on event_id is exercised.
      captured_at: new Date(base + Math.floor(i / 3) * 1000 + (i % 5)).toISOString(),
      kind: KINDS[Math.floor(i / employees.length) % KINDS.length]!,
      payload: i % 4 === 0 ? { text: `write to ana.lopez${i}@example.com` } : { i, text: 'Zoë ☃' },
    }));
    assert.equal((await postRecords(t, records)).json().accepted, records.length);
    // Categories in every shape a row can hold: none (from before categories), empty, several.
    await sql`update activity_records set categories = null where kind = 'click'`.execute(db);
    await sql`update activity_records set categories = '{"a,b","c\\"d",NULL-ish}' where kind = 'prompt' and sensitivity < 3`.execute(db);
    const snapshot = await freezeLeaseSnapshot(db);
    scope = { orgUnits: UNITS, kinds: KINDS, maxSensitivity: 3, from: new Date('2026-11-01T00:00:00Z'), to: new Date('2026-11-03T00:00:00Z'), ...snapshot };
    expected = [];
    for (const unit of UNITS) {
      const rows = await sql<{ event_id: string }>`select event_id from activity_records where org_unit = ${unit} and sensitivity <= 3 order by captured_at, event_id`.execute(db);
      expected.push(...rows.rows.map((r) => r.event_id));
    }
    assert.ok(expected.length > 100);
  });
  after(() => t.close());

  it('walks every unit in small pages and reads each row exactly as the text protocol does', async () => {
    // PostgreSQL sends pages as binary COPY; PGlite, which cannot send COPY output to a confined role, as rows.
    const binary = await db.getExecutor().provideConnection(async (conn) => typeof (conn as VaultConnection).copyOut === 'function');
    assert.equal(binary, STORE === 'postgres');
    const read: StreamRow[] = [];
    for (const unit of UNITS) {
      let position: { capturedAt: Date; eventId: string } | undefined;
      for (;;) {
        const { rows: page, final } = await readScopePage(t.database, scope, unit, position, records(7));
        read.push(...page);
        const last = page.at(-1);
        assert.equal(final, page.length < 7);
        if (final || !last) break;
        position = { capturedAt: last.captured_at, eventId: last.event_id };
      }
    }
    assert.deepEqual(
      read.map((r) => r.event_id),
      expected,
    );
    const viaText = await textRows(db, expected);
    for (const row of read) assert.deepEqual(comparable(row), comparable(viaText.get(row.event_id)!));
    const shapes = new Set(read.map((r) => JSON.stringify(r.categories)));
    assert.ok(shapes.has('null') && shapes.has('[]') && shapes.has(JSON.stringify(['a,b', 'c"d', 'NULL-ish'])), [...shapes].join(' '));
    assert.ok(read.some((r) => r.org_unit === 'NULL') && read.some((r) => r.org_unit === 'eng/ml'));
  });

  it('a shard page reads only its employees, and row-level security still confines it', async () => {
    const { rows: page } = await readScopePage(t.database, scope, 'ops', undefined, records(1000), ['e2', "e5' or 'x'='x"]);
    assert.ok(page.length > 0);
    assert.deepEqual(new Set(page.map((r) => r.employee_id)), new Set(['e2']));
    // A scope narrower than the query's own WHERE: RLS holds the reader to it.
    // The page is read as the reader, on the reader transaction's connection: without the reader's
    // SELECT grant it is refused, whatever the query's own WHERE clause.
    await sql`revoke select on activity_records from vault_dataset_reader`.execute(db);
    try {
      await assert.rejects(readScopePage(t.database, scope, 'ops', undefined, records(10)), /permission denied/);
    } finally {
      await sql`grant select on activity_records to vault_dataset_reader`.execute(db);
    }
    const narrow = { ...scope, kinds: ['keystroke'] };
    const { rows: confined } = await readScopePage(t.database, narrow, 'ops', undefined, records(1000));
    assert.ok(confined.length > 0 && confined.every((r) => r.kind === 'keystroke'));
  });

  it('ends a page at its byte budget, and calls a page final only when nothing can follow it', async () => {
    const read = (after: StreamRow | undefined, bound: PageBound) =>
      readScopePage(t.database, scope, 'ops', after && { capturedAt: after.captured_at, eventId: after.event_id }, bound);
    const all = (await read(undefined, records(1000))).rows;
    assert.ok(all.length > 20);
    const ids = (rows: readonly StreamRow[]) => rows.map((r) => r.event_id);
    const upTo = (n: number) => all.slice(0, n).reduce((sum, r) => sum + r.envelope.length, 0);
    // The first three fill the budget exactly: the fourth starts at it, so it waits for the next page.
    let page = await read(undefined, { records: 1000, bytes: upTo(3) });
    assert.deepEqual([ids(page.rows), page.final], [ids(all.slice(0, 3)), false]);
    page = await read(undefined, { records: 1000, bytes: upTo(3) + 1 });
    assert.deepEqual([ids(page.rows), page.final], [ids(all.slice(0, 4)), false]);
    // A budget smaller than the first record still sends that record.
    page = await read(undefined, { records: 1000, bytes: 1 });
    assert.deepEqual([ids(page.rows), page.final], [ids(all.slice(0, 1)), false]);
    // A walk by a budget of about two records reads every row once, in order.
    const walked: StreamRow[] = [];
    let pages = 0;
    for (let last: StreamRow | undefined; ; pages++) {
      page = await read(last, { records: 1000, bytes: upTo(2) });
      walked.push(...page.rows);
      last = page.rows.at(-1) ?? last;
      if (page.final) break;
      assert.ok(page.rows.length > 0, 'a page that is not final holds records');
    }
    assert.deepEqual(ids(walked), ids(all));
    assert.ok(pages >= all.length / 3, `${pages} pages for ${all.length} records`);
    // A full page is not final even when nothing follows it: the next one, empty, is.
    page = await read(undefined, records(all.length));
    assert.deepEqual([page.rows.length, page.final], [all.length, false]);
    page = await read(all.at(-1), records(all.length));
    assert.deepEqual([page.rows.length, page.final], [0, true]);
    assert.equal((await read(undefined, records(all.length + 1))).final, true);
    // The same for a page that uses its whole byte budget.
    assert.equal((await read(undefined, { records: 1000, bytes: upTo(all.length) })).final, false);
    assert.equal((await read(undefined, { records: 1000, bytes: upTo(all.length) + 1 })).final, true);
  });

  if (STORE === 'postgres') {
    it('refuses binary COPY output past its limit, and leaves the connection usable', async () => {
      await db.getExecutor().provideConnection(async (conn) => {
        const copyOut = (conn as VaultConnection).copyOut!;
        const text = 'COPY (select event_id, envelope from activity_records order by event_id) TO STDOUT (FORMAT binary)';
        const whole = await copyOut(text, 1 << 30);
        assert.ok(whole.length > 10_000);
        await assert.rejects(copyOut(text, whole.length - 1), RangeError);
        await assert.rejects(copyOut(text, 100), RangeError);
        assert.ok((await copyOut(text, whole.length)).equals(whole));
        assert.deepEqual((await conn.executeQuery(CompiledQuery.raw('select 1 as one'))).rows, [{ one: 1 }]);
      });
    });
  }

  it('writes parameters in as literals that mean exactly what the bound parameters do', async () => {
    const when = new Date('2026-11-02T08:00:00.123Z');
    for (const value of NASTY) {
      const query = sql<{ s: string; a: string[]; n: number; d: Date; q: string }>`select ${value}::text as s, ${[value, 'x', value]}::text[] as a, ${-7}::int as n, ${when}::timestamptz as d, '$1 and ''$2''' as q`.compile(db);
      const bound = (await db.executeQuery(query)).rows;
      const inlined = (await db.executeQuery(CompiledQuery.raw(withLiteralParameters(query)))).rows;
      assert.deepEqual(inlined, bound, JSON.stringify(value));
      assert.equal(inlined[0]!.s, value);
      assert.deepEqual(inlined[0]!.a, [value, 'x', value]);
      assert.equal(inlined[0]!.q, "$1 and '$2'");
    }
    const many = Array.from({ length: 12 }, (_, i) => `v${i}`);
    const query = sql<Record<string, string>>`select ${sql.join(many.map((v, i) => sql`${v}::text as ${sql.raw(`c${i}`)}`))}`.compile(db);
    assert.deepEqual(Object.values((await db.executeQuery(CompiledQuery.raw(withLiteralParameters(query)))).rows[0]!), many);
  });

  it('refuses a parameter it cannot write as a literal', () => {
    const raw = (sqlText: string, parameters: unknown[]) => CompiledQuery.raw(sqlText, parameters);
    assert.throws(() => withLiteralParameters(raw('select $1', [Buffer.from('x')])), TypeError);
    assert.throws(() => withLiteralParameters(raw('select $1', [{ toPostgres: () => 'x' }])), TypeError);
    assert.throws(() => withLiteralParameters(raw('select $1', [Number.NaN])), TypeError);
    assert.throws(() => withLiteralParameters(raw('select $1', [new Date(Number.NaN)])), TypeError);
    assert.throws(() => withLiteralParameters(raw('select $1', [['a', 1]])), TypeError);
    assert.throws(() => withLiteralParameters(raw('select $2', ['a'])), TypeError);
    assert.throws(() => withLiteralParameters(raw('select $0', ['a'])), TypeError);
    assert.equal(withLiteralParameters(raw(`select '$1', "$1", $1`, [null])), `select '$1', "$1", NULL`);
    // SQL whose quoting the scanner does not read is refused, whatever the values.
    for (const shape of ["select $1 -- it's\n, $1", 'select /* \' */ $1', 'select $$ $1 $$, $1', "select E'\\'' , $1", "select e'x', $1", "select '\\', $1", 'select $tag$ x $tag$, $1']) {
      assert.throws(() => withLiteralParameters(raw(shape, ['a'])), /cannot take its parameters as literals/, shape);
    }
  });
});

describe('binary COPY rows decode as they were encoded', () => {
  const rows: RecordRow[] = Array.from({ length: 5 }, (_, i) => ({
    eventId: randomUUID(),
    capturedAt: new Date(Date.parse('2026-11-02T08:00:00.007Z') + i * 86_400_000 * 400),
    employeeId: `emp-${i}-Zoë`,
    orgUnit: i % 2 ? 'eng/ml/research' : 'ops',
    kind: 'prompt',
    sensitivity: i % 5,
    dekVersion: i + 1,
    envelope: randomBytes(i * 100),
    categories: i % 2 ? [] : ['credential', 'email'],
  }));
  const encoded = async (): Promise<Buffer> => {
    const parts: Buffer[] = [];
    for await (const part of encodeRecordChunks([rows.slice(0, 2), rows.slice(2)])) parts.push(part);
    return Buffer.concat(parts);
  };

  it('round-trips every field', async () => {
    const decoded = decodeStreamRows(await encoded());
    assert.deepEqual(
      decoded.map((r) => ({ ...r, envelope: Buffer.from(r.envelope) })),
      rows.map((r) => ({
        event_id: r.eventId,
        captured_at: r.capturedAt,
        employee_id: r.employeeId,
        org_unit: r.orgUnit,
        kind: r.kind,
        sensitivity: r.sensitivity,
        dek_version: r.dekVersion,
        envelope: Buffer.from(r.envelope),
        categories: [...r.categories],
      })),
    );
  });

  it('writes event ids of either case, and refuses any that is not a UUID', async () => {
    const upper = rows.map((r) => ({ ...r, eventId: r.eventId.toUpperCase() }));
    const parts: Buffer[] = [];
    for await (const part of encodeRecordChunks([upper])) parts.push(part);
    assert.deepEqual(
      decodeStreamRows(Buffer.concat(parts)).map((r) => r.event_id),
      rows.map((r) => r.eventId),
    );
    const id = rows[0]!.eventId;
    for (const bad of ['', id.slice(1), `${id}0`, id.replaceAll('-', '').padEnd(36, '0'), `${id.slice(0, 8)}x${id.slice(9)}`, `g${id.slice(1)}`, `${id.slice(0, 35)}-`, id.replace(/[0-9a-f]$/, ' ')]) {
      await assert.rejects(async () => {
        for await (const part of encodeRecordChunks([[{ ...rows[0]!, eventId: bad }]])) void part;
      }, /not a UUID/, bad);
    }
  });

  it('refuses data that is cut short, malformed or goes on after its end', async () => {
    const data = await encoded();
    assert.throws(() => decodeStreamRows(Buffer.alloc(0)), TypeError);
    assert.throws(() => decodeStreamRows(Buffer.from('not copy data at all, not at all')), TypeError);
    for (const cut of [19, 30, 60, data.length - 40, data.length - 1]) assert.throws(() => decodeStreamRows(data.subarray(0, cut)), TypeError, `cut at ${cut}`);
    assert.throws(() => decodeStreamRows(Buffer.concat([data, Buffer.from([0])])), TypeError);
    const fewerFields = Buffer.from(data);
    fewerFields.writeInt16BE(8, 19);
    assert.throws(() => decodeStreamRows(fewerFields), TypeError);
    const longUuid = Buffer.from(data);
    longUuid.writeInt32BE(17, 21);
    assert.throws(() => decodeStreamRows(longUuid), TypeError);
  });
});
