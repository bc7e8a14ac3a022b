import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { after, before, describe, it } from 'node:test';
import { sql } from 'kysely';
import { isVaultError } from '../../src/errors/index.js';
import { STORE } from '../support/database.js';
import { postRecords, putRoster, startTestVault, type TestVault } from '../support/vault.js';

const DAY = 86_400_000;
const RETENTION = { keystroke: 30, prompt: 90 } as const;
const AGES_DAYS = [150, 120, 100, 85, 60, 40, 20, 1];

const monthOf = (at: Date) => at.toISOString().slice(0, 7);

interface Sent {
  eventId: string;
  kind: 'keystroke' | 'prompt';
  capturedAt: Date;
}

describe(`retention (${STORE})`, () => {
  let t: TestVault;
  let second: TestVault;
  const sent: Sent[] = [];
  let now: number;

  before(async () => {
    const env = { VAULT_MAINTENANCE_SECONDS: '3600' };
    t = await startTestVault({ env });
    second = await startTestVault({ database: t.database, dataDir: t.dataDir, env });
    await putRoster(t, [{ employee_id: 'rita', org_unit: 'engineering' }, { employee_id: 'sam', org_unit: 'engineering' }]);
    now = Date.now();
    const records = [];
    for (const age of AGES_DAYS) {
      for (const kind of ['keystroke', 'prompt'] as const) {
        for (const employee of ['rita', 'sam']) {
          const capturedAt = new Date(now - age * DAY);
          const eventId = randomUUID();
          sent.push({ eventId, kind, capturedAt });
          records.push({ event_id: eventId, employee_id: employee, captured_at: capturedAt.toISOString(), kind, payload: { text: `${kind} ${age} days ago` } });
        }
      }
    }
    assert.equal((await postRecords(t, records)).json().accepted, records.length);
    // Then the privacy officer shortens retention: keystrokes 30 days, prompts 90.
    const officer = await t.token('privacy-officer');
    const manifest = (await t.app.inject({ url: '/v1/collection/manifest', headers: { authorization: `Bearer ${officer}` } })).json();
    const kinds = { ...manifest.manifest.kinds, keystroke: { ...manifest.manifest.kinds.keystroke, retention_days: RETENTION.keystroke }, prompt: { ...manifest.manifest.kinds.prompt, retention_days: RETENTION.prompt } };
    for (const kind of Object.keys(kinds)) kinds[kind] = { ...kinds[kind], retention_days: Math.min(kinds[kind].retention_days, RETENTION.prompt) };
    const put = await t.app.inject({ method: 'PUT', url: '/v1/collection/manifest', headers: { authorization: `Bearer ${officer}` }, payload: { kinds, excluded_contexts: manifest.manifest.excluded_contexts } });
    assert.equal(put.statusCode, 200, put.body);
    // Both instances learn the new manifest within their 250 ms poll.
    await new Promise((resolve) => setTimeout(resolve, 600));
  });
  after(async () => {
    await second.close();
    await t.close();
  });

  it('removes exactly the expired records, drops whole expired months, and their keys leave a copy of the database unreadable', async () => {
    // A copy of the database as a backup taken now would hold it: every row and every wrapped key.
    const copy = await t.database.db
      .selectFrom('activity_records as r')
      .innerJoin('employee_data_keys as k', (j) => j.onRef('k.employee_id', '=', 'r.employee_id').onRef('k.dek_version', '=', 'r.dek_version'))
      .select(['r.event_id', 'r.employee_id', 'r.org_unit', 'r.kind', 'r.captured_at', 'r.sensitivity', 'r.dek_version', 'r.envelope', 'r.categories', 'k.wrapped_key', 'k.key_month'])
      .execute();
    assert.equal(copy.length, sent.length);

    const report = await t.vault.retention.run();
    assert.equal(report.ran, true);
    const keepFrom = monthOf(new Date(now - RETENTION.prompt * DAY));
    assert.equal(report.months_kept_from, keepFrom);

    const expiredMonths = [...new Set(sent.map((s) => monthOf(s.capturedAt)).filter((m) => m < keepFrom))].sort();
    assert.deepEqual(report.partitions_dropped, expiredMonths);
    const kept = sent.filter((s) => monthOf(s.capturedAt) >= keepFrom && s.capturedAt.getTime() > now - RETENTION[s.kind] * DAY);
    const deletedInKeptMonths = sent.filter((s) => monthOf(s.capturedAt) >= keepFrom && !kept.includes(s));
    assert.deepEqual(report.records_deleted, deletedInKeptMonths.length ? { keystroke: deletedInKeptMonths.length } : {});
    assert.equal(report.partition_records_dropped, sent.length - kept.length - deletedInKeptMonths.length);

    const stored = await sql<{ id: string }>`select event_id::text as id from activity_records`.execute(t.database.db);
    assert.deepEqual(new Set(stored.rows.map((r) => r.id)), new Set(kept.map((s) => s.eventId)), 'exactly the records within retention are left');

    // The copy's records of an expired month cannot be opened: the month's key is gone, KEK or not.
    for (const row of copy) {
      const open = async () => {
        const key = await t.vault.keyRing.unwrapDataKey({ employeeId: row.employee_id, dekVersion: row.dek_version, wrappedKey: row.wrapped_key!, month: row.key_month });
        return t.vault.keyRing.decryptRecord(key, { eventId: row.event_id, employeeId: row.employee_id, orgUnit: row.org_unit, kind: row.kind, capturedAt: row.captured_at, sensitivity: row.sensitivity, dekVersion: row.dek_version, categories: row.categories }, row.envelope);
      };
      if (monthOf(row.captured_at) < keepFrom) await assert.rejects(open(), (err) => isVaultError(err, 'ERR_KEY_UNAVAILABLE'), `${row.event_id} of ${monthOf(row.captured_at)}`);
      else assert.match((await open()).toString(), /days ago/);
    }
    const live = await t.database.db.selectFrom('employee_data_keys').select(['key_month', 'wrapped_key']).execute();
    assert.ok(live.every((k) => (k.key_month! < keepFrom) === (k.wrapped_key === null)), 'expired months have no live key in the database either');

    await t.vault.audit.sequenced();
    const [event] = (await t.vault.audit.query({ action: 'retention.run', limit: 1 })).events;
    assert.deepEqual(event!.details.partitions_dropped, expiredMonths);
    assert.equal(event!.record_count, sent.length - kept.length);
    const metrics = (await t.app.inject({ url: '/metrics' })).body;
    assert.match(metrics, new RegExp(`vault_retention_partitions_dropped_total ${expiredMonths.length}`));
  });

  it('tells every instance, and no record of an expired month or past its retention is taken again', async () => {
    const deadline = Date.now() + 1000;
    while (second.vault.keyRing.months.holds(monthOf(new Date(now - 150 * DAY)))) {
      assert.ok(Date.now() < deadline, 'the second instance forgot the expired months within 1 s');
      await new Promise((resolve) => setTimeout(resolve, 20));
    }
    const late = [
      { event_id: randomUUID(), employee_id: 'rita', captured_at: new Date(now - 150 * DAY).toISOString(), kind: 'prompt', payload: { text: 'buffered for months' } },
      { event_id: randomUUID(), employee_id: 'rita', captured_at: new Date(now - 40 * DAY).toISOString(), kind: 'keystroke', payload: { text: 'past keystroke retention' } },
      { event_id: randomUUID(), employee_id: 'rita', captured_at: new Date(now - 40 * DAY).toISOString(), kind: 'prompt', payload: { text: 'within prompt retention' } },
    ];
    for (const vault of [t, second]) {
      const result = (await postRecords(vault, late.map((r) => ({ ...r, event_id: randomUUID() })))).json();
      assert.deepEqual(result.dropped, [
        { index: 0, reason: 'expired' },
        { index: 1, reason: 'expired' },
      ]);
      assert.equal(result.accepted, 1);
    }
    // A second run finds nothing more to do.
    const again = await t.vault.retention.run();
    assert.deepEqual([again.partitions_dropped, again.records_deleted, again.month_keys_destroyed], [[], {}, 0]);
  });

  it('runs once at a time: calls in one process share a run, and another instance steps aside while one holds the lock', async () => {
    const [a, b] = await Promise.all([t.vault.retention.run(), t.vault.retention.run()]);
    assert.equal(a, b, 'the second call joined the first');
    // The embedded store has one session in one process, so the process is its lock; on
    // PostgreSQL the lock is a session advisory lock that another instance can hold.
    if (STORE === 'postgres') {
      await t.database.db.connection().execute(async (conn) => {
        await sql`select pg_advisory_lock(hashtext('activity-vault/retention'))`.execute(conn);
        try {
          assert.equal((await second.vault.retention.run()).ran, false, 'held elsewhere: the run steps aside');
        } finally {
          await sql`select pg_advisory_unlock(hashtext('activity-vault/retention'))`.execute(conn);
        }
      });
    }
    assert.equal((await second.vault.retention.run()).ran, true);
  });
});
