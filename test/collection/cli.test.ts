import assert from 'node:assert/strict';
import fs from 'node:fs/promises';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import { cli } from '../support/cli.js';
import { STORE } from '../support/database.js';
import { listenUrl, putRoster, startTestVault, type TestVault } from '../support/vault.js';

describe(`the collection controls from the command line (${STORE})`, () => {
  let t: TestVault;
  let url: string;

  before(async () => {
    t = await startTestVault();
    await putRoster(t, [{ employee_id: 'dana', org_unit: 'engineering' }]);
    url = await listenUrl(t);
  });
  after(() => t.close());

  const as = async (role: Parameters<TestVault['token']>[0], sub?: string) => ({ VAULT_URL: url, VAULT_TOKEN: await t.token(role, sub ? { sub } : {}) });

  it('pauses, resumes and opts an employee out with their own token', async () => {
    const dana = await as('employee', 'dana');
    const paused = await cli(['employee', 'pause', 'dana', '--minutes', '45', '--json'], dana);
    assert.equal(paused.code, 0, paused.stderr);
    assert.equal(JSON.parse(paused.stdout).paused, true);
    assert.match((await cli(['employee', 'resume', 'dana'], dana)).stdout, /dana: capturing/);
    assert.match((await cli(['employee', 'opt-out', 'dana'], dana)).stdout, /opted out/);
    assert.match((await cli(['employee', 'opt-in', 'dana'], dana)).stdout, /dana: capturing/);
    assert.equal((await cli(['employee', 'pause', 'dana', '--minutes', '500'], dana)).code, 2, 'a bad length is bad usage');
    assert.equal((await cli(['employee', 'pause', 'someone-else'], dana)).code, 1, 'another employee is refused');
    assert.match((await cli(['employee', 'consent', 'dana'], dana)).stdout, /consented to manifest version 1/);
  });

  it('pulls the kill switch and the export freeze, and a second person ends the freeze', async () => {
    const admin = await as('security-admin', 'admin-a');
    const other = await as('privacy-officer', 'dpo-b');
    assert.equal((await cli(['program', 'pause'], admin)).code, 2, '--reason is required');
    const paused = await cli(['program', 'pause', '--reason', 'drill'], admin);
    assert.equal(paused.code, 0, paused.stderr);
    assert.match(paused.stdout, /collection: PAUSED since .* by admin-a: drill/);
    assert.match((await cli(['program', 'resume', '--reason', 'drill over'], admin)).stdout, /collection: running/);
    assert.match((await cli(['program', 'freeze', '--reason', 'bad grant?'], admin)).stdout, /exports: PAUSED/);
    const asked = await cli(['program', 'resume', '--exports', '--reason', 'grant fixed'], admin);
    assert.match(asked.stdout, /a second person must run the same command/);
    assert.equal((await cli(['program', 'resume', '--exports', '--reason', 'again'], admin)).code, 1);
    const confirmed = await cli(['program', 'resume', '--exports', '--reason', 'reviewed', '--json'], other);
    assert.equal(confirmed.code, 0, confirmed.stderr);
    assert.equal(JSON.parse(confirmed.stdout).exports.paused, false);
    assert.match((await cli(['program', 'status'], await as('auditor'))).stdout, /collection: running\nexports: running/);
  });

  it('shows the manifest in plain language and pushes a new version', async () => {
    const shown = await cli(['collection', 'manifest', 'show'], await as('employee', 'dana'));
    assert.equal(shown.code, 0, shown.stderr);
    assert.match(shown.stdout, /^Collection manifest version 1: the program collects /);
    const file = path.join(t.dataDir, 'manifest.json');
    await fs.writeFile(file, JSON.stringify({ kinds: { click: { purposes: ['ai-agent-training'], retention_days: 30 } } }));
    const officer = await as('privacy-officer');
    assert.equal((await cli(['collection', 'manifest', 'push', file, '--base-version', '7'], officer)).code, 1, 'a stale base version is a conflict');
    const pushed = await cli(['collection', 'manifest', 'push', file, '--base-version', '1'], officer);
    assert.equal(pushed.code, 0, pushed.stderr);
    assert.match(pushed.stdout, /version 2 in force/);
    await fs.writeFile(file, '{not json');
    assert.equal((await cli(['collection', 'manifest', 'push', file], officer)).code, 2);
  });
});
