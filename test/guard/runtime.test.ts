import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { after, before, describe, it } from 'node:test';
import { sql } from 'kysely';
import { STORE } from '../support/database.js';
import { buildTestBundle, installBundle, newSigningKey, trustedKeysFile, type SigningKey } from '../support/policies.js';
import { postRecords, putRoster, startTestVault, type TestVault } from '../support/vault.js';

const GRANTS = {
  'team-a': { org_units: ['u0'], kinds: ['click'], max_sensitivity: 1, purposes: ['pa'] },
  'team-big': { org_units: ['big'], kinds: ['click'], max_sensitivity: 1, purposes: ['pb'] },
};
const WINDOW = { from: new Date(Date.now() - 7 * 86_400_000).toISOString(), to: new Date(Date.now() + 60_000).toISOString() };

describe(`the guard at run time (${STORE})`, () => {
  let t: TestVault;
  let key: SigningKey;

  const install = async (revision: string, grants: object) => installBundle(t, await buildTestBundle({ key, revision, data: { grants } }), revision);
  const job = (team: string, purpose: string) => t.token('training-job', { sub: `job-${team}`, teams: [team], purpose });

  before(async () => {
    key = await newSigningKey();
    t = await startTestVault({ env: { VAULT_BUNDLE_KEYS_FILE: await trustedKeysFile(key) } });
    // 100 employees: u0..u9 hold 7 each, "big" holds 30 for now.
    const roster = [
      ...Array.from({ length: 70 }, (_, i) => ({ employee_id: `e${i}`, org_unit: `u${i % 10}` })),
      ...Array.from({ length: 30 }, (_, i) => ({ employee_id: `b${i}`, org_unit: 'big' })),
    ];
    await putRoster(t, roster);
    const records = roster.map((e) => ({ event_id: randomUUID(), employee_id: e.employee_id, captured_at: new Date(Date.now() - 86_400_000).toISOString(), kind: 'click', payload: { x: 1 } }));
    assert.equal((await postRecords(t, records)).json().accepted, 100);
    // A reorg moves 29 of them out: on the roster "big" is 1% now, but its records are still 30 people's.
    await putRoster(t, Array.from({ length: 29 }, (_, i) => ({ employee_id: `b${i + 1}`, org_unit: `u${i % 10}` })));
    await install('runtime-1', GRANTS);
  });
  after(() => t?.close());

  it('a lease granted under one revision stops streaming once a revision without that grant is in force', async () => {
    const token = await job('team-a', 'pa');
    const granted = await t.app.inject({ method: 'POST', url: '/v1/datasets', headers: { authorization: `Bearer ${token}` }, payload: { purpose: 'pa', ...WINDOW } });
    assert.equal(granted.statusCode, 201, granted.body);
    const lease = granted.json();
    assert.equal((await t.app.inject({ url: `/v1/datasets/${lease.dataset_id}/records`, headers: { authorization: `Bearer ${token}` } })).statusCode, 200);

    await install('runtime-2', { 'team-big': GRANTS['team-big'] });
    const refused = await t.app.inject({ url: `/v1/datasets/${lease.dataset_id}/records`, headers: { authorization: `Bearer ${token}` } });
    assert.equal(refused.statusCode, 403);
    // The policy in force is asked again first (issue 11): it no longer grants the lease, which ends for good.
    assert.equal(refused.json().error, 'lease_revoked');
    const { events } = await t.vault.audit.query({ action: 'dataset.stream', decision: 'deny', limit: 1 });
    assert.equal(events[0]!.details.reason, 'lease_revoked');
    assert.equal(events[0]!.details.lease_revision, 'runtime-1');
    assert.equal(events[0]!.policy_revision, 'runtime-2');
    await install('runtime-3', GRANTS);
    const again = await t.app.inject({ url: `/v1/datasets/${lease.dataset_id}/records`, headers: { authorization: `Bearer ${token}` } });
    assert.equal(again.json().error, 'lease_revoked', 'a later revision that grants it again does not bring it back');
  });

  it("counts the employees a unit's records reach, not only who the roster puts there now", async () => {
    const token = await job('team-big', 'pb');
    const after = await t.app.inject({ method: 'POST', url: '/v1/datasets', headers: { authorization: `Bearer ${token}` }, payload: { purpose: 'pb', ...WINDOW } });
    assert.equal(after.statusCode, 403, after.body);
    assert.equal(after.json().error, 'scope_too_wide');
    const { events } = await t.vault.audit.query({ action: 'policy.decision', decision: 'deny', limit: 1 });
    assert.equal(events[0]!.details.reasons && (events[0]!.details.reasons as string[])[0], 'records_reach_too_wide');
    const leases = await sql<{ n: number }>`select count(*)::int as n from dataset_leases where 'team-big' = any(teams)`.execute(t.database.db);
    assert.equal(leases.rows[0]!.n, 0, 'the refused lease was rolled back');
  });
});
