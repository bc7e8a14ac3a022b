import assert from 'node:assert/strict';
import fs from 'node:fs/promises';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import { cli } from '../support/cli.js';
import { STORE } from '../support/database.js';
import { listenUrl, makeRecords, postRecords, putRoster, startTestVault, type TestVault } from '../support/vault.js';

describe(`the employee's rights from the command line (${STORE})`, () => {
  let t: TestVault;
  let url: string;

  before(async () => {
    t = await startTestVault({ env: { VAULT_MAINTENANCE_SECONDS: '3600' } });
    await putRoster(t, [
      { employee_id: 'erin', org_unit: 'engineering' },
      ...Array.from({ length: 20 }, (_, i) => ({ employee_id: `other-${i}`, org_unit: `unit-${i % 4}` })),
    ]);
    assert.equal((await postRecords(t, makeRecords(25, ['erin'], 'erin typed'))).json().accepted, 25);
    url = await listenUrl(t);
  });
  after(() => t.close());

  const as = async (role: Parameters<TestVault['token']>[0], sub?: string) => ({ VAULT_URL: url, VAULT_TOKEN: await t.token(role, sub ? { sub } : {}) });

  it("exports the employee's own copy to a file, and shows who could read them", async () => {
    const file = path.join(t.dataDir, 'mine.ndjson');
    const exported = await cli(['employee', 'export', 'erin', '--out', file], await as('employee', 'erin'));
    assert.equal(exported.code, 0, exported.stderr);
    assert.match(exported.stderr, /25 records written/);
    const lines = (await fs.readFile(file, 'utf8')).split('\n').filter(Boolean).map((l) => JSON.parse(l));
    assert.equal(lines.length, 25);
    assert.ok(lines.every((l) => String(l.payload.text).startsWith('erin typed')));
    assert.equal((await fs.stat(file)).mode & 0o777, 0o600);
    assert.equal((await cli(['employee', 'export', 'erin'], await as('employee', 'someone'))).code, 1, "another employee's copy is refused");

    const exposure = await cli(['employee', 'exposure', 'erin'], await as('employee', 'erin'));
    assert.equal(exposure.code, 0, exposure.stderr);
    assert.match(exposure.stdout, /team-autocomplete for autocomplete-model: keystroke, prompt up to level 2 in engineering/);
  });

  it('erases with a privacy officer token and writes a receipt openssl checks', async () => {
    assert.equal((await cli(['employee', 'erase', 'erin'], await as('employee', 'erin'))).code, 1, 'the employee cannot erase themselves here');
    const receiptFile = path.join(t.dataDir, 'receipt.json');
    const erased = await cli(['employee', 'erase', 'erin', '--receipt', receiptFile], await as('privacy-officer'));
    assert.equal(erased.code, 0, erased.stderr);
    assert.match(erased.stdout, /erin: erased at .*; key versions 1 destroyed, 25 records can never be opened again/);
    const receipt = JSON.parse(await fs.readFile(receiptFile, 'utf8'));
    assert.equal(receipt.receipt.records_unreadable, 25);
    const again = await cli(['employee', 'erase', 'erin', '--json'], await as('privacy-officer'));
    assert.deepEqual(JSON.parse(again.stdout).receipt.key_versions_destroyed, []);
    const empty = await cli(['employee', 'export', 'erin'], await as('privacy-officer'));
    assert.equal(empty.code, 0);
    assert.equal(empty.stdout, '');
  });
});
