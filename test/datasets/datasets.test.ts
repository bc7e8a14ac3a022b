import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { after, before, describe, it } from 'node:test';
import { sql } from 'kysely';
import { STORE } from '../support/database.js';
import { buildTestBundle, installBundle, newSigningKey, trustedKeysFile } from '../support/policies.js';
import { cli } from '../support/cli.js';
import { listenUrl, postRecords, putRoster, startTestVault, type TestVault } from '../support/vault.js';

const UNITS = Array.from({ length: 10 }, (_, i) => `u${i}`);
const GRANTS = {
  'team-a': { org_units: ['u0'], kinds: ['keystroke', 'prompt'], max_sensitivity: 2, purposes: ['pa'] },
  'team-b': { org_units: ['u1', 'u2'], kinds: ['click', 'mouse_move'], max_sensitivity: 1, purposes: ['pb'] },
  'team-c': { org_units: ['u3', 'u4'], kinds: ['keystroke', 'click', 'screenshot'], max_sensitivity: 3, purposes: ['pc'] },
};
const KINDS = ['keystroke', 'prompt', 'click', 'mouse_move', 'screenshot'];
const WINDOW = { from: '2026-11-05T00:00:00.000Z', to: '2026-11-15T00:00:00.000Z' };

interface Sent {
  tag: string;
  eventId: string;
  employee: string;
  unit: string;
  kind: string;
  capturedAt: string;
}

interface Line {
  cursor: string;
  subject: string;
  captured_at: string;
  kind: string;
  sensitivity: number;
  payload: { tag: string };
}

describe(`datasets for training jobs (${STORE})`, () => {
  let t: TestVault;
  const sent: Sent[] = [];
  const sensitivity = new Map<string, number>();
  const job = (team: keyof typeof GRANTS, sub = `job-${team}`) => t.token('training-job', { sub, teams: [team], purpose: GRANTS[team].purposes[0]! });

  before(async () => {
    const key = await newSigningKey();
    t = await startTestVault({ env: { VAULT_BUNDLE_KEYS_FILE: await trustedKeysFile(key), VAULT_MAX_SCOPE_FRACTION: '1' } });
    // The grants are new, so a second security admin approves them (two-person rule).
    await installBundle(t, await buildTestBundle({ key, revision: 'three-teams', data: { grants: GRANTS } }), 'three-teams');

    const employees = Array.from({ length: 100 }, (_, i) => ({ employee_id: `e${i}`, org_unit: UNITS[i % 10]! }));
    await putRoster(t, employees);
    const base = Date.parse('2026-11-01T00:00:00Z');
    const records = Array.from({ length: 4000 }, (_, i) => {
      const employee = employees[(i * 7) % employees.length]!;
      const kind = KINDS[i % KINDS.length]!;
      const capturedAt = new Date(base + ((i * 7919) % (20 * 86_400)) * 1000).toISOString();
      const tag = `r${i}`;
      const text = i % 97 === 0 ? `ssn 123-45-${String(1000 + i).slice(-4)}` : `text ${i}`;
      sent.push({ tag, eventId: randomUUID(), employee: employee.employee_id, unit: employee.org_unit, kind, capturedAt });
      return { event_id: sent[i]!.eventId, employee_id: employee.employee_id, captured_at: capturedAt, kind, payload: { tag, text }, ...(i % 13 === 0 ? { sensitivity: 3 } : {}) };
    });
    for (let i = 0; i < records.length; i += 1000) {
      // The records carrying an SSN are level 4: dropped at ingest, never stored.
      const result = (await postRecords(t, records.slice(i, i + 1000))).json();
      assert.equal(result.accepted + result.dropped.length, 1000);
      assert.ok(result.dropped.every((d: { reason: string }) => d.reason === 'sensitive_content'));
    }
    const rows = await sql<{ event_id: string; sensitivity: number }>`select event_id, sensitivity from activity_records`.execute(t.database.db);
    for (const r of rows.rows) sensitivity.set(r.event_id, r.sensitivity);
  });
  after(() => t.close());

  async function requestDataset(token: string, body: Record<string, unknown>) {
    return t.app.inject({ method: 'POST', url: '/v1/datasets', headers: { authorization: `Bearer ${token}` }, payload: body });
  }

  async function stream(token: string, datasetId: string, afterCursor?: string): Promise<{ status: number; lines: Line[]; body: string }> {
    const response = await t.app.inject({ url: `/v1/datasets/${datasetId}/records${afterCursor ? `?after=${afterCursor}` : ''}`, headers: { authorization: `Bearer ${token}` } });
    const lines = response.statusCode === 200 ? response.body.split('\n').filter(Boolean).map((l) => JSON.parse(l) as Line) : [];
    return { status: response.statusCode, lines, body: response.body };
  }

  function expectedFor(team: keyof typeof GRANTS): Sent[] {
    const g = GRANTS[team];
    return sent.filter(
      (s) => g.org_units.includes(s.unit) && g.kinds.includes(s.kind) && sensitivity.get(s.eventId)! <= g.max_sensitivity && s.capturedAt >= WINDOW.from && s.capturedAt < WINDOW.to,
    );
  }

  for (const team of Object.keys(GRANTS) as Array<keyof typeof GRANTS>) {
    it(`${team}'s dataset holds exactly its granted units, kinds, sensitivity and window, record by record`, async () => {
      const token = await job(team);
      const granted = await requestDataset(token, { purpose: GRANTS[team].purposes[0], kinds: [], org_units: [], ...WINDOW });
      assert.equal(granted.statusCode, 201, granted.body);
      const lease = granted.json();
      const expected = expectedFor(team);
      assert.ok(expected.length > 20, `${team} expects ${expected.length}`);
      assert.equal(lease.record_count, expected.length);
      assert.deepEqual(lease.scope.org_units, GRANTS[team].org_units);
      const { status, lines } = await stream(token, lease.dataset_id);
      assert.equal(status, 200);
      const byTag = new Map(sent.map((s) => [s.tag, s]));
      assert.deepEqual(lines.map((l) => l.payload.tag).sort(), expected.map((s) => s.tag).sort());
      const subjects = new Map<string, string>();
      for (const line of lines) {
        const s = byTag.get(line.payload.tag)!;
        assert.equal(line.kind, s.kind);
        assert.equal(line.captured_at, s.capturedAt);
        assert.equal(line.sensitivity, sensitivity.get(s.eventId));
        assert.ok(Object.values(line).every((v) => v !== s.employee) && line.subject.length === 22, 'no employee id leaves the vault');
        assert.equal(subjects.get(s.employee) ?? line.subject, line.subject, 'one pseudonym per employee within a dataset');
        subjects.set(s.employee, line.subject);
      }
      const again = (await requestDataset(token, { purpose: GRANTS[team].purposes[0], ...WINDOW })).json();
      const second = await stream(token, again.dataset_id);
      const otherSubjects = new Set(second.lines.map((l) => l.subject));
      assert.ok([...subjects.values()].every((p) => !otherSubjects.has(p)), 'two datasets cannot be joined on subject');
    });
  }

  it('a request outside the grant gets 403 with the reasons and a decision id, on the record', async () => {
    const response = await requestDataset(await job('team-a'), { purpose: 'pa', org_units: ['u1'], ...WINDOW });
    assert.equal(response.statusCode, 403);
    const body = response.json();
    assert.equal(body.error, 'policy_denied');
    assert.ok(body.reasons.includes('org_unit_outside_grant'));
    const { events } = await t.vault.audit.query({ action: 'policy.decision', decision: 'deny', limit: 1 });
    assert.equal(events[0]!.decision_id, body.decision_id);
    assert.equal(events[0]!.policy_revision, 'three-teams');
    assert.deepEqual(events[0]!.details.reasons, body.reasons);
  });

  it('a stream cut after 40% and resumed with the cursor delivers every record exactly once', async () => {
    const token = await job('team-c');
    const lease = (await requestDataset(token, { purpose: 'pc', ...WINDOW })).json();
    const full = await stream(token, lease.dataset_id);
    const cut = Math.floor(full.lines.length * 0.4);
    const resumed = await stream(token, lease.dataset_id, full.lines[cut - 1]!.cursor);
    const delivered = [...full.lines.slice(0, cut), ...resumed.lines].map((l) => l.payload.tag);
    assert.equal(delivered.length, lease.record_count);
    assert.equal(new Set(delivered).size, delivered.length);
    assert.deepEqual([...delivered].sort(), expectedFor('team-c').map((s) => s.tag).sort());
  });

  it("another team's token cannot stream the lease (403), an expired lease gives 410, and each is audited", async () => {
    const token = await job('team-b');
    const lease = (await requestDataset(token, { purpose: 'pb', ...WINDOW })).json();
    assert.equal((await stream(await job('team-a'), lease.dataset_id)).status, 403);
    assert.equal((await stream(await job('team-b', 'another-job-of-team-b'), lease.dataset_id)).status, 403);
    await sql`update dataset_leases set expires_at = now() - interval '1 second' where dataset_id = ${lease.dataset_id}::uuid`.execute(t.database.db);
    const expired = await stream(token, lease.dataset_id);
    assert.equal(expired.status, 410);
    const { events } = await t.vault.audit.query({ action: 'dataset.stream', decision: 'deny', limit: 3 });
    assert.deepEqual(events.map((e) => e.details.reason), ['lease_expired', 'not_the_requester', 'not_the_requester']);
    assert.ok(events.every((e) => e.decision_id === lease.decision_id));
  });

  it('every page served is on the record with records and bytes', async () => {
    const token = await job('team-a');
    const lease = (await requestDataset(token, { purpose: 'pa', ...WINDOW })).json();
    const { body, lines } = await stream(token, lease.dataset_id);
    const { events } = await t.vault.audit.query({ action: 'dataset.stream', decision: 'allow', limit: 50 });
    const pages = events.filter((e) => e.decision_id === lease.decision_id);
    assert.equal(pages.reduce((n, e) => n + (e.details.records as number), 0), lines.length);
    assert.equal(pages.reduce((n, e) => n + (e.details.bytes as number), 0), Buffer.byteLength(body));
    assert.ok(pages.some((e) => e.details.stream_end === true));
  });

  it("the access report lists every dataset that reached an employee, and an employee may read only their own", async () => {
    const reached = sent.find((s) => s.unit === 'u0')!.employee;
    const auditor = await t.token('auditor');
    const report = (await t.app.inject({ url: `/v1/employees/${reached}/access-report`, headers: { authorization: `Bearer ${auditor}` } })).json();
    assert.ok(report.datasets.length >= 2);
    assert.ok(report.datasets.every((d: { teams: string[] }) => d.teams.includes('team-a')));
    assert.ok(report.datasets.some((d: { streamed: { records_served: number } }) => d.streamed.records_served > 0));
    const untouched = (await t.app.inject({ url: '/v1/employees/e9/access-report', headers: { authorization: `Bearer ${auditor}` } })).json();
    assert.deepEqual(untouched.datasets, []);
    const own = await t.app.inject({ url: `/v1/employees/${reached}/access-report`, headers: { authorization: `Bearer ${await t.token('employee', { sub: reached })}` } });
    assert.equal(own.statusCode, 200);
    const other = await t.app.inject({ url: `/v1/employees/${reached}/access-report`, headers: { authorization: `Bearer ${await t.token('employee', { sub: 'e9' })}` } });
    assert.equal(other.statusCode, 403);

    const env = { VAULT_URL: await listenUrl(t), VAULT_TOKEN: auditor };
    const text = await cli(['audit', 'report', reached], env);
    assert.equal(text.code, 0, text.stderr);
    assert.match(text.stdout, new RegExp(`^${report.datasets.length} dataset\\(s\\) reached the records of ${reached}:`));
    for (const d of report.datasets) assert.ok(text.stdout.includes(d.dataset_id));
    const json = await cli(['audit', 'report', reached, '--json'], env);
    assert.equal(JSON.parse(json.stdout).datasets.length, report.datasets.length);
    const refused = await cli(['audit', 'report', reached], { ...env, VAULT_TOKEN: await t.token('employee', { sub: 'e9' }) });
    assert.equal(refused.code, 1);
    assert.match(refused.stderr, /\(forbidden\)/);
  });
});
