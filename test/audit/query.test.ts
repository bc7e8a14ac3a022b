import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import type { AuditEventInput } from '../../src/audit/index.js';
import { STORE } from '../support/database.js';
import { cli } from '../support/cli.js';
import { listenUrl, startTestVault, type TestVault } from '../support/vault.js';

const TOTAL = 100_000;
const CHUNKS = 10;
const ACTIONS = ['records.ingest', 'roster.upsert', 'policy.decision', 'dataset.stream', 'policy.stage'];
const DECISIONS = ['allow', 'deny', 'info'] as const;

interface Generated {
  actor: string;
  teams: string[];
  action: string;
  decision: string;
  employee: string;
  chunk: number;
}

function generated(i: number): Generated {
  return {
    actor: `job-${i % 50}`,
    teams: [`team-${i % 10}`, ...(i % 7 === 0 ? ['team-shared'] : [])],
    action: ACTIONS[i % ACTIONS.length]!,
    decision: DECISIONS[(i * 7) % 3]!,
    employee: `emp-${i % 200}`,
    chunk: Math.floor(i / (TOTAL / CHUNKS)),
  };
}

describe(`audit queries over ${TOTAL.toLocaleString('en-US')} events (${STORE})`, () => {
  let t: TestVault;
  let token: string;
  let base: number;
  const chunkTimes: Array<{ from: Date; to: Date }> = [];
  const events: Generated[] = [];

  before(async () => {
    t = await startTestVault();
    token = await t.token('auditor', { sub: 'auditor-9' });
    base = (await t.vault.audit.verify()).checked;
    for (let c = 0; c < CHUNKS; c++) {
      const from = new Date();
      await new Promise((r) => setTimeout(r, 5));
      const inputs: AuditEventInput[] = [];
      for (let i = c * (TOTAL / CHUNKS); i < (c + 1) * (TOTAL / CHUNKS); i++) {
        const g = generated(i);
        events.push(g);
        inputs.push({ action: g.action, decision: g.decision as 'allow', actor: { sub: g.actor, roles: ['training-job'], teams: g.teams, purpose: 'p' }, employeeId: g.employee, recordCount: i, details: { i } });
      }
      for (let k = 0; k < inputs.length; k += 5000) {
        await t.database.db.transaction().execute((trx) => t.vault.audit.appendMany(trx, inputs.slice(k, k + 5000)));
      }
      await new Promise((r) => setTimeout(r, 5));
      chunkTimes.push({ from, to: new Date() });
    }
  });
  after(() => t.close());

  type EventView = { seq: number; actor: string; teams: string[]; action: string; decision: string; employee_ref: string | null; record_count: number };
  async function all(params: Record<string, string>): Promise<EventView[]> {
    const out: EventView[] = [];
    let cursor: string | null = null;
    do {
      const qs: URLSearchParams = new URLSearchParams({ ...params, limit: '1000', ...(cursor ? { cursor } : {}) });
      const response = await t.app.inject({ url: `/v1/audit/events?${qs}`, headers: { authorization: `Bearer ${token}` } });
      assert.equal(response.statusCode, 200, response.body);
      const page = response.json() as { events: EventView[]; next_cursor: string | null };
      out.push(...page.events);
      cursor = page.next_cursor;
    } while (cursor);
    const seqs = out.map((e) => e.seq);
    assert.ok(seqs.every((s, i) => i === 0 || s < seqs[i - 1]!), 'newest first, each event once');
    return out;
  }

  const expected = (pred: (g: Generated) => boolean) => events.filter(pred).length;

  it('the chain of 100k events verifies', async () => {
    const result = await t.vault.audit.verify();
    assert.deepEqual([result.ok, result.checked >= base + TOTAL], [true, true]);
  });

  it('filters by actor, following the cursor through every page', async () => {
    const got = await all({ actor: 'job-7' });
    assert.equal(got.length, expected((g) => g.actor === 'job-7'));
    assert.ok(got.every((e) => e.actor === 'job-7'));
  });

  it('filters by team', async () => {
    const got = await all({ team: 'team-shared', action: 'dataset.stream' });
    assert.equal(got.length, expected((g) => g.teams.includes('team-shared') && g.action === 'dataset.stream'));
    assert.ok(got.every((e) => e.teams.includes('team-shared') && e.action === 'dataset.stream'));
  });

  it('filters by employee id (stored only as a keyed hash)', async () => {
    const got = await all({ employee_id: 'emp-42' });
    assert.equal(got.length, expected((g) => g.employee === 'emp-42'));
    assert.equal(new Set(got.map((e) => e.employee_ref)).size, 1);
    assert.ok(!JSON.stringify(got).includes('emp-42'));
  });

  it('filters by action and decision', async () => {
    const got = await all({ action: 'policy.decision', decision: 'deny' });
    assert.equal(got.length, expected((g) => g.action === 'policy.decision' && g.decision === 'deny'));
  });

  it('filters by time window', async () => {
    const got = await all({ from: chunkTimes[3]!.from.toISOString(), to: chunkTimes[5]!.to.toISOString(), actor: 'job-3' });
    assert.equal(got.length, expected((g) => g.chunk >= 3 && g.chunk <= 5 && g.actor === 'job-3'));
    assert.ok(got.every((e) => Math.floor(e.record_count / (TOTAL / CHUNKS)) >= 3 && Math.floor(e.record_count / (TOTAL / CHUNKS)) <= 5));
  });

  it('pages by default 100 at a time and refuses bad paging input', async () => {
    const first = (await t.app.inject({ url: '/v1/audit/events', headers: { authorization: `Bearer ${token}` } })).json();
    assert.equal(first.events.length, 100);
    assert.ok(first.next_cursor);
    for (const qs of ['limit=0', 'limit=1001', 'cursor=garbage!', 'decision=maybe', 'from=yesterday', 'nope=1']) {
      const response = await t.app.inject({ url: `/v1/audit/events?${qs}`, headers: { authorization: `Bearer ${token}` } });
      assert.equal(response.statusCode, 400, qs);
    }
  });

  it('records each query of the log as an event of its own', async () => {
    const { events: mine } = await t.vault.audit.query({ actor: 'auditor-9', action: 'audit.query', limit: 5 });
    assert.ok(mine.length > 0);
    assert.ok('filters' in mine[0]!.details);
  });

  it('audit query on the command line pages through a filter as CSV or JSON', async () => {
    const env = { VAULT_URL: await listenUrl(t), VAULT_TOKEN: token };
    const csv = await cli(['audit', 'query', '--actor', 'job-11', '--action', 'roster.upsert', '--all', '--limit', '250', '--format', 'csv'], env);
    assert.equal(csv.code, 0, csv.stderr);
    const lines = csv.stdout.trim().split('\n');
    assert.match(lines[0]!, /^seq,occurred_at,action,decision/);
    assert.equal(lines.length - 1, expected((g) => g.actor === 'job-11' && g.action === 'roster.upsert'));
    const json = await cli(['audit', 'query', '--team', 'team-3', '--limit', '7'], env);
    const page = JSON.parse(json.stdout);
    assert.equal(page.events.length, 7);
    assert.ok(page.next_cursor);
    const bad = await cli(['audit', 'query', '--format', 'xml'], env);
    assert.equal(bad.code, 2);
  });

  it('only auditors may read the log', async () => {
    const response = await t.app.inject({ url: '/v1/audit/events', headers: { authorization: `Bearer ${await t.token('security-admin')}` } });
    assert.equal(response.statusCode, 403);
  });
});
