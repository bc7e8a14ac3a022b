import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { after, before, describe, it } from 'node:test';
import { sql } from 'kysely';
import { STORE } from '../support/database.js';
import { postRecords, putRoster, startTestVault, type TestVault } from '../support/vault.js';

const MINUTE = 60_000;

/** One keystroke record of `employee` captured at `atMs`. */
function capturedAt(employee: string, atMs: number, payload: Record<string, unknown> = { text: 'work' }) {
  return { event_id: randomUUID(), employee_id: employee, captured_at: new Date(atMs).toISOString(), kind: 'keystroke', payload };
}

async function storedIds(t: TestVault, ids: string[]): Promise<Set<string>> {
  const rows = await sql<{ id: string }>`select event_id::text as id from activity_records where event_id = any(${ids}::uuid[])`.execute(t.database.db);
  return new Set(rows.rows.map((r) => r.id));
}

describe(`pauses, opt-outs and the kill switch hold by captured_at (${STORE})`, () => {
  let t: TestVault;
  let officer: string;
  let admin: string;
  let secondAdmin: string;

  before(async () => {
    t = await startTestVault();
    await putRoster(t, [
      { employee_id: 'alice', org_unit: 'engineering' },
      { employee_id: 'bob', org_unit: 'engineering' },
      { employee_id: 'carol', org_unit: 'engineering' },
      // Enough others that engineering is under the reach limit of one dataset.
      ...Array.from({ length: 20 }, (_, i) => ({ employee_id: `other-${i}`, org_unit: `unit-${i % 4}` })),
    ]);
    officer = await t.token('privacy-officer');
    admin = await t.token('security-admin', { sub: 'admin-1' });
    secondAdmin = await t.token('security-admin', { sub: 'admin-2' });
  });
  after(() => t.close());

  const call = async (method: 'POST' | 'DELETE' | 'GET', url: string, token: string, payload?: unknown) =>
    t.app.inject({ method, url, headers: { authorization: `Bearer ${token}` }, ...(payload === undefined ? {} : { payload: payload as object }) });

  it('drops a record captured 1 ms after a program pause even when it arrives after the resume, and keeps one captured 1 ms before', async () => {
    const paused = await call('POST', '/v1/program/pause', admin, { reason: 'suspected over-collection' });
    assert.equal(paused.statusCode, 200, paused.body);
    const since = Date.parse(paused.json().collection.since);
    assert.equal(paused.json().collection.paused, true);

    // While paused, every batch is refused whole with 503 and Retry-After, and nothing is stored.
    const during = [capturedAt('alice', since - 1), capturedAt('bob', since + 1)];
    const refused = await postRecords(t, during);
    assert.equal(refused.statusCode, 503);
    assert.equal(refused.json().error, 'program_paused');
    assert.ok(Number(refused.headers['retry-after']) > 0);
    assert.equal((await storedIds(t, during.map((r) => r.event_id))).size, 0);

    const resumed = await call('POST', '/v1/program/resume', officer, { reason: 'checked: collection is as declared' });
    assert.equal(resumed.statusCode, 200, resumed.body);
    assert.equal(resumed.json().collection.paused, false);
    const status = (await call('GET', '/v1/program/status', await t.token('employee', { sub: 'alice' }))).json();
    assert.equal(status.collection.paused, false);

    // The agent buffered offline and sends later: the decision is by captured_at, not arrival.
    const { ends_at: endsAt } = (await sql<{ ends_at: Date }>`select ends_at from program_pauses where scope = 'collection'`.execute(t.database.db)).rows[0]!;
    const end = endsAt.getTime();
    const late = [
      capturedAt('alice', since - 1),
      capturedAt('bob', since + 1),
      capturedAt('carol', since + 30 * MINUTE > end ? end - 1 : since + 30 * MINUTE),
      capturedAt('alice', end),
      capturedAt('bob', end + 60 * MINUTE),
    ];
    const result = (await postRecords(t, late)).json();
    assert.deepEqual(result.dropped, [
      { index: 1, reason: 'program_paused' },
      { index: 2, reason: 'program_paused' },
    ]);
    assert.equal(result.accepted, 3);
    const stored = await storedIds(t, late.map((r) => r.event_id));
    assert.deepEqual([...late.keys()].filter((i) => stored.has(late[i]!.event_id)), [0, 3, 4]);

    await t.vault.audit.sequenced();
    const events = (await t.vault.audit.query({ action: 'records.ingest', limit: 5 })).events;
    assert.ok(events.some((e) => e.decision === 'deny' && e.details.reason === 'program_paused'));
    assert.ok(events.some((e) => e.decision === 'allow' && (e.details.dropped_by_reason as Record<string, number> | undefined)?.program_paused === 2));
    const pauses = (await t.vault.audit.query({ action: 'program.pause', limit: 5 })).events;
    assert.equal(pauses[0]!.actor, 'admin-1');
    assert.equal(pauses[0]!.details.reason, 'suspected over-collection');
  });

  it("drops what was captured inside an employee's pause whenever it arrives; the pause ends by itself after 30 minutes", async () => {
    const alice = await t.token('employee', { sub: 'alice' });
    const paused = await call('POST', '/v1/employees/alice/pause', alice, {});
    assert.equal(paused.statusCode, 200, paused.body);
    assert.equal(paused.json().paused, true);
    const until = Date.parse(paused.json().paused_until);
    const { starts_at: startsAt } = (await sql<{ starts_at: Date }>`select starts_at from employee_pauses where employee_id = 'alice' and kind = 'pause'`.execute(t.database.db)).rows[0]!;
    const from = startsAt.getTime();
    assert.equal(until - from, 30 * MINUTE, 'the default pause is 30 minutes');

    const records = [
      capturedAt('alice', from - 1),
      capturedAt('alice', from + 1),
      capturedAt('alice', until - 1),
      capturedAt('alice', until),
      capturedAt('alice', until + 10 * MINUTE),
      capturedAt('bob', from + 1),
    ];
    const result = (await postRecords(t, records)).json();
    // Stamped after the pause but arriving while it runs: a clock running fast (or a forged stamp)
    // does not step over a pause, so those are held too.
    assert.deepEqual(result.dropped, [
      { index: 1, reason: 'paused' },
      { index: 2, reason: 'paused' },
      { index: 3, reason: 'paused' },
      { index: 4, reason: 'paused' },
    ]);
    assert.equal(result.accepted, 2);
    const stored = await storedIds(t, records.map((r) => r.event_id));
    assert.deepEqual([...records.keys()].filter((i) => stored.has(records[i]!.event_id)), [0, 5]);

    // "Was alice paused at this instant?" has an answer after the fact.
    const at = new Date(from + 5 * MINUTE);
    const { rows } = await sql<{ n: number }>`select count(*)::int as n from employee_pauses where employee_id = 'alice' and starts_at <= ${at} and (ends_at is null or ends_at > ${at})`.execute(t.database.db);
    assert.equal(rows[0]!.n, 1);
  });

  it('ends a 30-minute pause by itself: 31 minutes on, records captured after it are kept and the agent may capture', async () => {
    // The window a default pause requested 31 minutes ago leaves behind (the database clock cannot be moved).
    const { now } = (await sql<{ now: Date }>`select clock_timestamp() as now`.execute(t.database.db)).rows[0]!;
    const [from, until] = [now.getTime() - 31 * MINUTE, now.getTime() - MINUTE];
    await sql`insert into employee_pauses (employee_id, kind, starts_at, ends_at, requested_until, started_by)
              values ('carol', 'pause', ${new Date(from)}, ${new Date(until)}, ${new Date(until)}, 'carol')`.execute(t.database.db);
    const records = [capturedAt('carol', from + 1), capturedAt('carol', until - 1), capturedAt('carol', until), capturedAt('carol', now.getTime() + 5 * MINUTE)];
    const result = (await postRecords(t, records)).json();
    assert.deepEqual(result.dropped, [
      { index: 0, reason: 'paused' },
      { index: 1, reason: 'paused' },
    ]);
    assert.equal(result.accepted, 2);
    const status = await call('GET', '/v1/collection/status?employee_id=carol', await t.token('ingest-agent'));
    assert.equal(status.json().capture, true);
    assert.ok(status.json().permit);
  });

  it('ends a pause early on DELETE; what was captured inside it stays dropped', async () => {
    const ended = await call('DELETE', '/v1/employees/alice/pause', officer);
    assert.equal(ended.statusCode, 200, ended.body);
    assert.equal(ended.json().paused, false);
    const { starts_at: startsAt, ends_at: endsAt } = (
      await sql<{ starts_at: Date; ends_at: Date }>`select starts_at, ends_at from employee_pauses where employee_id = 'alice' and kind = 'pause'`.execute(t.database.db)
    ).rows[0]!;
    const records = [capturedAt('alice', startsAt.getTime() + 1), capturedAt('alice', endsAt.getTime()), capturedAt('alice', endsAt.getTime() + 15 * MINUTE)];
    const result = (await postRecords(t, records)).json();
    assert.deepEqual(result.dropped, [{ index: 0, reason: 'paused' }]);
    assert.equal(result.accepted, 2);
  });

  it('drops everything captured from an opt-out until the employee opts back in', async () => {
    const bob = await t.token('employee', { sub: 'bob' });
    const out = await call('POST', '/v1/employees/bob/opt-out', bob);
    assert.equal(out.statusCode, 200, out.body);
    assert.equal(out.json().opted_out, true);
    const { starts_at: startsAt } = (await sql<{ starts_at: Date }>`select starts_at from employee_pauses where employee_id = 'bob' and kind = 'opt_out'`.execute(t.database.db)).rows[0]!;
    const from = startsAt.getTime();
    const first = (await postRecords(t, [capturedAt('bob', from - 1), capturedAt('bob', from + 1), capturedAt('bob', from + 20 * 3600_000)])).json();
    assert.deepEqual(first.dropped, [
      { index: 1, reason: 'opted_out' },
      { index: 2, reason: 'opted_out' },
    ]);
    const back = await call('DELETE', '/v1/employees/bob/opt-out', bob);
    assert.equal(back.json().opted_out, false);
    const { ends_at: endsAt } = (await sql<{ ends_at: Date }>`select ends_at from employee_pauses where employee_id = 'bob' and kind = 'opt_out'`.execute(t.database.db)).rows[0]!;
    const second = (await postRecords(t, [capturedAt('bob', endsAt.getTime() - 1), capturedAt('bob', endsAt.getTime() + 1)])).json();
    assert.deepEqual(second.dropped, [{ index: 0, reason: 'opted_out' }]);
    assert.equal(second.accepted, 1);
  });

  it("the consent view says whether the employee's capture is paused or opted out now", async () => {
    const carol = await t.token('employee', { sub: 'carol' });
    const capture = async () => (await call('GET', '/v1/employees/carol/consent', carol)).json().capture;
    assert.deepEqual(await capture(), { employee_id: 'carol', paused: false, opted_out: false, paused_until: null });
    const paused = await call('POST', '/v1/employees/carol/pause', carol, { minutes: 10 });
    assert.equal(paused.statusCode, 200, paused.body);
    assert.deepEqual(await capture(), paused.json());
    assert.ok(Math.abs(Date.parse((await capture()).paused_until) - (Date.now() + 10 * MINUTE)) < MINUTE);
    await call('DELETE', '/v1/employees/carol/pause', carol);
    await call('POST', '/v1/employees/carol/opt-out', officer);
    assert.deepEqual(await capture(), { employee_id: 'carol', paused: false, opted_out: true, paused_until: null });
    await call('DELETE', '/v1/employees/carol/opt-out', officer);
    assert.equal((await capture()).opted_out, false);
  });

  it('a consent view whose capture state cannot be read is refused and leaves no allow on the log', async () => {
    const carol = await t.token('employee', { sub: 'carol' });
    const consentEvents = async () => {
      await t.vault.audit.sequenced();
      return (await t.vault.audit.query({ action: 'employee.consent', employeeId: 'carol', limit: 1000 })).events;
    };
    const before = (await consentEvents()).length;
    await sql`alter table employee_pauses rename to employee_pauses_away`.execute(t.database.db);
    let failed;
    try {
      failed = await call('GET', '/v1/employees/carol/consent', carol);
    } finally {
      await sql`alter table employee_pauses_away rename to employee_pauses`.execute(t.database.db);
    }
    assert.equal(failed.statusCode, 500, failed.body);
    assert.equal(failed.json().capture, undefined);
    assert.equal((await consentEvents()).length, before, 'the failed read wrote no employee.consent event');
    const read = await call('GET', '/v1/employees/carol/consent', carol);
    assert.equal(read.statusCode, 200, read.body);
    const [allowed] = await consentEvents();
    assert.deepEqual([allowed?.decision, allowed?.actor, allowed?.details.manifest_version], ['allow', 'carol', read.json().manifest_version]);
  });

  it("refuses, and audits, an employee changing someone else's capture, and bad pause lengths", async () => {
    const bob = await t.token('employee', { sub: 'bob' });
    for (const [method, url] of [
      ['POST', '/v1/employees/alice/pause'],
      ['DELETE', '/v1/employees/alice/pause'],
      ['POST', '/v1/employees/alice/opt-out'],
      ['DELETE', '/v1/employees/alice/opt-out'],
    ] as const) {
      const response = await call(method, url, bob, method === 'POST' ? {} : undefined);
      assert.equal(response.statusCode, 403, `${method} ${url}`);
    }
    assert.equal((await call('GET', '/v1/employees/alice/consent', bob)).statusCode, 403);
    await t.vault.audit.sequenced();
    const denied = (await t.vault.audit.query({ action: 'employee.pause', decision: 'deny', limit: 5 })).events;
    assert.equal(denied[0]!.actor, 'bob');
    for (const minutes of [0, 121, 1.5, '30', -1]) {
      const response = await call('POST', '/v1/employees/alice/pause', officer, { minutes });
      assert.equal(response.statusCode, 400, `minutes ${String(minutes)}`);
    }
    assert.equal((await call('POST', '/v1/employees/nobody/pause', officer, {})).statusCode, 404);
    const carolPause = await call('POST', '/v1/employees/carol/pause', officer, { minutes: 120 });
    assert.equal(carolPause.statusCode, 200);
    assert.equal(Date.parse(carolPause.json().paused_until) - Date.now() > 119 * MINUTE, true);
    await call('DELETE', '/v1/employees/carol/pause', officer);
    const nobodyEvents = await sql<{ n: number }>`select count(*)::int as n from employee_pauses where employee_id = 'alice'`.execute(t.database.db);
    assert.equal(nobodyEvents.rows[0]!.n, 1, 'no refused request left a pause behind');
  });

  it('keeps the pause history: a window cannot be deleted or moved, only ended sooner', async () => {
    await assert.rejects(sql`delete from employee_pauses`.execute(t.database.db), /kept/);
    await assert.rejects(sql`update employee_pauses set starts_at = starts_at - interval '1 hour'`.execute(t.database.db), /do not change/);
    await assert.rejects(sql`update program_pauses set ends_at = ends_at + interval '1 hour'`.execute(t.database.db), /do not change/);
    await assert.rejects(sql`delete from collection_events`.execute(t.database.db), /append-only/);
  });

  it('freezing exports refuses dataset requests; resuming needs a second person', async () => {
    const job = await t.token('training-job', { teams: ['team-autocomplete'], purpose: 'autocomplete-model' });
    const frozen = await call('POST', '/v1/program/pause', admin, { reason: 'bad grant suspected', scope: 'exports' });
    assert.equal(frozen.json().exports.paused, true);
    assert.equal(frozen.json().collection.paused, false, 'collection goes on during an export freeze');
    const request = await call('POST', '/v1/datasets', job, { purpose: 'autocomplete-model', kinds: ['keystroke'], org_units: ['engineering'], from: '2026-01-01T00:00:00Z', to: '2027-01-01T00:00:00Z' });
    assert.equal(request.statusCode, 503);
    assert.equal(request.json().error, 'exports_frozen');
    assert.ok(request.headers['retry-after']);

    const asked = await call('POST', '/v1/program/resume', admin, { reason: 'grant fixed', scope: 'exports' });
    assert.equal(asked.statusCode, 202);
    assert.equal(asked.json().exports.paused, true);
    assert.equal(asked.json().exports.resume_requested_by, 'admin-1');
    const again = await call('POST', '/v1/program/resume', admin, { reason: 'grant fixed, really', scope: 'exports' });
    assert.equal(again.statusCode, 409, 'the one who asked cannot confirm');
    const confirmed = await call('POST', '/v1/program/resume', secondAdmin, { reason: 'reviewed the grant change', scope: 'exports' });
    assert.equal(confirmed.statusCode, 200, confirmed.body);
    assert.equal(confirmed.json().exports.paused, false);
    const allowed = await call('POST', '/v1/datasets', job, { purpose: 'autocomplete-model', kinds: ['keystroke'], org_units: ['engineering'], from: '2026-01-01T00:00:00Z', to: '2027-01-01T00:00:00Z' });
    assert.equal(allowed.statusCode, 201, allowed.body);
  });

  it('refuses bad kill-switch requests with 400 and resuming what is not paused with 409', async () => {
    for (const payload of [{}, { reason: '' }, { reason: '   ' }, { reason: 'x', scope: 'everything' }, { reason: 'x'.repeat(501) }, { reason: 'a\u0000b' }, { reason: 'x', extra: 1 }]) {
      const response = await call('POST', '/v1/program/pause', admin, payload);
      assert.equal(response.statusCode, 400, JSON.stringify(payload));
    }
    assert.equal((await call('POST', '/v1/program/resume', admin, { reason: 'nothing to resume' })).statusCode, 409);
    assert.equal((await call('POST', '/v1/program/pause', await t.token('employee', { sub: 'alice' }), { reason: 'x' })).statusCode, 403);
    assert.equal((await call('GET', '/v1/program/status', officer)).json().collection.paused, false);
  });
});
