import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { after, before, describe, it } from 'node:test';
import { findInvariantBreach } from '../../src/guard/index.js';
import { STORE } from '../support/database.js';
import { buildTestBundle, newSigningKey, stageBundle, approveBundle, activateBundle, trustedKeysFile } from '../support/policies.js';
import { postRecords, putRoster, startTestVault, type TestVault } from '../support/vault.js';

/** Hierarchical org units: each path is one unit, matched literally; a parent never includes its children. */
const ROSTER: Record<string, number> = { eng: 2, 'eng/ml': 3, 'eng/ml/research': 3, sales: 10, ops: 10, hr: 10, support: 10 };
const GRANTS = {
  'team-research': { org_units: ['eng/ml/research'], kinds: ['keystroke'], max_sensitivity: 2, purposes: ['research-model'] },
  'team-eng': { org_units: ['eng'], kinds: ['keystroke'], max_sensitivity: 2, purposes: ['eng-model'] },
};
const WINDOW = { from: '2026-11-01T00:00:00.000Z', to: '2026-11-30T00:00:00.000Z' };

describe(`org units as paths, matched literally, end to end (${STORE})`, () => {
  let t: TestVault;
  let access: { teams: Array<{ team: string; units_after: string[]; employees_after: number }>; violations: string[] };
  const employeesOf = (unit: string) => Array.from({ length: ROSTER[unit]! }, (_, i) => `${unit.replaceAll('/', '.')}-${i}`);
  const recordsPerEmployee = 4;

  before(async () => {
    const key = await newSigningKey();
    t = await startTestVault({ env: { VAULT_BUNDLE_KEYS_FILE: await trustedKeysFile(key) } });
    await putRoster(t, Object.keys(ROSTER).flatMap((unit) => employeesOf(unit).map((employee_id) => ({ employee_id, org_unit: unit }))));
    const bundle = await buildTestBundle({ key, revision: 'paths', data: { grants: GRANTS } });
    const staged = await stageBundle(t, bundle);
    assert.equal(staged.statusCode, 201, staged.body);
    access = staged.json().diff.access;
    assert.equal((await approveBundle(t, 'paths', 'bob')).statusCode, 200);
    const activated = await activateBundle(t, 'paths');
    assert.equal(activated.statusCode, 200, activated.body);

    const base = Date.parse('2026-11-10T00:00:00Z');
    const records = Object.keys(ROSTER).flatMap((unit) =>
      employeesOf(unit).flatMap((employee_id, e) =>
        Array.from({ length: recordsPerEmployee }, (_, k) => ({
          event_id: randomUUID(),
          employee_id,
          captured_at: new Date(base + (e * 10 + k) * 60_000).toISOString(),
          kind: 'keystroke',
          payload: { unit, text: `typed in ${unit} #${k}` },
        })),
      ),
    );
    assert.equal((await postRecords(t, records)).json().accepted, records.length);
  });
  after(() => t.close());

  const job = (team: keyof typeof GRANTS) => t.token('training-job', { sub: `job-${team}`, teams: [team], purpose: GRANTS[team].purposes[0]! });

  async function request(team: keyof typeof GRANTS, body: Record<string, unknown> = {}) {
    return t.app.inject({ method: 'POST', url: '/v1/datasets', headers: { authorization: `Bearer ${await job(team)}` }, payload: { purpose: GRANTS[team].purposes[0], ...WINDOW, ...body } });
  }

  async function streamedUnits(team: keyof typeof GRANTS, datasetId: string): Promise<string[]> {
    const response = await t.app.inject({ url: `/v1/datasets/${datasetId}/records`, headers: { authorization: `Bearer ${await job(team)}` } });
    assert.equal(response.statusCode, 200, response.body);
    return response.body.split('\n').filter(Boolean).map((line) => (JSON.parse(line) as { payload: { unit: string } }).payload.unit);
  }

  it('the roster takes paths and refuses malformed ones', async () => {
    for (const unit of ['eng//ml', 'eng/../hr', '/eng', 'eng/', 'eng/./ml', '..', 'eng ml', `a${'/b'.repeat(8)}`]) {
      const response = await t.app.inject({
        method: 'PUT',
        url: '/v1/employees',
        headers: { authorization: `Bearer ${await t.token('privacy-officer')}` },
        payload: { employees: [{ employee_id: 'bad-unit', org_unit: unit, region: 'eu', enrolled: true }] },
      });
      assert.equal(response.statusCode, 400, `org unit ${JSON.stringify(unit)}: ${response.body}`);
    }
  });

  it('the access diff counts each path as one unit: a grant of eng/ml/research reaches its 3 employees, a grant of eng only its 2', () => {
    const reach = Object.fromEntries(access.teams.map((r) => [r.team, [r.units_after, r.employees_after]]));
    assert.deepEqual(reach['team-research'], [['eng/ml/research'], 3]);
    assert.deepEqual(reach['team-eng'], [['eng'], 2]);
    assert.deepEqual(access.violations, []);
  });

  it('a dataset under a grant of eng/ml/research holds that unit only, not its parents', async () => {
    const response = await request('team-research');
    assert.equal(response.statusCode, 201, response.body);
    const lease = response.json();
    assert.deepEqual(lease.scope.org_units, ['eng/ml/research']);
    assert.equal(lease.employee_count, 3);
    assert.equal(lease.record_count, 3 * recordsPerEmployee);
    const units = await streamedUnits('team-research', lease.dataset_id);
    assert.equal(units.length, 3 * recordsPerEmployee);
    assert.deepEqual([...new Set(units)], ['eng/ml/research']);
  });

  it('a grant of eng does not include eng/ml or eng/ml/research', async () => {
    const response = await request('team-eng');
    assert.equal(response.statusCode, 201, response.body);
    const lease = response.json();
    assert.deepEqual(lease.scope.org_units, ['eng']);
    assert.equal(lease.record_count, 2 * recordsPerEmployee);
    assert.deepEqual([...new Set(await streamedUnits('team-eng', lease.dataset_id))], ['eng']);
    const child = await request('team-eng', { org_units: ['eng/ml'] });
    assert.equal(child.statusCode, 403, child.body);
    assert.ok(child.json().reasons.includes('org_unit_outside_grant'));
  });

  it('a request for the parent of a granted path is denied', async () => {
    const response = await request('team-research', { org_units: ['eng/ml'] });
    assert.equal(response.statusCode, 403, response.body);
    assert.equal(response.json().error, 'policy_denied');
  });

  it('the invariants treat each path as one unit: a parent grant does not contain a child scope, a path pattern contains nothing', () => {
    const roster = { enrolledByUnit: new Map(Object.entries(ROSTER)), totalEnrolled: 48 };
    const subject = { roles: ['training-job'], teams: ['team-x'], purpose: 'p' };
    const limits = (orgUnits: string[]) => ({ grants: { 'team-x': { org_units: orgUnits, kinds: ['keystroke'], max_sensitivity: 2, purposes: ['p'] } }, roster, maxScopeFraction: 0.2, requestPurpose: 'p' });
    const scope = { orgUnits: ['eng/ml/research'], kinds: ['keystroke'], maxSensitivity: 2 };
    assert.equal(findInvariantBreach(subject, scope, limits(['eng/ml/research'])), undefined);
    assert.equal(findInvariantBreach(subject, scope, limits(['eng']))?.reason, 'scope_outside_grant');
    assert.equal(findInvariantBreach(subject, scope, limits(['eng/ml']))?.reason, 'scope_outside_grant');
    assert.equal(findInvariantBreach(subject, { ...scope, orgUnits: ['eng/*'] }, limits(['eng/*']))?.reason, 'wildcard_scope');
    assert.equal(findInvariantBreach(subject, scope, limits(['eng/ml/research', 'eng/*']))?.reason, 'grant_too_wide', 'a grant naming a pattern serves nothing');
  });

  it("the access report of an employee of eng/ml/research lists the dataset that reached them; eng/ml's does not", async () => {
    const report = async (employee: string) =>
      (await t.app.inject({ url: `/v1/employees/${employee}/access-report`, headers: { authorization: `Bearer ${await t.token('auditor')}` } })).json() as { datasets: Array<{ teams: string[] }> };
    const research = await report(employeesOf('eng/ml/research')[0]!);
    assert.ok(research.datasets.some((d) => d.teams.includes('team-research')));
    const ml = await report(employeesOf('eng/ml')[0]!);
    assert.equal(ml.datasets.length, 0);
  });
});
