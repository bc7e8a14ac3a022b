import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { after, before, describe, it } from 'node:test';
import type { AuditEventView } from '../../src/audit/index.js';
import { STORE } from '../support/database.js';
import { postRecords, putRoster, startTestVault, type TestVault } from '../support/vault.js';

const DAY = 86_400_000;
const WINDOW = { from: '2026-11-01T00:00:00.000Z', to: '2026-11-30T00:00:00.000Z' };
const JOBS = {
  // Two teams on one token: the lease holds both, and each is counted for every record streamed.
  autocomplete: { sub: 'job-autocomplete', teams: ['team-autocomplete', 'team-shadow'], purpose: 'autocomplete-model' },
  ux: { sub: 'job-ux', teams: ['team-ux-agents'], purpose: 'ui-navigation-agent' },
};

const hourOf = (iso: string) => `${iso.slice(0, 13)}:00:00.000Z`;
const isAlarm = (e: AuditEventView) => e.severity === 'high' && (e.decision === 'deny' || e.decision === 'error');

function records(employees: string[], kind: string, perEmployee: number) {
  return employees.flatMap((employee) =>
    Array.from({ length: perEmployee }, (_, i) => ({
      event_id: randomUUID(),
      employee_id: employee,
      captured_at: new Date(Date.parse('2026-11-10T09:00:00Z') + i * 3_600_000).toISOString(),
      kind,
      payload: kind === 'keystroke' ? { window: 'editor', text: `stats seed ${employee} ${i}` } : { x: i, y: i },
    })),
  );
}

describe(`the console's charts and alarms from the audit log (${STORE})`, () => {
  let t: TestVault;
  let from: Date;
  let to: Date;
  /** Every event of [from, to), read straight from the log (no audited read in between). */
  let seeded: AuditEventView[];
  const streamed = { autocomplete: 0, ux: 0 };
  let autocompleteDecision: string;
  let autocompleteRevision: string;

  const as = async (role: Parameters<TestVault['token']>[0], url: string, claims?: Parameters<TestVault['token']>[1]) =>
    t.app.inject({ url, headers: { authorization: `Bearer ${await t.token(role, claims)}` } });

  before(async () => {
    t = await startTestVault();
    from = new Date();
    const eng = Array.from({ length: 5 }, (_, i) => `eng-${i}`);
    const des = Array.from({ length: 3 }, (_, i) => `des-${i}`);
    // 50 enrolled, so a decision may reach 10: engineering and design are each within it.
    await putRoster(t, [...eng.map((id) => ({ employee_id: id, org_unit: 'engineering' })), ...des.map((id) => ({ employee_id: id, org_unit: 'design' })), ...Array.from({ length: 42 }, (_, i) => ({ employee_id: `fin-${i}`, org_unit: 'finance' }))]);
    const ingested = await postRecords(t, [...records(eng, 'keystroke', 4), ...records(des, 'click', 2), ...records(['fin-0'], 'keystroke', 3)]);
    assert.equal(ingested.json().accepted, 29, ingested.body);

    const request = async (job: keyof typeof JOBS, body: Record<string, unknown>) =>
      t.app.inject({ method: 'POST', url: '/v1/datasets', headers: { authorization: `Bearer ${await t.token('training-job', JOBS[job])}` }, payload: { purpose: JOBS[job].purpose, ...WINDOW, ...body } });
    const stream = async (job: keyof typeof JOBS, id: string) => {
      const response = await as('training-job', `/v1/datasets/${id}/records`, JOBS[job]);
      assert.equal(response.statusCode, 200, response.body);
      return response.body.split('\n').filter(Boolean).length;
    };
    const autocomplete = await request('autocomplete', { org_units: ['engineering'], kinds: ['keystroke'] });
    const ux = await request('ux', { org_units: ['design'], kinds: ['click'] });
    assert.equal(autocomplete.statusCode, 201, autocomplete.body);
    assert.equal(ux.statusCode, 201, ux.body);
    ({ decision_id: autocompleteDecision, policy_revision: autocompleteRevision } = autocomplete.json());
    streamed.autocomplete = await stream('autocomplete', autocomplete.json().dataset_id);
    streamed.ux = await stream('ux', ux.json().dataset_id);
    assert.equal(streamed.autocomplete, 20);
    assert.equal(streamed.ux, 6);

    // Denies: a unit outside the grant (info), then three alarms: another job reading the lease,
    // an employee reading another's consent, and a failure; a high-severity info is no alarm.
    assert.equal((await request('autocomplete', { org_units: ['finance'], kinds: ['keystroke'] })).statusCode, 403);
    const stranger = await as('training-job', `/v1/datasets/${autocomplete.json().dataset_id}/records`, { sub: 'job-stranger', teams: ['team-autocomplete'], purpose: 'autocomplete-model' });
    assert.equal(stranger.statusCode, 403, stranger.body);
    assert.equal((await as('employee', '/v1/employees/eng-1/consent', { sub: 'eng-0' })).statusCode, 403);
    await t.vault.audit.appendAlone({ action: 'test.failure', decision: 'error', severity: 'high', details: { error: 'disk_on_fire' } });
    await t.vault.audit.appendAlone({ action: 'test.notice', decision: 'info', severity: 'high', details: {} });

    await t.vault.audit.sequenced();
    to = new Date(Date.now() + 1);
    seeded = [];
    for (let cursor: string | undefined; ; ) {
      const page = await t.vault.audit.query({ from, to, limit: 1000, ...(cursor ? { cursor } : {}) });
      seeded.push(...page.events);
      if (!page.next_cursor) break;
      cursor = page.next_cursor;
    }
  });
  after(() => t.close());

  const window = () => `from=${encodeURIComponent(from.toISOString())}&to=${encodeURIComponent(to.toISOString())}`;

  it('counts allowed and denied decisions per hour, records streamed per team and day, and alarms per hour', async () => {
    const response = await as('auditor', `/v1/audit/stats?${window()}`);
    assert.equal(response.statusCode, 200, response.body);
    const stats = response.json();
    assert.deepEqual([stats.from, stats.to], [from.toISOString(), to.toISOString()]);

    const decisions = new Map<string, { hour: string; allow: number; deny: number }>();
    for (const e of seeded.filter((x) => x.decision === 'allow' || x.decision === 'deny')) {
      const hour = hourOf(e.occurred_at);
      const bucket = decisions.get(hour) ?? { hour, allow: 0, deny: 0 };
      bucket[e.decision as 'allow' | 'deny'] += 1;
      decisions.set(hour, bucket);
    }
    assert.deepEqual(stats.decisions_per_hour, [...decisions.values()].sort((a, b) => a.hour.localeCompare(b.hour)));
    const total = (key: 'allow' | 'deny') => stats.decisions_per_hour.reduce((n: number, h: Record<string, number>) => n + h[key]!, 0);
    // The seeded denies: the dataset outside the grant, the stranger's stream, the other employee's consent.
    assert.equal(total('deny'), 3);
    assert.ok(total('allow') >= 6, 'roster, ingest, two decisions and their stream pages');

    const perTeam = new Map<string, number>();
    for (const row of stats.records_per_team_day) {
      assert.match(row.day, /^\d{4}-\d{2}-\d{2}$/);
      perTeam.set(row.team, (perTeam.get(row.team) ?? 0) + row.records);
    }
    assert.deepEqual(Object.fromEntries(perTeam), { 'team-autocomplete': streamed.autocomplete, 'team-shadow': streamed.autocomplete, 'team-ux-agents': streamed.ux });
    const streamDays = new Set(seeded.filter((e) => e.action === 'dataset.stream' && e.decision === 'allow').map((e) => e.occurred_at.slice(0, 10)));
    assert.ok(stats.records_per_team_day.every((r: { day: string }) => streamDays.has(r.day)));

    const alarms = new Map<string, number>();
    for (const e of seeded.filter(isAlarm)) alarms.set(hourOf(e.occurred_at), (alarms.get(hourOf(e.occurred_at)) ?? 0) + 1);
    assert.deepEqual(stats.alarms_per_hour, [...alarms.entries()].sort().map(([hour, n]) => ({ hour, alarms: n })));
    assert.equal(stats.alarms_per_hour.reduce((n: number, h: { alarms: number }) => n + h.alarms, 0), 3);
  });

  it('a window before the events counts nothing, and security admins may read the charts too', async () => {
    const response = await as('security-admin', `/v1/audit/stats?from=2026-01-01T00:00:00Z&to=2026-01-31T00:00:00Z`);
    assert.equal(response.statusCode, 200, response.body);
    assert.deepEqual(response.json(), { from: '2026-01-01T00:00:00.000Z', to: '2026-01-31T00:00:00.000Z', decisions_per_hour: [], records_per_team_day: [], alarms_per_hour: [] });
  });

  it('lists the alarms newest first, with their reason and decision, page by page', async () => {
    const response = await as('auditor', `/v1/audit/alarms?${window()}`);
    assert.equal(response.statusCode, 200, response.body);
    const { alarms, next_cursor } = response.json();
    assert.equal(next_cursor, null);
    const expected = seeded.filter(isAlarm);
    assert.deepEqual(alarms.map((a: { seq: number }) => a.seq), expected.map((e) => e.seq));
    assert.deepEqual(alarms.map((a: { action: string }) => a.action), ['test.failure', 'employee.consent', 'dataset.stream']);
    const [failure, consent, stranger] = alarms;
    assert.deepEqual([failure.decision, failure.reason, failure.actor], ['error', 'disk_on_fire', null]);
    assert.deepEqual([consent.decision, consent.reason, consent.actor], ['deny', 'not_own_consent', 'eng-0']);
    assert.deepEqual(
      { decision: stranger.decision, reason: stranger.reason, actor: stranger.actor, teams: stranger.teams, decision_id: stranger.decision_id, policy_revision: stranger.policy_revision },
      { decision: 'deny', reason: 'not_the_requester', actor: 'job-stranger', teams: ['team-autocomplete'], decision_id: autocompleteDecision, policy_revision: autocompleteRevision },
    );
    assert.equal(stranger.at, expected[2]!.occurred_at);
    assert.equal(stranger.details.dataset_id.length > 0, true);

    const paged: number[] = [];
    let cursor: string | null = null;
    do {
      const page = await as('auditor', `/v1/audit/alarms?${window()}&limit=1${cursor ? `&cursor=${cursor}` : ''}`);
      assert.equal(page.statusCode, 200, page.body);
      paged.push(...page.json().alarms.map((a: { seq: number }) => a.seq));
      cursor = page.json().next_cursor;
    } while (cursor);
    assert.deepEqual(paged, expected.map((e) => e.seq));
  });

  it('refuses bad windows, limits and cursors with a 400', async () => {
    const day = (ms: number) => new Date(Date.parse('2026-11-01T00:00:00Z') + ms).toISOString();
    assert.equal((await as('auditor', `/v1/audit/stats?from=${day(0)}&to=${day(31 * DAY)}`)).statusCode, 200, '31 days is allowed');
    for (const query of [
      `from=${day(0)}&to=${day(31 * DAY + 1)}`,
      `from=${day(DAY)}&to=${day(DAY)}`,
      `from=${day(2 * DAY)}&to=${day(DAY)}`,
      'from=yesterday',
      'from=0000-01-01T00:00:00Z',
      'to=2026-02-30T00:00:00Z',
      `from=${day(0)}`,
      'window=7d',
    ]) {
      const response = await as('auditor', `/v1/audit/stats?${query}`);
      assert.equal(response.statusCode, 400, `${query}: ${response.body}`);
      assert.equal(response.json().error, 'invalid_request');
    }
    for (const query of ['limit=0', 'limit=1001', 'limit=x', 'cursor=not-a-cursor', `from=${day(DAY)}&to=${day(0)}`, 'team=x']) {
      const response = await as('auditor', `/v1/audit/alarms?${query}`);
      assert.equal(response.statusCode, 400, `${query}: ${response.body}`);
    }
  });

  it('the default window is the last seven days', async () => {
    const before = Date.now();
    const stats = (await as('auditor', '/v1/audit/stats')).json();
    const end = Date.parse(stats.to);
    assert.ok(end >= before && end <= Date.now());
    assert.equal(end - Date.parse(stats.from), 7 * DAY);
    assert.ok(stats.decisions_per_hour.length > 0);
  });

  it('is refused to every other role, and each refusal is audited', async () => {
    for (const role of ['employee', 'training-job', 'ingest-agent', 'privacy-officer'] as const) {
      for (const path of ['/v1/audit/stats', '/v1/audit/alarms']) {
        const sub = `${role}-prober`;
        const response = await as(role, path, { sub, purpose: 'p' });
        assert.equal(response.statusCode, 403, `${role} ${path}`);
        await t.vault.audit.sequenced();
        const [refusal] = (await t.vault.audit.query({ actor: sub, limit: 1 })).events;
        assert.equal(refusal?.action, 'auth.forbidden', `${role} ${path}`);
        assert.equal(refusal?.decision, 'deny');
        assert.equal(refusal?.details.route, path);
      }
    }
  });

  it('each read is itself on the record, with the count of what it returned', async () => {
    const stats = await as('auditor', `/v1/audit/stats?${window()}`, { sub: 'auditor-stats' });
    assert.equal(stats.statusCode, 200);
    const series = stats.json();
    const buckets = { decisions_per_hour: series.decisions_per_hour.length, records_per_team_day: series.records_per_team_day.length, alarms_per_hour: series.alarms_per_hour.length };
    assert.ok(buckets.decisions_per_hour > 0 && buckets.records_per_team_day > 0 && buckets.alarms_per_hour > 0);
    const alarms = await as('auditor', `/v1/audit/alarms?${window()}&limit=2`, { sub: 'auditor-alarms' });
    assert.equal(alarms.statusCode, 200);
    assert.equal(alarms.json().alarms.length, 2);
    await t.vault.audit.sequenced();
    const [statsEvent] = (await t.vault.audit.query({ actor: 'auditor-stats', limit: 1 })).events;
    assert.deepEqual(
      [statsEvent?.action, statsEvent?.decision, statsEvent?.record_count, statsEvent?.details],
      ['audit.stats', 'allow', buckets.decisions_per_hour + buckets.records_per_team_day + buckets.alarms_per_hour, { from: from.toISOString(), to: to.toISOString(), buckets }],
    );
    const [alarmsEvent] = (await t.vault.audit.query({ actor: 'auditor-alarms', limit: 1 })).events;
    assert.deepEqual([alarmsEvent?.action, alarmsEvent?.record_count, alarmsEvent?.details], ['audit.alarms', 2, { filters: { limit: 2, from: from.toISOString(), to: to.toISOString() }, view: 'full' }]);
  });

  it("a security admin sees only the alarms of their trade, without an employee's id; the auditor sees every alarm whole", async () => {
    const since = new Date();
    const admin = { sub: 'admin-1', roles: ['security-admin' as const], teams: [], purpose: undefined };
    // An employee asking for another's access report: an alarm about employees, the auditor's alone.
    const report = await as('employee', '/v1/employees/eng-2/access-report', { sub: 'eng-1' });
    assert.equal(report.statusCode, 403, report.body);
    // Alarms of the security admin's trade, some carrying fields (and actors) that name employees.
    await t.vault.audit.appendAlone({
      action: 'policy.activate',
      decision: 'deny',
      severity: 'high',
      actor: admin,
      policyRevision: 'rev-wide',
      details: { revision: 'rev-wide', reason: 'invariant_violations', violations: ['team-x: grant_too_wide'], alarm: 'activation_refused', teams: ['team-x'], employee_id: 'eng-3', note: 'eng-3' },
    });
    await t.vault.audit.appendAlone({ action: 'dataset.stream', decision: 'deny', severity: 'high', actor: { sub: 'eng-4', roles: ['employee'], teams: [], purpose: undefined }, details: { dataset_id: 'ds-1', reason: 'not_the_requester', subject: 'eng-4' } });
    await t.vault.audit.appendAlone({ action: 'keys.rotate', decision: 'error', severity: 'high', actor: admin, details: { step: 'failed', error: 'ERR_KEY_UNAVAILABLE' } });
    await t.vault.audit.appendAlone({ action: 'console.dev_token', decision: 'deny', severity: 'high', actor: null, details: { source: '192.0.2.1', reason: 'not_loopback', count: 3, sub: 'eng-5' } });
    await t.vault.audit.appendAlone({ action: 'test.failure', decision: 'error', severity: 'high', actor: null, details: { error: 'eng-6' } });
    await t.vault.audit.sequenced();

    const asAdmin = await as('security-admin', `/v1/audit/alarms?from=${encodeURIComponent(since.toISOString())}`, { sub: 'admin-reader' });
    assert.equal(asAdmin.statusCode, 200, asAdmin.body);
    for (const id of ['eng-1', 'eng-2', 'eng-3', 'eng-4', 'eng-5', 'eng-6']) assert.ok(!asAdmin.body.includes(id), `${id} in ${asAdmin.body}`);
    const seen = asAdmin.json().alarms as Array<{ action: string; actor: string | null; reason: string | null; details: Record<string, unknown> }>;
    assert.deepEqual(
      seen.map((a) => [a.action, a.actor, a.reason]),
      [
        ['console.dev_token', null, 'not_loopback'],
        ['keys.rotate', 'admin-1', 'ERR_KEY_UNAVAILABLE'],
        ['dataset.stream', null, 'not_the_requester'],
        ['policy.activate', 'admin-1', 'invariant_violations'],
      ],
    );
    assert.deepEqual(seen[3]!.details, { revision: 'rev-wide', reason: 'invariant_violations', violations: ['team-x: grant_too_wide'], alarm: 'activation_refused', teams: ['team-x'] });
    assert.deepEqual(seen[0]!.details, { source: '192.0.2.1', reason: 'not_loopback', count: 3 });

    const asAuditor = await as('auditor', `/v1/audit/alarms?from=${encodeURIComponent(since.toISOString())}`);
    assert.equal(asAuditor.statusCode, 200, asAuditor.body);
    const all = asAuditor.json().alarms as Array<{ action: string; actor: string | null; details: Record<string, unknown> }>;
    assert.deepEqual(
      all.map((a) => [a.action, a.actor]),
      [
        ['test.failure', null],
        ['console.dev_token', null],
        ['keys.rotate', 'admin-1'],
        ['dataset.stream', 'eng-4'],
        ['policy.activate', 'admin-1'],
        ['employee.access_report', 'eng-1'],
      ],
    );
    assert.equal(all[4]!.details.employee_id, 'eng-3');

    // The counts stay whole for both: the chart is numbers, not names.
    const window = `from=${encodeURIComponent(since.toISOString())}&to=${encodeURIComponent(new Date(Date.now() + 1000).toISOString())}`;
    const adminStats = (await as('security-admin', `/v1/audit/stats?${window}`)).json();
    const auditorStats = (await as('auditor', `/v1/audit/stats?${window}`)).json();
    assert.deepEqual(adminStats.alarms_per_hour, auditorStats.alarms_per_hour);
    assert.equal(adminStats.alarms_per_hour.reduce((n: number, h: { alarms: number }) => n + h.alarms, 0), 6);

    await t.vault.audit.sequenced();
    const [read] = (await t.vault.audit.query({ actor: 'admin-reader', limit: 1 })).events;
    assert.deepEqual([read?.action, read?.record_count, read?.details.view], ['audit.alarms', 4, 'security']);
  });
});
