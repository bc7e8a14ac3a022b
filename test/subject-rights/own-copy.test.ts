import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { after, before, describe, it } from 'node:test';
import { PAGE_RECORDS } from '../../src/datasets/index.js';
import { STORE } from '../support/database.js';
import { makeRecords, postRecords, putRoster, startTestVault, type TestVault } from '../support/vault.js';

interface OwnLine {
  event_id: string;
  captured_at: string;
  kind: string;
  sensitivity: number;
  categories?: string[];
  payload: Record<string, unknown>;
}

interface Exposure {
  org_units: string[];
  teams: Array<{ team: string; paths: Array<{ purpose: string; org_units: string[]; kinds: string[]; max_sensitivity: number }> }>;
  open_leases: Array<{ dataset_id: string; records_of_employee: number }>;
}

const WINDOW = { from: '2026-11-01T00:00:00Z', to: '2026-12-01T00:00:00Z' };

describe(`an employee's own copy and exposure (${STORE})`, () => {
  let t: TestVault;
  let officer: string;
  const sent = new Map<string, { captured_at: string; kind: string; payload: Record<string, unknown> }>();
  let levelFour: string;

  const get = async (url: string, token: string) => t.app.inject({ url, headers: { authorization: `Bearer ${token}` } });
  const lines = (body: string) => body.split('\n').filter(Boolean).map((l) => JSON.parse(l) as OwnLine);

  before(async () => {
    t = await startTestVault({ env: { VAULT_STORE_LEVEL_4: 'true', VAULT_MAINTENANCE_SECONDS: '3600' } });
    await putRoster(t, [
      { employee_id: 'bob', org_unit: 'engineering' },
      { employee_id: 'carol', org_unit: 'engineering' },
      { employee_id: 'dana', org_unit: 'design' },
      ...Array.from({ length: 20 }, (_, i) => ({ employee_id: `other-${i}`, org_unit: `unit-${i % 4}` })),
    ]);
    officer = await t.token('privacy-officer');
    // More than one page of bob's, of two kinds, plus one record that is level 4.
    const bob = [...makeRecords(PAGE_RECORDS + 100, ['bob'], 'bob typed'), ...makeRecords(30, ['bob'], 'bob asked', { kind: 'prompt' })];
    bob.forEach((r, i) => (r.captured_at = new Date(Date.parse('2026-11-02T00:00:00Z') + i * 60_000).toISOString()));
    const secret = { event_id: randomUUID(), employee_id: 'bob', captured_at: '2026-11-03T10:00:00.000Z', kind: 'keystroke', payload: { text: 'my tax id 123-45-6789' } };
    levelFour = secret.event_id;
    for (let i = 0; i < bob.length; i += 1000) assert.equal((await postRecords(t, bob.slice(i, i + 1000))).json().accepted, Math.min(1000, bob.length - i));
    assert.equal((await postRecords(t, [secret])).json().accepted, 1);
    for (const r of [...bob, secret]) sent.set(r.event_id, { captured_at: r.captured_at, kind: r.kind, payload: r.payload as Record<string, unknown> });
    assert.equal((await postRecords(t, makeRecords(50, ['carol'], 'carol typed'))).json().accepted, 50);
  });
  after(() => t.close());

  it("streams exactly the employee's records, decrypted, with their real time, kind and level", async () => {
    const response = await get('/v1/employees/bob/records', await t.token('employee', { sub: 'bob' }));
    assert.equal(response.statusCode, 200, response.body);
    assert.match(String(response.headers['content-type']), /application\/x-ndjson/);
    const got = lines(response.body);
    assert.equal(got.length, sent.size);
    assert.deepEqual(new Set(got.map((l) => l.event_id)), new Set(sent.keys()));
    for (const line of got) {
      const original = sent.get(line.event_id)!;
      assert.equal(line.captured_at, original.captured_at);
      assert.equal(line.kind, original.kind);
      assert.deepEqual(line.payload, original.payload);
    }
    assert.equal(got.find((l) => l.event_id === levelFour)!.sensitivity, 4, 'the employee sees their own level-4 record');
    assert.ok(got.every((l, i) => i === 0 || got[i - 1]!.captured_at <= l.captured_at), 'oldest first');

    await t.vault.audit.sequenced();
    const pages = (await t.vault.audit.query({ action: 'employee.export', decision: 'allow', limit: 10 })).events;
    assert.equal(pages.length, 2, `one audited page per ${PAGE_RECORDS} records`);
    assert.equal(pages.reduce((n, e) => n + (e.record_count ?? 0), 0), sent.size);
    assert.ok(pages.every((e) => e.details.for_self === true));
  });

  it('gives a privacy officer acting for the employee everything but level 4, and honours a window', async () => {
    const all = lines((await get('/v1/employees/bob/records', officer)).body);
    assert.equal(all.length, sent.size - 1);
    assert.ok(!all.some((l) => l.event_id === levelFour));
    const window = lines((await get('/v1/employees/bob/records?from=2026-11-02T00:00:00Z&to=2026-11-02T01:00:00Z', officer)).body);
    assert.equal(window.length, 60);
    const bad = await get('/v1/employees/bob/records?from=2026-11-03T00:00:00Z&to=2026-11-02T00:00:00Z', officer);
    assert.equal(bad.statusCode, 400);
  });

  it("refuses another employee's copy and an unknown employee, audited", async () => {
    const other = await get('/v1/employees/bob/records', await t.token('employee', { sub: 'carol' }));
    assert.equal(other.statusCode, 403);
    assert.equal(other.json().error, 'forbidden');
    assert.equal((await get('/v1/employees/nobody/records', officer)).statusCode, 404);
    const job = await get('/v1/employees/bob/records', await t.token('training-job', { teams: ['team-autocomplete'], purpose: 'autocomplete-model' }));
    assert.equal(job.statusCode, 403);
    await t.vault.audit.sequenced();
    const denied = (await t.vault.audit.query({ action: 'employee.export', decision: 'deny', limit: 10 })).events;
    assert.deepEqual(denied.map((e) => e.details.reason).sort(), ['invalid_window', 'no_such_employee', 'not_own_records']);
  });

  it('summarises what is stored per month and kind in the access report', async () => {
    const report = (await get('/v1/employees/bob/access-report', await t.token('employee', { sub: 'bob' }))).json();
    assert.equal(report.summary.records, sent.size);
    assert.equal(report.summary.unreadable, 0);
    assert.deepEqual(report.summary.by_month_and_kind, [
      { month: '2026-11', kind: 'keystroke', records: PAGE_RECORDS + 101, unreadable: 0 },
      { month: '2026-11', kind: 'prompt', records: 30, unreadable: 0 },
    ]);
  });

  it('answers who could read the employee now, and each team it names gets exactly that when it asks', async () => {
    const exposure = (await get('/v1/employees/bob/exposure', await t.token('employee', { sub: 'bob' }))).json() as Exposure;
    assert.deepEqual(exposure.org_units, ['engineering']);
    assert.deepEqual(exposure.teams, [
      { team: 'team-autocomplete', paths: [{ purpose: 'autocomplete-model', org_units: ['engineering'], kinds: ['keystroke', 'prompt'], max_sensitivity: 2 }] },
    ]);
    assert.deepEqual(exposure.open_leases, []);

    // Each path, asked for by a job of that team: granted, and bob's records are in the lease.
    for (const { team, paths } of exposure.teams) {
      for (const p of paths) {
        const token = await t.token('training-job', { sub: `job-${team}`, teams: [team], purpose: p.purpose });
        const granted = await t.app.inject({
          method: 'POST',
          url: '/v1/datasets',
          headers: { authorization: `Bearer ${token}` },
          payload: { purpose: p.purpose, kinds: p.kinds, org_units: p.org_units, max_sensitivity: p.max_sensitivity, ...WINDOW },
        });
        assert.equal(granted.statusCode, 201, granted.body);
        // Asking for more than the answer names is not granted more.
        const wider = await t.app.inject({
          method: 'POST',
          url: '/v1/datasets',
          headers: { authorization: `Bearer ${token}` },
          payload: { purpose: p.purpose, kinds: ['keystroke', 'prompt', 'screenshot'], org_units: p.org_units, max_sensitivity: 3, ...WINDOW },
        });
        if (wider.statusCode === 201) {
          assert.deepEqual([...wider.json().scope.kinds].sort(), p.kinds);
          assert.ok(wider.json().scope.max_sensitivity <= p.max_sensitivity);
        }
      }
    }
    // A team the answer leaves out is refused bob's unit; so is a named team under another purpose.
    for (const [team, purpose] of [['team-ux-agents', 'ui-navigation-agent'], ['team-autocomplete', 'ui-navigation-agent']] as const) {
      const token = await t.token('training-job', { sub: `job-${team}`, teams: [team], purpose });
      const refused = await t.app.inject({
        method: 'POST',
        url: '/v1/datasets',
        headers: { authorization: `Bearer ${token}` },
        payload: { purpose, kinds: ['keystroke', 'click'], org_units: ['engineering'], ...WINDOW },
      });
      assert.equal(refused.statusCode, 403, `${team}/${purpose}: ${refused.body}`);
    }

    // The lease granted above now holds bob's records, and the answer says so.
    const now = (await get('/v1/employees/bob/exposure', await t.token('auditor'))).json() as Exposure;
    assert.equal(now.open_leases.length, 1);
    assert.ok(now.open_leases[0]!.records_of_employee > 0);
    // dana (design) is reached by the design team only.
    const dana = (await get('/v1/employees/dana/exposure', officer)).json() as Exposure;
    assert.deepEqual(dana.teams.map((x) => x.team), ['team-ux-agents']);
  });

  it("refuses another employee's exposure, audited", async () => {
    assert.equal((await get('/v1/employees/bob/exposure', await t.token('employee', { sub: 'carol' }))).statusCode, 403);
    assert.equal((await get('/v1/employees/nobody/exposure', officer)).statusCode, 404);
    await t.vault.audit.sequenced();
    const events = (await t.vault.audit.query({ action: 'employee.exposure', limit: 10 })).events;
    assert.ok(events.some((e) => e.decision === 'deny' && e.details.reason === 'not_own_exposure'));
    assert.ok(events.some((e) => e.decision === 'allow'));
  });
});
