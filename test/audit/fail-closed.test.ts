import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { sql } from 'kysely';
import { STORE } from '../support/database.js';
import { buildTestBundle, newSigningKey, stageBundle, trustedKeysFile } from '../support/policies.js';
import { refuseAuditInserts } from '../support/audit.js';
import { countRows } from '../support/records.js';
import { makeRecords, postRecords, putRoster, startTestVault, type TestVault } from '../support/vault.js';

async function snapshot(t: TestVault) {
  await t.vault.audit.sequenced();
  const one = async (q: string) => (await sql<{ n: number }>`select count(*)::int as n from ${sql.raw(q)}`.execute(t.database.db)).rows[0]!.n;
  return { ...(await countRows(t.database.db)), events: await one('audit_events'), bundles: await one('policy_bundles'), activations: await one('policy_activations') };
}

describe(`no audit, no action (${STORE})`, () => {
  let t: TestVault;
  let revision: string;
  before(async () => {
    const key = await newSigningKey();
    t = await startTestVault({ env: { VAULT_BUNDLE_KEYS_FILE: await trustedKeysFile(key) } });
    await putRoster(t, [{ employee_id: 'fc-1', org_unit: 'u1' }]);
    revision = 'fail-closed-rev';
    const staged = await stageBundle(t, await buildTestBundle({ key, revision }));
    assert.equal(staged.statusCode, 201);
    await refuseAuditInserts(t, true);
  });
  after(async () => {
    await refuseAuditInserts(t, false);
    await t.close();
  });

  it('an ingest batch gets 503 and stores nothing', async () => {
    const before = await snapshot(t);
    const response = await postRecords(t, makeRecords(50, ['fc-1'], 'unaudited'));
    assert.equal(response.statusCode, 503);
    assert.equal(response.json().error, 'unavailable');
    assert.deepEqual(await snapshot(t), before);
  });

  it('a roster change gets 503 and changes nothing, no key created', async () => {
    const before = await snapshot(t);
    const response = await t.app.inject({
      method: 'PUT',
      url: '/v1/employees',
      headers: { authorization: `Bearer ${await t.token('privacy-officer')}` },
      payload: { employees: [{ employee_id: 'fc-2', org_unit: 'u1', region: 'eu', enrolled: true }, { employee_id: 'fc-1', org_unit: 'u9', region: 'eu', enrolled: false }] },
    });
    assert.equal(response.statusCode, 503);
    assert.deepEqual(await snapshot(t), before);
    const fc1 = await t.database.db.selectFrom('employees').select(['org_unit', 'enrolled']).where('employee_id', '=', 'fc-1').executeTakeFirst();
    assert.deepEqual(fc1, { org_unit: 'u1', enrolled: true });
  });

  it('a bundle activation gets 503 and the policy in force stays', async () => {
    const before = await snapshot(t);
    const revisionBefore = t.vault.policy.revision;
    const response = await t.app.inject({ method: 'POST', url: `/v1/policy/bundles/${revision}/activate`, headers: { authorization: `Bearer ${await t.token('security-admin')}` } });
    assert.equal(response.statusCode, 503);
    assert.deepEqual(await snapshot(t), before);
    await t.vault.policy.refresh();
    assert.equal(t.vault.policy.revision, revisionBefore);
  });

  it('works again, and the chain verifies, once the log accepts events', async () => {
    await refuseAuditInserts(t, false);
    assert.equal((await postRecords(t, makeRecords(5, ['fc-1'], 'audited'))).json().accepted, 5);
    assert.equal((await t.vault.audit.verify()).ok, true);
    await refuseAuditInserts(t, true);
  });
});
