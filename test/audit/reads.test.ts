import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { sql } from 'kysely';
import { STORE } from '../support/database.js';
import { appendSampleEvents, asSuperuser, refuseAuditInserts } from '../support/audit.js';
import { startTestVault, type TestVault } from '../support/vault.js';

async function eventCount(t: TestVault): Promise<number> {
  await t.vault.audit.sequenced();
  return (await sql<{ n: number }>`select count(*)::int as n from audit_events`.execute(t.database.db)).rows[0]!.n;
}

describe(`reading the audit log is itself on the record (${STORE})`, () => {
  let t: TestVault;
  let auditor: string;
  before(async () => {
    t = await startTestVault();
    auditor = await t.token('auditor', { sub: 'auditor-7' });
  });
  after(() => t.close());

  const get = (url: string) => t.app.inject({ url, headers: { authorization: `Bearer ${auditor}` } });

  it('a query records its filters and the number of events it returned', async () => {
    const response = await get('/v1/audit/events?action=policy.activate&limit=3&from=2020-01-01T00:00:00Z');
    assert.equal(response.statusCode, 200);
    const returned = response.json().events.length;
    const [recorded] = (await t.vault.audit.query({ action: 'audit.query', limit: 1 })).events;
    assert.equal(recorded?.actor, 'auditor-7');
    assert.equal(recorded?.record_count, returned);
    assert.deepEqual(recorded?.details, { filters: { action: 'policy.activate', limit: 3, from: '2020-01-01T00:00:00.000Z' }, by_employee: false });
  });

  it('listing checkpoints is recorded with the number listed', async () => {
    const signed = await t.app.inject({ method: 'POST', url: '/v1/audit/checkpoints', headers: { authorization: `Bearer ${auditor}` } });
    assert.equal(signed.statusCode, 201);
    const [signing] = (await t.vault.audit.query({ action: 'audit.checkpoint', limit: 1 })).events;
    assert.deepEqual([signing?.actor, signing?.decision, signing?.details], ['auditor-7', 'info', { seq: signed.json().seq }]);

    const response = await get('/v1/audit/checkpoints');
    assert.equal(response.statusCode, 200);
    const listed = response.json().checkpoints.length;
    assert.ok(listed >= 1);
    const [recorded] = (await t.vault.audit.query({ action: 'audit.checkpoints', limit: 1 })).events;
    assert.deepEqual([recorded?.actor, recorded?.decision, recorded?.record_count], ['auditor-7', 'allow', listed]);
    const seqs = response.json().checkpoints.map((cp: { seq: number }) => cp.seq);
    assert.deepEqual(recorded?.details, { limit: 100, newest_seq: seqs[0], oldest_seq: seqs.at(-1) }, 'which checkpoints were read');
  });

  it('a refused read of the checkpoints is recorded too', async () => {
    const response = await t.app.inject({ url: '/v1/audit/checkpoints', headers: { authorization: `Bearer ${await t.token('training-job', { sub: 'job-9', teams: ['t1'], purpose: 'p' })}` } });
    assert.equal(response.statusCode, 403);
    assert.equal('checkpoints' in response.json(), false);
    const [recorded] = (await t.vault.audit.query({ action: 'auth.forbidden', actor: 'job-9', limit: 1 })).events;
    assert.deepEqual([recorded?.decision, recorded?.details.route], ['deny', '/v1/audit/checkpoints']);
  });

  it('a broken chain is still reported to the auditor, with an alarm line', async () => {
    const scratch = await startTestVault();
    try {
      await appendSampleEvents(scratch.vault, 3);
      await scratch.vault.audit.sequenced();
      await asSuperuser(scratch.database.db, async (db) => void (await sql`update audit_events set actor = 'someone-else' where seq = 1`.execute(db)));
      const response = await scratch.app.inject({ url: '/v1/audit/verify', headers: { authorization: `Bearer ${await scratch.token('auditor')}` } });
      assert.equal(response.statusCode, 200);
      assert.deepEqual([response.json().ok, response.json().broken_at], [false, 1]);
      assert.ok(scratch.logs.some((l) => l.includes('"alarm":"audit_chain_broken"') && l.includes('"broken_at":1')));
    } finally {
      await scratch.close();
    }
  });

  describe('when the log cannot take the read event', () => {
    before(() => refuseAuditInserts(t, true));
    after(() => refuseAuditInserts(t, false));

    it('a query gets 503 and no events', async () => {
      const before = await eventCount(t);
      const response = await get('/v1/audit/events?limit=10');
      assert.equal(response.statusCode, 503);
      assert.equal(response.json().error, 'unavailable');
      assert.equal('events' in response.json(), false);
      assert.equal(await eventCount(t), before);
    });

    it('a verification of an intact chain gets 503 instead of a result', async () => {
      const response = await get('/v1/audit/verify');
      assert.equal(response.statusCode, 503);
      assert.equal(response.json().error, 'unavailable');
      assert.equal('ok' in response.json(), false);
    });

    it('listing checkpoints gets 503 and no checkpoints', async () => {
      const response = await get('/v1/audit/checkpoints');
      assert.equal(response.statusCode, 503);
      assert.equal('checkpoints' in response.json(), false);
    });

    it('signing a checkpoint gets 503 and stores no checkpoint', async () => {
      const count = async () => (await sql<{ n: number }>`select count(*)::int as n from audit_checkpoints`.execute(t.database.db)).rows[0]!.n;
      const before = await count();
      const response = await t.app.inject({ method: 'POST', url: '/v1/audit/checkpoints', headers: { authorization: `Bearer ${auditor}` } });
      assert.equal(response.statusCode, 503);
      assert.equal(await count(), before);
    });
  });
});
