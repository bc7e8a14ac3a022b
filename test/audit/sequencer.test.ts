import assert from 'node:assert/strict';
import { randomBytes, randomUUID } from 'node:crypto';
import { after, before, describe, it } from 'node:test';
import { sql } from 'kysely';
import { canonicalEvent } from '../../src/audit/index.js';
import { inTransaction } from '../../src/db/index.js';
import { canonicalJson } from '../../src/encoding/canonical-json.js';
import { STORE } from '../support/database.js';
import { refuseAuditInserts } from '../support/audit.js';
import { makeRecords, postRecords, putRoster, startTestVault, type TestVault } from '../support/vault.js';

const NASTY = ['"quoted" \\ back\\slash', 'tab\there\nnewline\r\u0001\u001f\u007f', 'line\u2028sep\u2029para', 'émoji 🧪 𝄞 ∑', '</script>&<>\'', ''];

async function chained(t: TestVault): Promise<{ events: number; queued: number; head: number }> {
  const one = async (q: string) => (await sql<{ n: number }>`${sql.raw(q)}`.execute(t.database.db)).rows[0]!.n;
  return {
    events: await one('select count(*)::int as n from audit_events'),
    queued: await one('select count(*)::int as n from audit_queue'),
    head: await one('select seq::int as n from audit_head'),
  };
}

describe('the canonical event', () => {
  it('is canonicalJson of {v: 1, ...fields}, for any text', () => {
    for (let i = 0; i < 200; i++) {
      const pick = () => NASTY[Math.floor(Math.random() * NASTY.length)]! + randomUUID().slice(0, i % 9);
      const row = {
        seq: i + 1,
        event_id: randomUUID(),
        occurred_at: new Date(Date.now() - i * 997),
        action: pick(),
        decision: 'allow',
        severity: 'info',
        actor: i % 3 === 0 ? null : pick(),
        actor_roles: i % 2 === 0 ? [] : [pick(), pick()],
        teams: [pick()],
        purpose: i % 4 === 0 ? null : pick(),
        employee_ref: i % 5 === 0 ? null : pick(),
        policy_revision: i % 2 === 0 ? null : pick(),
        record_count: i % 3 === 0 ? null : i * 1_000_003,
        decision_id: i % 2 === 0 ? null : randomUUID(),
        details: canonicalJson({ note: pick(), n: i }),
      };
      assert.equal(canonicalEvent(row), canonicalJson({ v: 1, ...row, occurred_at: row.occurred_at.toISOString() }));
    }
  });
});

describe(`appends queue, the sequencer chains (${STORE})`, () => {
  let t: TestVault;
  before(async () => {
    t = await startTestVault();
    await putRoster(t, [{ employee_id: 'sq-1', org_unit: 'u1' }]);
  });
  after(() => t.close());

  it('chains queued events gaplessly and moments later, without a reader asking', async () => {
    const appended = await Promise.all(Array.from({ length: 40 }, (_, i) => t.vault.audit.appendAlone({ action: 'test.queued', decision: 'info', details: { i } })));
    assert.equal(new Set(appended.map((a) => a.eventId)).size, 40);
    const deadline = Date.now() + 5000;
    while ((await chained(t)).queued > 0 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 20));
    const state = await chained(t);
    assert.deepEqual([state.queued, state.head], [0, state.events], 'all chained, the head on the newest, no gap');
    assert.deepEqual(await t.vault.audit.verify(), { ok: true, checked: state.events });
  });

  it('the database hashes each event exactly as the vault did, whatever the text holds', async () => {
    for (const text of NASTY) {
      await t.vault.audit.appendAlone({
        action: `test.text ${text}`,
        decision: 'deny',
        actor: { sub: text || 'empty', roles: [text, 'auditor'], teams: [text], purpose: text },
        employeeId: text,
        policyRevision: text,
        recordCount: 2 ** 40,
        decisionId: randomUUID(),
        details: { text, nested: [text, { text }] },
      });
    }
    const result = await t.vault.audit.verify();
    assert.equal(result.ok, true, result.reason);
  });

  it('verify while appends and passes go on finds nothing broken', async () => {
    const deadline = Date.now() + 3000;
    const writers = Array.from({ length: 6 }, async (_, w) => {
      for (let n = 0; Date.now() < deadline; n++) await t.vault.audit.appendAlone({ action: 'test.busy', decision: 'info', details: { w, n } });
    });
    const results = [];
    while (Date.now() < deadline) results.push(await t.vault.audit.verify());
    await Promise.all(writers);
    assert.ok(results.length >= 1);
    assert.deepEqual(results.filter((r) => !r.ok), []);
  });

  it('a read right after an action sees its event', async () => {
    const response = await postRecords(t, makeRecords(3, ['sq-1'], 'read-your-writes'));
    assert.equal(response.statusCode, 200);
    const [newest] = (await t.vault.audit.query({ action: 'records.ingest', limit: 1 })).events;
    assert.equal(newest?.record_count, 3);
  });

  it('when the sequencer cannot chain, actions are refused, and it recovers by itself', async () => {
    await refuseAuditInserts(t, true, 'audit_events');
    try {
      await t.vault.audit.appendAlone({ action: 'test.waits_in_queue', decision: 'info' });
      await assert.rejects(t.vault.audit.sequenced(), { code: 'ERR_UNAVAILABLE' });
      const refused = await postRecords(t, makeRecords(2, ['sq-1'], 'unchained'));
      assert.equal(refused.statusCode, 503);
      const ready = await t.app.inject({ url: '/readyz' });
      assert.equal(ready.statusCode, 503);
      assert.equal(ready.json().checks.audit.ok, false);
      assert.ok(t.logs.some((l) => l.includes('"alarm":"audit_unavailable"')));
    } finally {
      await refuseAuditInserts(t, false, 'audit_events');
    }
    const deadline = Date.now() + 5000;
    while ((await t.app.inject({ url: '/readyz' })).statusCode !== 200 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 100));
    assert.equal((await t.app.inject({ url: '/readyz' })).statusCode, 200, 'ready again without a restart');
    assert.equal((await postRecords(t, makeRecords(2, ['sq-1'], 'chained again'))).statusCode, 200);
    await t.vault.audit.sequenced();
    const state = await chained(t);
    assert.deepEqual([state.queued, state.head], [0, state.events]);
    assert.equal((await t.vault.audit.verify()).ok, true);
  });

  it('a queued event forged without the log key is never chained: alarm, actions refused, verify names it', async () => {
    const forgedId = randomUUID();
    await sql`insert into audit_queue (event_id, occurred_at, action, decision, severity, actor, actor_roles, teams, details, mac)
      values (${forgedId}::uuid, now(), 'dataset.stream', 'allow', 'info', 'mallory', '{}', '{}', '{}', ${randomBytes(32)})`.execute(t.database.db);
    try {
      await assert.rejects(t.vault.audit.sequenced(), /tampered/);
      assert.ok(t.logs.some((l) => l.includes('"alarm":"audit_tampered"')));
      assert.equal((await postRecords(t, makeRecords(2, ['sq-1'], 'after forgery'))).statusCode, 503);
      const result = await t.vault.audit.verify();
      assert.equal(result.ok, false);
      assert.match(result.reason ?? '', new RegExp(`queued event ${forgedId}.*fails its MAC`));
      assert.equal((await sql<{ n: number }>`select count(*)::int as n from audit_events where actor = 'mallory'`.execute(t.database.db)).rows[0]!.n, 0);
      await assert.rejects(sql`delete from audit_queue where event_id = ${forgedId}::uuid`.execute(t.database.db), /not chained yet/, 'an unchained event cannot be deleted from the queue');
    } finally {
      // The operator's quarantine: only the table's owner can switch the trigger off.
      await sql`alter table audit_queue disable trigger audit_queue_leaves_chained`.execute(t.database.db);
      await sql`delete from audit_queue where event_id = ${forgedId}::uuid`.execute(t.database.db);
      await sql`alter table audit_queue enable trigger audit_queue_leaves_chained`.execute(t.database.db);
    }
    await t.vault.audit.sequenced();
    assert.equal((await postRecords(t, makeRecords(2, ['sq-1'], 'after cleanup'))).statusCode, 200);
  });

  it('a copy of a queued event, replayed after it was chained, is never chained twice: alarm, actions refused, verify names it', async () => {
    await t.vault.audit.sequenced();
    await sql`create table replay_copy as select * from audit_queue with no data`.execute(t.database.db);
    try {
      // Caught between its commit and the sequencer: hold the head's lock while copying.
      await inTransaction(t.database, async (trx) => {
        await sql`select 1 from audit_head for update`.execute(trx);
        await t.vault.audit.append(trx, { action: 'test.replayed', decision: 'info' });
        await sql`insert into replay_copy select * from audit_queue where action = 'test.replayed'`.execute(trx);
      });
      await t.vault.audit.sequenced();
      await sql`insert into audit_queue (event_id, occurred_at, action, decision, severity, actor, actor_roles, teams, purpose, employee_ref, policy_revision, record_count, decision_id, details, mac)
        select event_id, occurred_at, action, decision, severity, actor, actor_roles, teams, purpose, employee_ref, policy_revision, record_count, decision_id, details, mac from replay_copy`.execute(t.database.db);
      await assert.rejects(t.vault.audit.sequenced(), /already in the chain/);
      assert.equal((await postRecords(t, makeRecords(1, ['sq-1'], 'after replay'))).statusCode, 503);
      const result = await t.vault.audit.verify();
      assert.match(result.reason ?? '', /is a copy of an event already in the chain/);
      // Its original is chained, so the copy may leave the queue.
      await sql`delete from audit_queue where action = 'test.replayed'`.execute(t.database.db);
    } finally {
      await sql`drop table replay_copy`.execute(t.database.db);
    }
    await t.vault.audit.sequenced();
    assert.equal((await t.vault.audit.verify()).ok, true);
  });

  it('a queued event cannot be edited', async () => {
    // The owner's UPDATE privilege is revoked on PostgreSQL; the embedded store runs as superuser and meets the trigger.
    const edit = inTransaction(t.database, async (trx) => {
      await t.vault.audit.append(trx, { action: 'test.edited', decision: 'info' });
      await sql`update audit_queue set actor = 'x' where action = 'test.edited'`.execute(trx);
    });
    await assert.rejects(edit, /append-only|permission denied/);
  });

  it('an action holding its transaction open does not hold up anyone else\'s append', { skip: STORE === 'embedded' && 'the embedded store has one connection' }, async () => {
    let release!: () => void;
    const held = new Promise<void>((resolve) => (release = resolve));
    let appendedInside!: () => void;
    const inside = new Promise<void>((resolve) => (appendedInside = resolve));
    const open = inTransaction(t.database, async (trx) => {
      await t.vault.audit.append(trx, { action: 'test.long_action', decision: 'info' });
      appendedInside();
      await held;
    });
    await inside;
    const started = performance.now();
    await t.vault.audit.appendAlone({ action: 'test.meanwhile', decision: 'info' });
    const waited = performance.now() - started;
    release();
    await open;
    assert.ok(waited < 2000, `an append waited ${waited.toFixed(0)} ms on another transaction`);
    await t.vault.audit.sequenced();
    assert.equal((await t.vault.audit.verify()).ok, true);
  });
});
