import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { cli } from '../support/cli.js';

describe('activity-vault demo', () => {
  it('tells the whole story on a throwaway embedded vault in under a minute', async () => {
    const started = Date.now();
    const run = await cli(['demo', '--json'], { VAULT_DATABASE_URL: undefined });
    const seconds = (Date.now() - started) / 1000;
    assert.equal(run.code, 0, run.stderr);
    const summary = JSON.parse(run.stdout);
    assert.equal(summary.ingested, 4000);
    assert.deepEqual(summary.pause, { statusReason: 'paused', accepted: 1, dropped: ['paused', 'paused', 'paused', 'excluded_context'] });
    assert.equal(summary.markerFoundInStore, 0);
    assert.deepEqual(summary.granted.org_units, ['engineering']);
    assert.equal(summary.granted.employee_count, 10);
    assert.ok(summary.granted.record_count > 0);
    assert.equal(summary.streamed, summary.granted.record_count);
    assert.equal(summary.streamedOutsideGrant, 0);
    assert.equal(summary.denied.status, 403);
    assert.equal(summary.denied.error, 'policy_denied');
    assert.match(summary.denied.decision_id, /^[0-9a-f-]{36}$/);
    assert.deepEqual(summary.foreignStream, { status: 403, error: 'forbidden' });
    assert.ok(summary.auditIntact);
    assert.ok(seconds < 60, `demo took ${seconds.toFixed(1)} s`);
  });

  it('prints each step and the audit trail for a person', async () => {
    const run = await cli(['demo', '--records-per-employee', '5'], { VAULT_DATABASE_URL: undefined });
    assert.equal(run.code, 0, run.stderr);
    for (const heading of ['1. A privacy officer enrols', '3. team-autocomplete', '4. The same job asks', '6. The auditor reads the trail', '7. An engineer asks']) {
      assert.ok(run.stdout.includes(heading), heading);
    }
    assert.match(run.stdout, /policy\.decision\s+deny\s+0\s+kind_outside_grant/);
    assert.match(run.stdout, /dataset\.stream\s+deny\s+0\s+not_the_requester/);
    assert.match(run.stdout, /hash chain: intact/);
    assert.equal((await cli(['demo', '--records-per-employee', '0'], {})).code, 2);
  });
});
