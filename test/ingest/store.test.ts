import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import fs from 'node:fs/promises';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import { sql } from 'kysely';
import { migrateDatabase, openDatabase } from '../../src/db/index.js';
import { isVaultError } from '../../src/errors/index.js';
import { STORE } from '../support/database.js';
import { countRows, decryptStored, dumpAllTablesAsText } from '../support/records.js';
import { makeRecords, postRecords, putRoster, startTestVault, tempDir, type TestVault } from '../support/vault.js';

const EMPLOYEES = Array.from({ length: 10 }, (_, i) => ({ employee_id: `emp-${i}`, org_unit: `unit-${i % 3}` }));
const ids = EMPLOYEES.map((e) => e.employee_id);

async function filesContaining(dir: string, needle: Buffer): Promise<string[]> {
  const hits: string[] = [];
  for (const entry of await fs.readdir(dir, { withFileTypes: true, recursive: true })) {
    if (!entry.isFile()) continue;
    const file = path.join(entry.parentPath, entry.name);
    if ((await fs.readFile(file)).includes(needle)) hits.push(file);
  }
  return hits;
}

describe(`nothing readable reaches storage or logs (${STORE})`, () => {
  it('a unique marker sent in 1,000 payloads appears in no table, no log line and no database file', async () => {
    const marker = `MARKER-${randomUUID()}`;
    const control = `CONTROL-${randomUUID()}`;
    const diskDir = STORE === 'embedded' ? await tempDir('vault-disk-') : undefined;
    const onDisk = diskDir ? await openDatabase({ dataDir: diskDir }) : undefined;
    if (onDisk) await migrateDatabase(onDisk);
    const t = await startTestVault(onDisk ? { database: onDisk } : {});
    try {
      await putRoster(t, EMPLOYEES);
      const records = makeRecords(1000, ids, marker);
      const response = await postRecords(t, records);
      assert.equal(response.statusCode, 200);
      assert.equal(response.json().accepted, 1000);
      assert.ok(!response.body.includes(marker));

      const dump = await dumpAllTablesAsText(t.database.db);
      assert.ok(dump.includes('emp-3'), 'the dump really reads the tables');
      assert.ok(!dump.includes(marker), 'marker found in a table');
      assert.ok(!dump.includes(Buffer.from(marker).toString('hex')), 'marker found as hex in a bytea column');
      assert.ok(t.logs.length > 0);
      assert.ok(!t.logs.some((line) => line.includes(marker)), 'marker found in a log line');

      const sample = records.slice(0, 5).map((r) => r.event_id);
      const decrypted = await decryptStored(t.vault, sample);
      assert.ok(sample.every((id) => String(decrypted.get(id)).includes(marker)), 'the records are stored, readable only through the keys');
      if (onDisk && diskDir) {
        await sql`create table disk_control (note text)`.execute(onDisk.db);
        await sql`insert into disk_control values (${control})`.execute(onDisk.db);
        await t.close();
        await onDisk.close();
        assert.ok((await filesContaining(diskDir, Buffer.from(control))).length > 0, 'control: plaintext written in clear is found on disk');
        assert.deepEqual(await filesContaining(diskDir, Buffer.from(marker)), [], 'marker found in the embedded database files');
      }
    } finally {
      await t.close().catch(() => {});
      if (onDisk) await onDisk.close().catch(() => {});
      if (diskDir) await fs.rm(diskDir, { recursive: true, force: true });
    }
  });
});

describe(`stored records are bound to their row (${STORE})`, () => {
  let t: TestVault;
  before(async () => {
    t = await startTestVault();
    await putRoster(t, EMPLOYEES);
  });
  after(() => t.close());

  it('decrypts untouched rows and refuses rows edited in SQL with a typed error', async () => {
    const records = makeRecords(5, ids, 'bound');
    assert.equal((await postRecords(t, records)).json().accepted, 5);
    const [a, b, c, d, e] = records.map((r) => r.event_id) as [string, string, string, string, string];
    const db = t.database.db;
    await sql`update activity_records set envelope = (select envelope from activity_records where event_id = ${a}::uuid) where event_id = ${b}::uuid`.execute(db);
    await sql`update activity_records set sensitivity = 0 where event_id = ${c}::uuid`.execute(db);
    await sql`update activity_records set kind = 'click' where event_id = ${d}::uuid`.execute(db);

    const out = await decryptStored(t.vault, [a, b, c, d, e]);
    assert.equal(out.size, 5);
    assert.equal(JSON.parse(out.get(a) as string).text, 'bound #0');
    assert.equal(JSON.parse(out.get(e) as string).text, 'bound #4');
    for (const id of [b, c, d]) assert.ok(isVaultError(out.get(id), 'ERR_DECRYPT_FAILED'), `row ${id} must fail with ERR_DECRYPT_FAILED`);
  });

  it('a ciphertext copied onto another row of the same employee fails to decrypt (the record id is bound)', async () => {
    const [one, two] = makeRecords(2, ['emp-4'], 'same-employee');
    assert.equal((await postRecords(t, [one, two])).json().accepted, 2);
    await sql`update activity_records set envelope = (select envelope from activity_records where event_id = ${one!.event_id}::uuid) where event_id = ${two!.event_id}::uuid`.execute(t.database.db);
    const out = await decryptStored(t.vault, [one!.event_id, two!.event_id]);
    assert.equal(JSON.parse(out.get(one!.event_id) as string).text, 'same-employee #0');
    assert.ok(isVaultError(out.get(two!.event_id), 'ERR_DECRYPT_FAILED'));
  });

  it('a ciphertext copied onto another employee’s row fails to decrypt', async () => {
    const [mine, theirs] = [makeRecords(1, ['emp-1'], 'mine')[0]!, makeRecords(1, ['emp-2'], 'theirs')[0]!];
    assert.equal((await postRecords(t, [mine, theirs])).json().accepted, 2);
    await sql`update activity_records set envelope = (select envelope from activity_records where event_id = ${mine.event_id}::uuid) where event_id = ${theirs.event_id}::uuid`.execute(t.database.db);
    const out = await decryptStored(t.vault, [theirs.event_id]);
    assert.ok(isVaultError(out.get(theirs.event_id), 'ERR_DECRYPT_FAILED'));
  });
});

describe(`idempotent ingest (${STORE})`, () => {
  let t: TestVault;
  before(async () => {
    t = await startTestVault();
    await putRoster(t, EMPLOYEES);
  });
  after(() => t.close());

  it('re-sending a batch stores nothing new and reports duplicates', async () => {
    const batch = makeRecords(300, ids, 'retry');
    const first = (await postRecords(t, batch)).json();
    assert.deepEqual([first.accepted, first.duplicates], [300, 0]);
    const before = await countRows(t.database.db);
    const again = (await postRecords(t, batch)).json();
    assert.deepEqual([again.accepted, again.duplicates, again.rejected.length], [0, 300, 0]);
    assert.deepEqual(await countRows(t.database.db), before);
  });

  it('the same event twice in one batch is stored once', async () => {
    const [record] = makeRecords(1, ids, 'twice');
    const result = (await postRecords(t, [record, record])).json();
    assert.deepEqual([result.accepted, result.duplicates], [1, 1]);
  });

  it('one event id at three capture times is three records, each counted once however it is spelt', async () => {
    const [record] = makeRecords(1, ids, 'three-times');
    const at = (ms: number) => new Date(Date.parse(record!.captured_at) + ms).toISOString();
    const upper = { ...record!, event_id: record!.event_id.toUpperCase() };
    const batch = [record, { ...record, captured_at: at(1) }, upper, { ...upper, captured_at: at(1) }, { ...record, captured_at: at(2) }, { ...upper, captured_at: at(2) }];
    const result = (await postRecords(t, batch)).json();
    assert.deepEqual([result.accepted, result.duplicates, result.rejected.length], [3, 3, 0]);
    const stored = await sql<{ n: number }>`select count(*)::int as n from activity_records where event_id = ${record!.event_id}::uuid`.execute(t.database.db);
    assert.equal(stored.rows[0]!.n, 3);
  });

  it('two concurrent retries of one batch store it exactly once', async () => {
    const batch = makeRecords(500, ids, 'race');
    const token = await t.token('ingest-agent');
    const results = (await Promise.all([postRecords(t, batch, token), postRecords(t, batch, token), postRecords(t, batch, token)])).map((r) => r.json());
    assert.equal(results.reduce((n, r) => n + r.accepted, 0), 500);
    assert.equal(results.reduce((n, r) => n + r.duplicates, 0), 1000);
    const stored = await sql<{ n: number }>`select count(*)::int as n from activity_records where event_id = any(${batch.map((r) => r.event_id)}::uuid[])`.execute(t.database.db);
    assert.equal(stored.rows[0]!.n, 500);
  });
});

describe(`month partitions (${STORE})`, () => {
  it('are UTC months even when the session time zone is not UTC', async () => {
    const t = await startTestVault();
    try {
      await sql`set timezone = 'Europe/Berlin'`.execute(t.database.db);
      await putRoster(t, [{ employee_id: 'tz-1', org_unit: 'u1' }]);
      const edges = ['2026-03-31T23:30:00.000Z', '2026-04-01T00:30:00.000Z', '2026-10-31T23:30:00.000Z', '2026-11-01T00:30:00.000Z'];
      const records = edges.map((at, i) => ({ ...makeRecords(1, ['tz-1'], `edge ${i}`)[0]!, captured_at: at }));
      const response = await postRecords(t, records);
      assert.equal(response.statusCode, 200, response.body);
      assert.equal(response.json().accepted, 4);
      const rows = await sql<{ p: string; at: Date }>`select tableoid::regclass::text as p, captured_at as at from activity_records order by captured_at`.execute(t.database.db);
      assert.deepEqual(rows.rows.map((r) => r.p), ['activity_records_2026_03', 'activity_records_2026_04', 'activity_records_2026_10', 'activity_records_2026_11']);
    } finally {
      await sql`reset timezone`.execute(t.database.db);
      await t.close();
    }
  });
});

describe(`consent and classification at ingest (${STORE})`, () => {
  let t: TestVault;
  before(async () => {
    t = await startTestVault();
    await putRoster(t, [...EMPLOYEES, { employee_id: 'left-1', org_unit: 'unit-0', enrolled: false }]);
  });
  after(() => t.close());

  it('drops records of employees who are not enrolled, with a reason, and stores nothing of them', async () => {
    const [kept, gone] = [makeRecords(1, ['emp-1'], 'kept')[0]!, makeRecords(1, ['left-1'], 'gone')[0]!];
    const result = (await postRecords(t, [kept, gone])).json();
    assert.equal(result.accepted, 1);
    assert.deepEqual(result.dropped, [{ index: 1, reason: 'not_enrolled' }]);
    const rows = await sql<{ n: number }>`select count(*)::int as n from activity_records where employee_id = 'left-1'`.execute(t.database.db);
    assert.equal(rows.rows[0]!.n, 0);
  });

  it('never stores a record of an employee whose un-enrolment committed before the batch did', async () => {
    for (let round = 0; round < 4; round++) {
      const id = `race-${round}`;
      await putRoster(t, [{ employee_id: id, org_unit: 'unit-0' }]);
      const batch = makeRecords(2000, [id], 'race');
      const [ingest, roster] = await Promise.all([
        postRecords(t, batch),
        (async () => {
          await new Promise((r) => setTimeout(r, round * 3));
          return t.app.inject({
            method: 'PUT',
            url: '/v1/employees',
            headers: { authorization: `Bearer ${await t.token('privacy-officer')}` },
            payload: { employees: [{ employee_id: id, org_unit: 'unit-0', region: 'eu-west', enrolled: false }] },
          });
        })(),
      ]);
      assert.equal(ingest.statusCode, 200);
      assert.equal(roster.statusCode, 200);
      const stored = (await sql<{ n: number }>`select count(*)::int as n from activity_records where employee_id = ${id}`.execute(t.database.db)).rows[0]!.n;
      const seqOf = async (action: string) => (await t.vault.audit.query({ action, limit: 1 })).events[0]!.seq;
      const rosterFirst = (await seqOf('roster.upsert')) < (await seqOf('records.ingest'));
      assert.equal(stored, rosterFirst ? 0 : 2000, `round ${round}: roster committed ${rosterFirst ? 'first' : 'second'}`);
      assert.equal(ingest.json().accepted, stored);
      if (rosterFirst) assert.equal(ingest.json().dropped.length, 2000);
    }
  });

  it('raises sensitivity to the kind floor and to what the content shows, never lowers it; level 4 is dropped, not stored', async () => {
    const records = [
      makeRecords(1, ['emp-1'], 'plain', { kind: 'screenshot', sensitivity: 0 })[0]!,
      makeRecords(1, ['emp-1'], 'my SSN is 123-45-6789', { kind: 'keystroke' })[0]!,
      makeRecords(1, ['emp-1'], 'card 4111 1111 1111 1111', { kind: 'prompt' })[0]!,
      makeRecords(1, ['emp-1'], 'declared', { kind: 'click', sensitivity: 3 })[0]!,
    ];
    const result = (await postRecords(t, records)).json();
    assert.equal(result.accepted, 2);
    assert.deepEqual(result.dropped, [
      { index: 1, reason: 'sensitive_content', categories: ['government_id'] },
      { index: 2, reason: 'sensitive_content', categories: ['payment_card'] },
    ]);
    const rows = await t.database.db.selectFrom('activity_records').select(['event_id', 'sensitivity']).where('event_id', 'in', records.map((r) => r.event_id)).execute();
    const level = new Map(rows.map((r) => [r.event_id, r.sensitivity]));
    assert.deepEqual(records.map((r) => level.get(r.event_id)), [3, undefined, undefined, 3]);
  });

  it('with VAULT_STORE_LEVEL_4=true keeps level-4 records, encrypted, at level 4', async () => {
    const keep = await startTestVault({ env: { VAULT_STORE_LEVEL_4: 'true' } });
    try {
      await putRoster(keep, EMPLOYEES);
      const records = [
        makeRecords(1, ['emp-1'], 'my SSN is 123-45-6789', { kind: 'keystroke' })[0]!,
        makeRecords(1, ['emp-1'], 'card 4111 1111 1111 1111', { kind: 'prompt' })[0]!,
      ];
      assert.equal((await postRecords(keep, records)).json().accepted, 2);
      const rows = await keep.database.db.selectFrom('activity_records').select(['event_id', 'sensitivity']).where('event_id', 'in', records.map((r) => r.event_id)).execute();
      const level = new Map(rows.map((r) => [r.event_id, r.sensitivity]));
      assert.deepEqual(records.map((r) => level.get(r.event_id)), [4, 4]);
    } finally {
      await keep.close();
    }
  });

  it("gives each employee one random data key per month of their records, stored only wrapped", async () => {
    const keys = await t.database.db.selectFrom('employee_data_keys').selectAll().execute();
    const months = await sql<{ employee_id: string; month: string }>`
      select distinct employee_id, to_char(captured_at at time zone 'UTC', 'YYYY-MM') as month from activity_records`.execute(t.database.db);
    assert.ok(months.rows.length > 0);
    // Every employee and month with records has its key, and only one (a key may outlive records
    // dropped after it was made: an un-enrolment that won the race, content found sensitive).
    const keyed = keys.map((k) => `${k.employee_id} ${k.key_month}`);
    assert.equal(new Set(keyed).size, keyed.length);
    for (const r of months.rows) assert.ok(keyed.includes(`${r.employee_id} ${r.month}`), `${r.employee_id} ${r.month}`);
    assert.equal(new Set(keys.map((k) => Buffer.from(k.wrapped_key!).toString('hex'))).size, keys.length);
    assert.ok(keys.every((k) => k.kek_id === t.vault.keyRing.kekId));
    // Versions are per employee, never reused.
    const versions = new Map<string, number[]>();
    for (const k of keys) versions.set(k.employee_id, [...(versions.get(k.employee_id) ?? []), k.dek_version]);
    for (const v of versions.values()) assert.equal(new Set(v).size, v.length);
  });
});
