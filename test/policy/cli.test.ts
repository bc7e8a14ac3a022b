import assert from 'node:assert/strict';
import fs from 'node:fs/promises';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import { STORE } from '../support/database.js';
import { cli } from '../support/cli.js';
import { buildTestBundle, newSigningKey, opaBin, trustedKeysFile, type SigningKey } from '../support/policies.js';
import { listenUrl, startTestVault, tempDir, type TestVault } from '../support/vault.js';

describe('policy sources', () => {
  it('pass opa test on the Rego interpreter and on the wasm target with at least 90% line coverage', async () => {
    const run = await cli(['policy', 'test', '--json'], { VAULT_OPA_BIN: opaBin() });
    assert.equal(run.code, 0, run.stderr || run.stdout);
    const report = JSON.parse(run.stdout);
    assert.ok(report.passed.rego >= 20 && report.passed.wasm === report.passed.rego, JSON.stringify(report.passed));
    assert.ok(report.coverage >= 90, `coverage ${report.coverage}`);
  });

  it('match the committed default bundle (rebuilt from the sources)', async () => {
    const run = await cli(['policy', 'build', '--check', '--json'], { VAULT_OPA_BIN: opaBin(), VAULT_DATA_DIR: await tempDir() });
    assert.equal(run.code, 0, run.stdout + run.stderr);
    assert.deepEqual(JSON.parse(run.stdout).stale, []);
  });
});

describe(`the security team's CLI against a running vault (${STORE})`, () => {
  let key: SigningKey;
  let t: TestVault;
  let url: string;
  let env: Record<string, string>;
  let bundleFile: string;

  before(async () => {
    key = await newSigningKey();
    t = await startTestVault({ env: { VAULT_BUNDLE_KEYS_FILE: await trustedKeysFile(key) } });
    url = await listenUrl(t);
    env = { VAULT_URL: url, VAULT_TOKEN: await t.token('security-admin', { sub: 'sec-bob' }) };
    bundleFile = path.join(await tempDir(), 'bundle.tar.gz');
    await fs.writeFile(bundleFile, await buildTestBundle({ key, revision: 'cli-rev-1' }));
  });
  after(() => t.close());

  it('push stages, activate activates, list shows who did what', async () => {
    const push = await cli(['policy', 'push', bundleFile, '--json'], env);
    assert.equal(push.code, 0, push.stderr);
    assert.equal(JSON.parse(push.stdout).revision, 'cli-rev-1');
    const activate = await cli(['policy', 'activate', 'cli-rev-1'], env);
    assert.equal(activate.code, 0, activate.stderr);
    assert.match(activate.stdout, /active: cli-rev-1/);
    const list = await cli(['policy', 'list', '--json'], env);
    const listed = JSON.parse(list.stdout);
    assert.equal(listed.active, 'cli-rev-1');
    const row = listed.bundles.find((b: { revision: string }) => b.revision === 'cli-rev-1');
    assert.deepEqual([row.staged_by, row.activated_by], ['sec-bob', 'sec-bob']);
  });

  it('exits 1 with the reason when the vault refuses', async () => {
    const foreign = path.join(await tempDir(), 'foreign.tar.gz');
    await fs.writeFile(foreign, await buildTestBundle({ key: await newSigningKey(), revision: 'cli-foreign' }));
    const push = await cli(['policy', 'push', foreign], env);
    assert.equal(push.code, 1);
    assert.match(push.stderr, /\(bundle_rejected\)/);
    const noToken = await cli(['policy', 'list'], { VAULT_URL: url });
    assert.equal(noToken.code, 3);
    assert.match(noToken.stderr, /\(unauthenticated\)/);
    const wrongRole = await cli(['policy', 'list'], { VAULT_URL: url, VAULT_TOKEN: await t.token('ingest-agent') });
    assert.equal(wrongRole.code, 1);
    assert.match(wrongRole.stderr, /\(forbidden\)/);
  });
});
