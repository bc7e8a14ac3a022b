import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import { sql } from 'kysely';
import { loadConfig } from '../../src/config/index.js';
import type { Db } from '../../src/db/index.js';
import { openVault, type Vault } from '../../src/main.js';
import { cli } from '../support/cli.js';
import { freshDatabase, STORE, type FreshDatabase } from '../support/database.js';
import { decryptStored } from '../support/records.js';
import { keyProviderEnv, postRecords, putRoster, startTestVault, tempDir, TEST_RECORD_KINDS, type TestVault } from '../support/vault.js';

/** The local provider keeps its KEKs in files, which these tests look at; a token's are checked through the provider. */
const LOCAL = process.env.VAULT_KEY_PROVIDER !== 'pkcs11';

/** Every wrapped blob the store holds, with the KEK that wrapped it. */
async function wrappedBlobs(vault: Vault): Promise<Array<{ what: string; kek: string }>> {
  const db: Db = vault.database.db;
  const keys = await db.selectFrom('employee_data_keys').select(['employee_id', 'dek_version', 'wrapped_key', 'kek_id']).where('wrapped_key', 'is not', null).execute();
  const secrets = await db.selectFrom('vault_secrets').select(['name', 'wrapped', 'kek_id']).execute();
  const leases = await db.selectFrom('dataset_leases').select(['dataset_id', 'pseudonym_key']).execute();
  const blobs: Array<{ what: string; kek: string }> = [];
  for (const k of keys) {
    blobs.push({ what: `key ${k.employee_id} v${k.dek_version} (blob)`, kek: vault.keyRing.kekOf(k.wrapped_key!) });
    blobs.push({ what: `key ${k.employee_id} v${k.dek_version} (column)`, kek: k.kek_id });
  }
  for (const s of secrets) blobs.push({ what: `secret ${s.name}`, kek: vault.keyRing.kekOf(s.wrapped) }, { what: `secret ${s.name} (column)`, kek: s.kek_id });
  for (const l of leases) blobs.push({ what: `lease ${l.dataset_id}`, kek: vault.keyRing.kekOf(l.pseudonym_key) });
  return blobs;
}

function records(employees: readonly string[], months: number, tag: string) {
  const out = [];
  for (const employee of employees) {
    for (let m = 0; m < months; m++) {
      out.push({ event_id: randomUUID(), employee_id: employee, captured_at: new Date(Date.UTC(2026, 10 - m, 15, 12)).toISOString(), kind: 'keystroke', payload: { text: `${tag} ${employee} month ${m}` } });
    }
  }
  return out;
}

describe(`KEK rotation while the vault serves (${STORE})`, () => {
  let t: TestVault;
  let second: TestVault;
  const sent: string[] = [];

  before(async () => {
    t = await startTestVault({ env: { VAULT_MAINTENANCE_SECONDS: '3600', VAULT_KEY_ROTATION_BATCH: '25' } });
    second = await startTestVault({ database: t.database, dataDir: t.dataDir, env: { VAULT_MAINTENANCE_SECONDS: '3600' } });
    const employees = Array.from({ length: 40 }, (_, i) => `r${i}`);
    await putRoster(t, [...employees.map((e) => ({ employee_id: e, org_unit: 'engineering' })), ...Array.from({ length: 200 }, (_, i) => ({ employee_id: `o${i}`, org_unit: `unit-${i % 10}` }))]);
    const batch = records(employees, 3, 'before');
    assert.equal((await postRecords(t, batch)).json().accepted, batch.length);
    sent.push(...batch.map((r) => r.event_id));
  });
  after(async () => {
    await second.close();
    await t.close();
  });

  it('rewraps every data key, vault secret and lease secret under a new KEK while ingest and streams go on, and retires the old one', async () => {
    const admin = await t.token('security-admin');
    const job = await t.token('training-job', { sub: 'job-r', teams: ['team-autocomplete'], purpose: 'autocomplete-model' });
    const lease = await t.app.inject({
      method: 'POST',
      url: '/v1/datasets',
      headers: { authorization: `Bearer ${job}` },
      payload: { purpose: 'autocomplete-model', kinds: ['keystroke'], org_units: ['engineering'], from: '2026-08-01T00:00:00Z', to: '2026-12-01T00:00:00Z' },
    });
    assert.equal(lease.statusCode, 201, lease.body);
    const oldKek = t.vault.keyRing.kekId;

    const started = await t.app.inject({ method: 'POST', url: '/v1/keys/rotate', headers: { authorization: `Bearer ${admin}` } });
    assert.equal(started.statusCode, 202, started.body);
    // The vault serves throughout: records of new months (new keys) and of months with keys, on both instances.
    let round = 0;
    for (;;) {
      const more = records(['r1', 'r2'], 4, `during ${round++}`);
      const result = (await postRecords(round % 2 ? second : t, more)).json();
      assert.equal(result.accepted, more.length, JSON.stringify(result));
      sent.push(...more.map((r) => r.event_id));
      const status = (await t.app.inject({ url: '/v1/keys/status', headers: { authorization: `Bearer ${admin}` } })).json();
      if (status.rotation?.finished_at) break;
      await new Promise((resolve) => setTimeout(resolve, 50));
    }
    const status = (await t.app.inject({ url: '/v1/keys/status', headers: { authorization: `Bearer ${await t.token('auditor')}` } })).json();
    const newKek = status.kek_id;
    assert.notEqual(newKek, oldKek);
    assert.deepEqual(status.keks_held, [newKek]);
    assert.deepEqual(Object.keys(status.live_keys_by_kek), [newKek]);
    assert.equal(status.rotation.to_kek, newKek);
    assert.deepEqual(status.rotation.from_keks, [oldKek]);
    assert.ok(status.rotation.keys_rewrapped >= 120);

    const blobs = await wrappedBlobs(t.vault);
    assert.deepEqual(blobs.filter((b) => b.kek !== newKek), [], 'no wrapped key remains under the old KEK');
    // The old KEK is gone: the KEK file now holds the new one, and nothing else is beside it.
    if (LOCAL) assert.ok(!fs.existsSync(`${t.config.kekFile}.next`));
    const opened = await decryptStored(t.vault, sent);
    assert.equal([...opened.values()].filter((v) => typeof v === 'string').length, sent.length, 'every record still decrypts');
    const streamed = await t.app.inject({ url: `/v1/datasets/${lease.json().dataset_id}/records`, headers: { authorization: `Bearer ${job}` } });
    assert.equal(streamed.statusCode, 200);
    assert.equal(streamed.body.split('\n').filter(Boolean).length, 120, 'a lease granted before still streams');

    // The other instance let the old KEK go as well.
    const deadline = Date.now() + 2000;
    while (second.vault.keyRing.kekIds().join() !== newKek) {
      assert.ok(Date.now() < deadline, 'the second instance dropped the old KEK');
      await new Promise((resolve) => setTimeout(resolve, 20));
    }
    await t.vault.audit.sequenced();
    const steps = (await t.vault.audit.query({ action: 'keys.rotate', limit: 5 })).events.map((e) => e.details.step);
    assert.deepEqual(steps, ['finished', 'started']);
  });

  it('refuses a key, a vault secret or a lease secret wrapped under any other KEK while a rotation runs', async () => {
    await t.database.db.insertInto('kek_rotations').values({ rotation_id: randomUUID(), to_kek: 'local:0000000000000000', from_keks: [], started_by: 'test' }).execute();
    try {
      await assert.rejects(
        sql`update employee_data_keys set kek_id = 'local:1111111111111111' where employee_id = 'r0'`.execute(t.database.db),
        /a KEK rotation to local:0000000000000000 is running/,
      );
      // An instance that has not heard of the rotation: its lease secret is refused, the request is a 503 and no lease is stored.
      const job = await t.token('training-job', { sub: 'job-fence', teams: ['team-autocomplete'], purpose: 'autocomplete-model' });
      const leasesBefore = (await t.database.db.selectFrom('dataset_leases').select('dataset_id').execute()).length;
      const refused = await t.app.inject({
        method: 'POST',
        url: '/v1/datasets',
        headers: { authorization: `Bearer ${job}` },
        payload: { purpose: 'autocomplete-model', kinds: ['keystroke'], org_units: ['engineering'], from: '2026-08-01T00:00:00Z', to: '2026-12-01T00:00:00Z' },
      });
      assert.equal(refused.statusCode, 503, refused.body);
      assert.equal((await t.database.db.selectFrom('dataset_leases').select('dataset_id').execute()).length, leasesBefore);
      // And a record of a new month, whose key would be new, waits for the rotation too.
      const late = await postRecords(t, [{ event_id: randomUUID(), employee_id: 'r5', captured_at: '2025-12-15T12:00:00.000Z', kind: 'keystroke', payload: { text: 'x' } }]);
      assert.equal(late.statusCode, 503, late.body);
    } finally {
      await sql`update kek_rotations set finished_at = now() where to_kek = 'local:0000000000000000'`.execute(t.database.db);
    }
  });
});

describe(`KEK rotation survives kill -9 (${STORE})`, { timeout: 5 * 60_000 }, () => {
  let fresh: FreshDatabase | undefined;
  let dataDir: string;
  let env: Record<string, string>;
  const sent: string[] = [];

  before(async () => {
    dataDir = await tempDir();
    fresh = STORE === 'postgres' ? await freshDatabase() : undefined;
    await fresh?.database.close();
    env = { VAULT_DATA_DIR: dataDir, VAULT_RECORD_KINDS: TEST_RECORD_KINDS, VAULT_MAINTENANCE_SECONDS: '3600', VAULT_KEY_ROTATION_BATCH: '20', ...keyProviderEnv(dataDir), ...(fresh?.url ? { VAULT_DATABASE_URL: fresh.url } : {}) };
    if (fresh) assert.equal((await cli(['migrate'], env)).code, 0);
    const vault = await openVault(loadConfig(env));
    try {
      const actor = { sub: 'seed', roles: ['privacy-officer'], teams: [], purpose: undefined, jti: undefined };
      const employees = Array.from({ length: 100 }, (_, i) => `k${i}`);
      await vault.services.roster.upsert(actor, { employees: employees.map((e) => ({ employee_id: e, org_unit: 'engineering', region: 'eu', enrolled: true })) });
      const batch = records(employees, 12, 'seed');
      const result = await vault.services.ingest.ingest(batch, { ...actor, roles: ['ingest-agent'] });
      assert.equal(result.accepted, batch.length);
      sent.push(...batch.map((r) => r.event_id));
    } finally {
      await vault.close();
    }
  });
  after(async () => {
    await fresh?.drop().catch(() => {});
    fs.rmSync(dataDir, { recursive: true, force: true });
  });

  it('killed half-way, resumes where it stopped: every record still decrypts and no wrapped key remains under the old KEK', async () => {
    const oldKekFile = LOCAL ? fs.readFileSync(path.join(dataDir, 'kek.bin')) : undefined;
    const child = spawn(process.execPath, ['--import', 'tsx', path.resolve('src/cli/bin.ts'), 'keys', 'rotate'], {
      env: { PATH: process.env.PATH, HOME: process.env.HOME, ...env },
      stdio: ['ignore', 'ignore', 'pipe'],
    });
    // Kill the process at its first progress line: some keys, not all, are rewrapped.
    await new Promise<void>((resolve, reject) => {
      let seen = '';
      child.stderr!.on('data', (chunk: Buffer) => {
        seen += chunk.toString();
        if (/rewrapped \d+ data keys/.test(seen)) {
          child.kill('SIGKILL');
          resolve();
        }
      });
      child.once('exit', () => reject(new Error(`the rotation ended before it was killed: ${seen}`)));
    });
    await new Promise((resolve) => (child.exitCode !== null || child.signalCode !== null ? resolve(undefined) : child.once('exit', resolve)));
    if (LOCAL) assert.ok(fs.existsSync(path.join(dataDir, 'kek.bin.next')), 'the new KEK was durable before it wrapped anything');

    const status = await cli(['keys', 'status'], env);
    assert.equal(status.code, 0, status.stderr);
    const running = /ROTATION RUNNING .*: (\d+) keys rewrapped, (\d+) to go/.exec(status.stdout);
    assert.ok(running, status.stdout);
    assert.ok(Number(running[1]) > 0 && Number(running[2]) > 0, `killed half-way: ${running[0]}`);
    const resumed = await cli(['keys', 'rotate', '--json'], env);
    assert.equal(resumed.code, 0, resumed.stderr);
    const report = JSON.parse(resumed.stdout);
    assert.ok(report.keys_rewrapped >= 1200, 'the rotation counts every key, before and after the kill');

    // Opening the store at all proves the month ratchet was rewrapped: only the new KEK is left to open it.
    const vault = await openVault(loadConfig(env));
    try {
      assert.deepEqual(vault.keyRing.kekIds(), [report.to_kek]);
      assert.deepEqual((await wrappedBlobs(vault)).filter((b) => b.kek !== report.to_kek), []);
      if (oldKekFile) {
        assert.equal(vault.keyRing.kekOf(fs.readFileSync(path.join(dataDir, 'kek.bin.months'))), report.to_kek, 'the month ratchet is rewrapped too');
        assert.ok(!fs.readFileSync(path.join(dataDir, 'kek.bin')).equals(oldKekFile), 'the KEK file holds the new KEK');
        assert.ok(!fs.existsSync(path.join(dataDir, 'kek.bin.next')));
      }
      const opened = await decryptStored(vault, sent);
      assert.equal([...opened.values()].filter((v) => typeof v === 'string').length, sent.length, 'every record still decrypts');
    } finally {
      await vault.close();
    }
  });
});
