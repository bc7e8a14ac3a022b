import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { AccessGate } from '../../src/access/index.js';
import type { AuditEventView } from '../../src/audit/index.js';
import { createTokenVerifier, loadDevSigningKey } from '../../src/auth/index.js';
import { STORE } from '../support/database.js';
import { refuseAuditInserts } from '../support/audit.js';
import { postRecords, startTestVault, type TestVault } from '../support/vault.js';
import { refusalsAudited, startOfSecond, tampered } from './support.js';

const N = 40;

describe(`unauthenticated refusals are tallied, authenticated ones stay exact (${STORE})`, () => {
  let t: TestVault;
  before(async () => {
    t = await startTestVault();
  });
  after(() => t?.close());

  it(`${N} tampered tokens in one second give one auth.refused event with count ${N}`, async () => {
    const forged = tampered(await t.token('ingest-agent'));
    await startOfSecond();
    const responses = await Promise.all(Array.from({ length: N }, () => postRecords(t, [], forged)));
    assert.ok(responses.every((r) => r.statusCode === 401));
    const events = await refusalsAudited(t, (reasons) => reasons.has('signature_invalid'));
    const forgedEvents = events.filter((e) => e.details.reason === 'signature_invalid');
    assert.equal(forgedEvents.length, 1, JSON.stringify(forgedEvents.map((e) => e.details)));
    const [event] = forgedEvents;
    assert.equal(event!.decision, 'deny');
    assert.equal(event!.actor, null);
    const { window_start: windowStart, ...tally } = event!.details;
    assert.deepEqual(tally, { source: '127.0.0.1', reason: 'signature_invalid', count: N, routes: ['POST /v1/records'] });
    assert.equal(Date.parse(String(windowStart)) % 1000, 0);
    assert.ok(Date.parse(String(windowStart)) <= Date.parse(event!.occurred_at));
    assert.ok(!JSON.stringify(events).includes(forged.split('.')[2]!), 'token text reached the audit log');
  });

  it('only a 401 carries www-authenticate: not a 200, a 403 or a public route', async () => {
    const ok = await postRecords(t, []);
    assert.equal(ok.statusCode, 200, ok.body);
    assert.equal(ok.headers['www-authenticate'], undefined);
    const forbidden = await postRecords(t, [], await t.token('auditor'));
    assert.equal(forbidden.statusCode, 403);
    assert.equal(forbidden.headers['www-authenticate'], undefined);
    const health = await t.app.inject('/healthz');
    assert.equal(health.headers['www-authenticate'], undefined);
    const anonymous = await t.app.inject({ method: 'POST', url: '/v1/records', payload: { records: [] } });
    assert.equal(anonymous.statusCode, 401);
    assert.equal(anonymous.headers['www-authenticate'], 'Bearer');
  });

  it('a source refused more than 20 times in a second waits 250 ms for each further 401', async () => {
    const forged = tampered(await t.token('ingest-agent', { sub: 'slow-down' }));
    await startOfSecond();
    const timings = await Promise.all(
      Array.from({ length: 30 }, async () => {
        const started = performance.now();
        const response = await t.app.inject({ method: 'POST', url: '/v1/records', remoteAddress: '192.0.2.30', headers: { authorization: `Bearer ${forged}` }, payload: { records: [] } });
        assert.equal(response.statusCode, 401);
        return performance.now() - started;
      }),
    );
    assert.ok(timings.filter((ms) => ms >= 245).length >= 10, JSON.stringify(timings.map(Math.round)));
  });

  it('an authenticated 403 still gives one auth.forbidden event per request', async () => {
    const before = (await t.vault.audit.query({ action: 'auth.forbidden', limit: 1000 })).events.length;
    const token = await t.token('training-job', { sub: 'job-403' });
    await startOfSecond();
    const responses = await Promise.all(Array.from({ length: 5 }, () => postRecords(t, [], token)));
    assert.ok(responses.every((r) => r.statusCode === 403));
    const { events } = await t.vault.audit.query({ action: 'auth.forbidden', limit: 1000 });
    assert.equal(events.length - before, 5);
    assert.ok(events.slice(0, 5).every((e) => e.actor === 'job-403' && e.decision === 'deny' && e.details.remote_address === '127.0.0.1'));
  });

  it('no token and a malformed token are tallied too, each under its own reason', async () => {
    const remoteAddress = '192.0.2.7';
    await t.app.inject({ method: 'POST', url: '/v1/records', remoteAddress, payload: { records: [] } });
    await t.app.inject({ method: 'POST', url: '/v1/records', remoteAddress, headers: { authorization: 'Bearer abc.def.ghi' }, payload: { records: [] } });
    const total = (events: AuditEventView[], reason: string) =>
      events.filter((e) => e.details.source === remoteAddress && e.details.reason === reason).reduce((n, e) => n + Number(e.details.count), 0);
    const events = await refusalsAudited(t, (_reasons, all) => total(all, 'missing_token') >= 1 && total(all, 'malformed_token') >= 1);
    assert.equal(total(events, 'missing_token'), 1);
    assert.equal(total(events, 'malformed_token'), 1);
  });

  it('close() writes what was tallied, and the per-second key cap sends the rest to one catch-all bucket', async () => {
    const dev = await loadDevSigningKey(t.dataDir);
    const tokens = createTokenVerifier({ issuer: t.config.jwt.issuer, audience: t.config.jwt.audience, keys: { jwks: dev.jwks } });
    const gate = new AccessGate(tokens, t.vault.audit, { maxRefusalKeysPerSecond: 2 });
    const before = (await t.vault.audit.query({ action: 'auth.refused', limit: 1000 })).events.length;
    await startOfSecond();
    for (const source of ['10.0.0.1', '10.0.0.2', '10.0.0.3', '10.0.0.4', '10.0.0.3']) {
      await assert.rejects(gate.authenticate(undefined, ['ingest-agent'], { method: 'GET', route: '/close-test', remoteAddress: source }));
    }
    await gate.close();
    const { events } = await t.vault.audit.query({ action: 'auth.refused', limit: 1000 });
    const written = events.slice(0, events.length - before).map((e) => [e.details.source, e.details.reason, e.details.count]);
    assert.deepEqual(written.sort(), [
      ['*', '*', 3],
      ['10.0.0.1', 'missing_token', 1],
      ['10.0.0.2', 'missing_token', 1],
    ]);
  });

  it('a tally the log refuses raises the alarm, fails readiness, and is written once the log recovers', async () => {
    const forged = tampered(await t.token('ingest-agent'));
    const alarmsBefore = t.logs.length;
    await refuseAuditInserts(t, true);
    let restored = false;
    try {
      await startOfSecond();
      for (let i = 0; i < 3; i++) assert.equal((await postRecords(t, [], forged)).statusCode, 401);
      const deadline = Date.now() + 5000;
      while (!t.logs.slice(alarmsBefore).some((l) => l.includes('"alarm":"audit_unavailable"') && l.includes('auth.refused'))) {
        assert.ok(Date.now() < deadline, 'no alarm raised');
        await new Promise((resolve) => setTimeout(resolve, 100));
      }
      const alarms = t.logs.slice(alarmsBefore).join('\n');
      assert.ok(!alarms.includes(forged.split('.')[1]!) && !alarms.includes(forged.split('.')[2]!), 'token text reached the operator log');
      const ready = await t.app.inject('/readyz');
      assert.equal(ready.statusCode, 503);
      assert.equal(ready.json().checks.refusal_audit.ok, false);
      await refuseAuditInserts(t, false);
      restored = true;
      const events = await refusalsAudited(t, (_reasons, all) => all.some((e) => e.details.reason === 'signature_invalid' && e.details.count === 3));
      assert.ok(events.length > 0);
      assert.equal((await t.app.inject('/readyz')).json().checks.refusal_audit.ok, true);
    } finally {
      if (!restored) await refuseAuditInserts(t, false);
    }
  });
});
