import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import fs from 'node:fs/promises';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import { promisify } from 'node:util';
import { sql } from 'kysely';
import { employeeKeyStates, inTransaction } from '../../src/db/index.js';
import { STORE } from '../support/database.js';
import { decryptStored, dumpAllTablesAsText } from '../support/records.js';
import { makeRecords, postRecords, putRoster, startTestVault, tempDir, type TestVault } from '../support/vault.js';

const run = promisify(execFile);

interface Line {
  subject: string;
  payload: { text: string };
}

/** Checks a receipt exactly as the README tells anyone to: openssl, the PEM and two base64 files. */
async function opensslVerifies(receipt: { statement: string; signature: string; public_key_pem: string }, statement = receipt.statement): Promise<boolean> {
  const dir = await tempDir('receipt-');
  try {
    await fs.writeFile(path.join(dir, 'key.pem'), receipt.public_key_pem);
    await fs.writeFile(path.join(dir, 'statement'), Buffer.from(statement, 'base64'));
    await fs.writeFile(path.join(dir, 'signature'), Buffer.from(receipt.signature, 'base64'));
    await run('openssl', ['pkeyutl', '-verify', '-pubin', '-inkey', 'key.pem', '-rawin', '-in', 'statement', '-sigfile', 'signature'], { cwd: dir });
    return true;
  } catch {
    return false;
  } finally {
    await fs.rm(dir, { recursive: true, force: true });
  }
}

describe(`erasure by crypto-shredding (${STORE})`, () => {
  let t: TestVault;
  let second: TestVault;
  let officer: string;
  let job: string;
  let datasetId: string;
  const aliceIds: string[] = [];
  const bobIds: string[] = [];
  let aliceWrappedKey: string;

  const call = async (method: 'POST' | 'GET', url: string, token: string) => t.app.inject({ method, url, headers: { authorization: `Bearer ${token}` } });
  const streamLines = async (vault: TestVault, id: string): Promise<Line[]> => {
    const response = await vault.app.inject({ url: `/v1/datasets/${id}/records`, headers: { authorization: `Bearer ${job}` } });
    assert.equal(response.statusCode, 200, response.body);
    return response.body.split('\n').filter(Boolean).map((l) => JSON.parse(l) as Line);
  };
  const aliceRows = async () => Number((await sql<{ n: number }>`select count(*)::int as n from activity_records where employee_id = 'alice'`.execute(t.database.db)).rows[0]!.n);

  before(async () => {
    // The background deletion is run by hand here, so the stream's skipping is seen before the rows go.
    const env = { VAULT_MAINTENANCE_SECONDS: '3600' };
    t = await startTestVault({ env });
    second = await startTestVault({ database: t.database, dataDir: t.dataDir, env });
    await putRoster(t, [
      { employee_id: 'alice', org_unit: 'engineering' },
      { employee_id: 'bob', org_unit: 'engineering' },
      ...Array.from({ length: 20 }, (_, i) => ({ employee_id: `other-${i}`, org_unit: `unit-${i % 4}` })),
    ]);
    officer = await t.token('privacy-officer');
    job = await t.token('training-job', { sub: 'job-1', teams: ['team-autocomplete'], purpose: 'autocomplete-model' });
    for (const [who, ids] of [['alice', aliceIds], ['bob', bobIds]] as const) {
      const records = makeRecords(120, [who], `${who} typed`);
      const result = (await postRecords(t, records)).json();
      assert.equal(result.accepted, 120);
      ids.push(...records.map((r) => r.event_id));
    }
    const granted = await t.app.inject({
      method: 'POST',
      url: '/v1/datasets',
      headers: { authorization: `Bearer ${job}` },
      payload: { purpose: 'autocomplete-model', kinds: ['keystroke'], org_units: ['engineering'], from: '2026-11-01T00:00:00Z', to: '2026-12-01T00:00:00Z' },
    });
    assert.equal(granted.statusCode, 201, granted.body);
    datasetId = granted.json().dataset_id;
    assert.equal(granted.json().record_count, 240);
    const key = await t.database.db.selectFrom('employee_data_keys').select('wrapped_key').where('employee_id', '=', 'alice').executeTakeFirstOrThrow();
    aliceWrappedKey = Buffer.from(key.wrapped_key!).toString('hex');
  });
  after(async () => {
    await second.close();
    await t.close();
  });

  it('refuses anyone but a privacy officer, and an unknown employee, each on the record', async () => {
    for (const token of [await t.token('employee', { sub: 'alice' }), await t.token('auditor'), await t.token('security-admin')]) {
      const refused = await call('POST', '/v1/employees/alice/erase', token);
      assert.equal(refused.statusCode, 403, refused.body);
    }
    const unknown = await call('POST', '/v1/employees/nobody/erase', officer);
    assert.equal(unknown.statusCode, 404);
    await t.vault.audit.sequenced();
    const denied = (await t.vault.audit.query({ action: 'employee.erase', decision: 'deny', limit: 10 })).events;
    assert.deepEqual(denied.map((e) => e.details.reason), ['no_such_employee']);
    const forbidden = (await t.vault.audit.query({ action: 'auth.forbidden', limit: 10 })).events.filter((e) => String(e.details.route).endsWith('/erase'));
    assert.equal(forbidden.length, 3, 'each refused role is on the record');
    assert.equal(await aliceRows(), 120, 'nothing was erased');
  });

  it('destroys every key of the employee in one step, answers a receipt openssl verifies, and the stream granted earlier goes on without them', async () => {
    // Both instances hold alice's key in their caches before the erasure.
    assert.equal((await streamLines(t, datasetId)).length, 240);
    assert.equal((await streamLines(second, datasetId)).length, 240);
    const cachedBefore = second.vault.keyRing.cachedKeyCount;

    const erased = await call('POST', '/v1/employees/alice/erase', officer);
    const erasedAt = Date.now();
    assert.equal(erased.statusCode, 200, erased.body);
    const receipt = erased.json();
    assert.equal(receipt.employee_id, 'alice');
    assert.deepEqual(receipt.receipt.key_versions_destroyed, [1]);
    assert.deepEqual(receipt.receipt.key_versions_destroyed_before, []);
    assert.equal(receipt.receipt.records_unreadable, 120);
    assert.equal(receipt.receipt.employee_ref, t.vault.audit.employeeRef('alice'));
    assert.deepEqual(JSON.parse(Buffer.from(receipt.statement, 'base64').toString()), receipt.receipt, 'the statement is the receipt');
    assert.ok(await opensslVerifies(receipt), 'openssl verifies the receipt');
    const forged = Buffer.from(Buffer.from(receipt.statement, 'base64').toString().replace('"records_unreadable":120', '"records_unreadable":12')).toString('base64');
    assert.equal(await opensslVerifies(receipt, forged), false, 'an edited receipt fails');

    // The audit event the receipt names records the erasure with the same facts.
    await t.vault.audit.sequenced();
    const [event] = (await t.vault.audit.query({ action: 'employee.erase', decision: 'allow', limit: 1 })).events;
    assert.equal(event!.event_id, receipt.receipt.audit_event_id);
    assert.equal(event!.details.erasure_id, receipt.receipt.erasure_id);
    assert.equal(event!.record_count, 120);

    // The other instance drops alice's key from its cache within a second.
    while (second.vault.keyRing.cachedKeyCount >= cachedBefore) {
      assert.ok(Date.now() - erasedAt < 1000, 'the second instance forgot the key within 1 s');
      await new Promise((resolve) => setTimeout(resolve, 10));
    }

    // The rows are still there (deletion runs in the background), and no path opens them.
    assert.equal(await aliceRows(), 120);
    for (const vault of [t, second]) {
      const lines = await streamLines(vault, datasetId);
      assert.equal(lines.length, 120);
      assert.ok(lines.every((l) => l.payload.text.startsWith('bob typed')));
    }
    const pages = (await t.vault.audit.query({ action: 'dataset.stream', limit: 1 })).events;
    assert.equal((pages[0]!.details.skipped as { erased: number }).erased, 120, 'the stream counts what it skipped');
  });

  it('leaves no key that decrypts a record of theirs, not even with the KEK in hand', async () => {
    const keys = await t.database.db.selectFrom('employee_data_keys').selectAll().where('employee_id', '=', 'alice').execute();
    assert.ok(keys.length > 0 && keys.every((k) => k.wrapped_key === null && k.destroyed_at !== null));
    const opened = await decryptStored(t.vault, aliceIds);
    assert.ok([...opened.values()].every((v) => v instanceof Error));
    assert.ok(!(await dumpAllTablesAsText(t.database.db)).includes(aliceWrappedKey), 'the wrapped key bytes are gone from every table');
    // Every wrapped key left in the store, tried against alice's records: none opens one.
    const rows = await t.database.db.selectFrom('activity_records').selectAll().where('employee_id', '=', 'alice').limit(5).execute();
    const live = await t.database.db.selectFrom('employee_data_keys').selectAll().where('wrapped_key', 'is not', null).execute();
    for (const row of rows) {
      for (const k of live) {
        const attempt = t.vault.keyRing
          .unwrapDataKey({ employeeId: 'alice', dekVersion: row.dek_version, wrappedKey: k.wrapped_key! })
          .then((key) => t.vault.keyRing.decryptRecord(key, { eventId: row.event_id, employeeId: 'alice', orgUnit: row.org_unit, kind: row.kind, capturedAt: row.captured_at, sensitivity: row.sensitivity, dekVersion: row.dek_version, categories: row.categories }, row.envelope));
        await assert.rejects(attempt);
      }
    }
    // A destroyed key cannot be written back, even by the vault's own role.
    await assert.rejects(sql`update employee_data_keys set wrapped_key = '\\x00'::bytea, destroyed_at = null where employee_id = 'alice'`.execute(t.database.db));
  });

  it("gives the employee's own copy nothing of theirs, refuses new records, and is idempotent", async () => {
    const own = await call('GET', '/v1/employees/alice/records', officer);
    assert.equal(own.statusCode, 200);
    assert.equal(own.body, '');
    const ingest = (await postRecords(t, makeRecords(3, ['alice'], 'after erasure'))).json();
    assert.equal(ingest.accepted, 0);
    assert.ok(ingest.dropped.every((d: { reason: string }) => d.reason === 'not_enrolled'));

    const again = await call('POST', '/v1/employees/alice/erase', officer);
    assert.equal(again.statusCode, 200);
    assert.deepEqual(again.json().receipt.key_versions_destroyed, []);
    assert.deepEqual(again.json().receipt.key_versions_destroyed_before, [1]);
    assert.equal(again.json().receipt.records_unreadable, 0);
    assert.ok(await opensslVerifies(again.json()));
  });

  it('deletes the rows in the background and the access report still lists who read them', async () => {
    const deleted = await t.vault.erasures.deleteShreddedRows();
    assert.equal(deleted, 120);
    assert.equal(await aliceRows(), 0);
    assert.equal(await t.vault.erasures.deleteShreddedRows(), 0, 'nothing is left pending');
    const progress = await t.database.db.selectFrom('employee_erasures').select(['rows_deleted', 'rows_deleted_at']).where('employee_id', '=', 'alice').execute();
    assert.equal(progress.reduce((n, p) => n + Number(p.rows_deleted), 0), 120);
    assert.ok(progress.every((p) => p.rows_deleted_at !== null));
    const report = (await call('GET', '/v1/employees/alice/access-report', officer)).json();
    assert.equal(report.datasets.length, 1);
    assert.equal(report.datasets[0].dataset_id, datasetId);
    assert.equal(report.datasets[0].records_of_employee, 120);
    assert.equal(report.summary.records, 0);
  });

  it('keeps an erased employee out of a roster sync until a consent dated after the erasure re-enrols them under a new key', async () => {
    const sync = await t.app.inject({
      method: 'PUT',
      url: '/v1/employees',
      headers: { authorization: `Bearer ${officer}` },
      payload: { employees: [{ employee_id: 'alice', org_unit: 'engineering', region: 'eu-west', enrolled: true }] },
    });
    assert.equal(sync.statusCode, 200, sync.body);
    assert.deepEqual(sync.json().erased_not_reenrolled, ['alice']);
    assert.equal((await postRecords(t, makeRecords(2, ['alice'], 'still erased'))).json().accepted, 0);

    const consent = { manifest_version: 1, consented_at: new Date().toISOString() };
    const reenrol = await t.app.inject({
      method: 'PUT',
      url: '/v1/employees',
      headers: { authorization: `Bearer ${officer}` },
      payload: { employees: [{ employee_id: 'alice', org_unit: 'engineering', region: 'eu-west', enrolled: true, consent }] },
    });
    assert.equal(reenrol.statusCode, 200, reenrol.body);
    assert.deepEqual(reenrol.json().erased_not_reenrolled, []);
    const fresh = makeRecords(5, ['alice'], 'after re-enrolment');
    assert.equal((await postRecords(t, fresh)).json().accepted, 5);
    const versions = await t.database.db.selectFrom('employee_data_keys').select(['dek_version', 'wrapped_key']).where('employee_id', '=', 'alice').orderBy('dek_version').execute();
    assert.deepEqual(versions.map((v) => [v.dek_version, v.wrapped_key !== null]), [[1, false], [2, true]], 'a new key under the next version; the old stays destroyed');
    const opened = await decryptStored(t.vault, fresh.map((r) => r.event_id));
    assert.ok([...opened.values()].every((v) => typeof v === 'string' && v.includes('after re-enrolment')));
    const mine = await call('GET', '/v1/employees/alice/records', await t.token('employee', { sub: 'alice' }));
    assert.equal(mine.body.split('\n').filter(Boolean).length, 5);
  });

  it("waits for a page reading the employee's keys, and a page after it finds none", async () => {
    const [key] = await t.database.db.selectFrom('employee_data_keys').select('dek_version').where('employee_id', '=', 'bob').where('wrapped_key', 'is not', null).execute();
    const used = [{ employeeId: 'bob', dekVersion: key!.dek_version }];
    let release: () => void = () => {};
    const held = new Promise<void>((resolve) => (release = resolve));
    let keysSeen = -1;
    // A page in flight: it has read bob's key and not committed yet.
    const page = inTransaction(t.database, async (trx) => {
      keysSeen = (await employeeKeyStates(trx, used)).get('bob')!.keys.size;
      await held;
    });
    while (keysSeen < 0) await new Promise((resolve) => setTimeout(resolve, 5));
    let erased = false;
    const erasure = call('POST', '/v1/employees/bob/erase', officer).then((r) => ((erased = true), r));
    await new Promise((resolve) => setTimeout(resolve, 300));
    assert.equal(erased, false, 'the erasure waits for the page to finish');
    release();
    await page;
    assert.equal((await erasure).statusCode, 200);
    assert.equal(keysSeen, 1);
    const after = await inTransaction(t.database, (trx) => employeeKeyStates(trx, used));
    assert.equal(after.get('bob')!.keys.size, 0, 'a page after the erasure finds no key');
  });
});
