import assert from 'node:assert/strict';
import fs from 'node:fs/promises';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import { createLocalJWKSet, jwtVerify } from 'jose';
import { loadDevSigningKey } from '../../src/auth/index.js';
import { loadConfig } from '../../src/config/index.js';
import { migrateDatabase, openDatabase } from '../../src/db/index.js';
import { openVault } from '../../src/main.js';
import { localOperator } from '../../src/cli/output.js';
import { freshDatabase, STORE, type FreshDatabase } from '../support/database.js';
import { cli } from '../support/cli.js';
import { makeRecords, tempDir } from '../support/vault.js';

describe(`activity-vault CLI (${STORE})`, () => {
  let dataDir: string;
  let fresh: FreshDatabase | undefined;
  let env: Record<string, string | undefined>;

  before(async () => {
    dataDir = await tempDir();
    fresh = STORE === 'postgres' ? await freshDatabase() : undefined;
    env = { VAULT_DATA_DIR: dataDir, VAULT_DATABASE_URL: fresh?.url };
    const config = loadConfig(env);
    const database = fresh?.database ?? (await openDatabase({ dataDir }));
    if (!fresh) await migrateDatabase(database);
    const vault = await openVault(config, { database });
    await vault.services.roster.upsert(localOperator('privacy-officer'), { employees: [{ employee_id: 'cli-1', org_unit: 'u1', region: 'eu', enrolled: true }] });
    await vault.close();
    if (!fresh) await database.close();
  });
  after(async () => {
    await fresh?.drop();
    await fs.rm(dataDir, { recursive: true, force: true });
  });

  it('exits 0 for --help, 2 for bad usage', async () => {
    assert.equal((await cli(['--help'], env)).code, 0);
    assert.equal((await cli(['ingest', '--help'], env)).code, 0);
    assert.equal((await cli(['no-such-command'], env)).code, 2);
    assert.equal((await cli(['token', 'mint', '--role', 'auditor'], env)).code, 2);
    assert.equal((await cli(['token', 'mint', '--sub', 'a', '--role', 'emperor'], env)).code, 2);
  });

  it('migrate is idempotent', async () => {
    const run = await cli(['migrate', '--json'], env);
    assert.equal(run.code, 0, run.stderr);
    assert.deepEqual(JSON.parse(run.stdout), { applied: [] });
  });

  it('mints a development token that the vault accepts, and refuses in production', async () => {
    const run = await cli(['token', 'mint', '--sub', 'job-1', '--role', 'training-job', '--team', 'team-a', '--purpose', 'autocomplete', '--json'], env);
    assert.equal(run.code, 0, run.stderr);
    const { token } = JSON.parse(run.stdout);
    const { payload } = await jwtVerify(token, createLocalJWKSet((await loadDevSigningKey(dataDir)).jwks), { issuer: 'activity-vault', audience: 'activity-vault' });
    assert.deepEqual([payload.sub, payload.roles, payload.teams, payload.purpose], ['job-1', ['training-job'], ['team-a'], 'autocomplete']);
    assert.ok(typeof payload.exp === 'number' && typeof payload.jti === 'string');
    const prod = await cli(['token', 'mint', '--sub', 'x', '--role', 'auditor'], { ...env, VAULT_ENV: 'production', VAULT_JWKS_FILE: '/nonexistent', VAULT_JWT_ISSUER: 'idp', VAULT_KEK_FILE: '/nonexistent' });
    assert.equal(prod.code, 1);
  });

  it('ingests an NDJSON file, reporting bad lines by number, and exits 1 when some were rejected', async () => {
    const file = path.join(dataDir, 'records.ndjson');
    const records = makeRecords(1200, ['cli-1'], 'from-file');
    const lines = records.map((r) => JSON.stringify(r));
    lines.splice(10, 0, '{"this is": not json');
    lines.splice(500, 0, JSON.stringify({ ...records[0], event_id: 'nope' }));
    await fs.writeFile(file, `${lines.join('\n')}\n`);
    const run = await cli(['ingest', file, '--json'], env);
    assert.equal(run.code, 1, run.stderr);
    const summary = JSON.parse(run.stdout);
    assert.equal(summary.lines, 1202);
    assert.equal(summary.accepted, 1200);
    assert.deepEqual(summary.rejected.map((r: { line: number }) => r.line), [11, 501]);
    const again = await cli(['ingest', file, '--json'], env);
    assert.equal(JSON.parse(again.stdout).duplicates, 1200);
  });

  it('reports key status', async () => {
    const run = await cli(['keys', 'status', '--json'], env);
    assert.equal(run.code, 0, run.stderr);
    const status = JSON.parse(run.stdout);
    assert.match(status.kek_id, /^local:[0-9a-f]{16}$/);
    assert.deepEqual(status.keks_held, [status.kek_id]);
    assert.ok(status.live_keys >= 1, 'a key per month of the employee\'s records');
    assert.deepEqual(Object.keys(status.live_keys_by_kek), [status.kek_id]);
    assert.equal(status.rotation, null);
  });

  it('refuses to start with a KEK other than the one the store was created with, and says so', async () => {
    const wrongKek = path.join(await tempDir(), 'other-kek.bin');
    await fs.writeFile(wrongKek, Buffer.alloc(32, 7), { mode: 0o600 });
    const run = await cli(['keys', 'status'], { ...env, VAULT_KEK_FILE: wrongKek });
    assert.equal(run.code, 1);
    assert.match(run.stderr, /wrapped under another KEK \(local:[0-9a-f]{16}\); the KEK in use is local:[0-9a-f]{16}: point VAULT_KEK_FILE at the KEK this store was created with \(key_unavailable\)/);
  });
});
