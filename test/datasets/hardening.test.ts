import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { after, before, describe, it } from 'node:test';
import { sql } from 'kysely';
import pg from 'pg';
import { STORE } from '../support/database.js';
import { buildTestBundle, installBundle, newSigningKey, shippedSources, trustedKeysFile, type SigningKey } from '../support/policies.js';
import { postRecords, putRoster, startTestVault, type TestVault } from '../support/vault.js';

const GRANTS = {
  'team-a': { org_units: ['u0'], kinds: ['keystroke', 'prompt'], max_sensitivity: 2, purposes: ['pa'] },
  'team-b': { org_units: ['u1'], kinds: ['click'], max_sensitivity: 1, purposes: ['pb'] },
  'team-c': { org_units: ['u2'], kinds: ['keystroke'], max_sensitivity: 2, purposes: ['pc'] },
};
const UNITS = ['u0', 'u1', 'u2'];
const KIND_OF_UNIT: Record<string, string> = { u0: 'keystroke', u1: 'click', u2: 'keystroke' };
const WINDOW = { from: '2026-11-05T00:00:00.000Z', to: '2026-11-15T00:00:00.000Z' };
const PER_UNIT = 60;

interface Line {
  cursor: string;
  subject: string;
  payload: { tag: string };
}

describe(`dataset hardening: revocation, opaque cursors, refusals on the record, the frozen snapshot (${STORE})`, () => {
  let t: TestVault;
  let key: SigningKey;
  const eventIds: string[] = [];
  const job = (team: keyof typeof GRANTS, sub = `job-${team}`) => t.token('training-job', { sub, teams: [team], purpose: GRANTS[team].purposes[0]! });

  async function requestDataset(team: keyof typeof GRANTS) {
    const response = await t.app.inject({ method: 'POST', url: '/v1/datasets', headers: { authorization: `Bearer ${await job(team)}` }, payload: { purpose: GRANTS[team].purposes[0], ...WINDOW } });
    assert.equal(response.statusCode, 201, response.body);
    return response.json() as { dataset_id: string; decision_id: string; record_count: number; employee_count: number };
  }

  async function stream(team: keyof typeof GRANTS, datasetId: string, afterCursor?: string) {
    const query = afterCursor === undefined ? '' : `?after=${encodeURIComponent(afterCursor)}`;
    const response = await t.app.inject({ url: `/v1/datasets/${datasetId}/records${query}`, headers: { authorization: `Bearer ${await job(team)}` } });
    const lines = response.statusCode === 200 ? response.body.split('\n').filter(Boolean).map((l) => JSON.parse(l) as Line) : [];
    return { status: response.statusCode, lines, json: () => response.json() as { error: string; message: string } };
  }

  async function lastEvent(action: string, decision: string) {
    const { events } = await t.vault.audit.query({ action, decision, limit: 1 });
    return events[0]!;
  }

  async function install(revision: string, options: { grants: Record<string, unknown>; extraRego?: string }) {
    const { rego } = await shippedSources();
    const archive = await buildTestBundle({ key, revision, data: { grants: options.grants }, rego: rego + (options.extraRego ?? '') });
    await installBundle(t, archive, revision);
  }

  before(async () => {
    key = await newSigningKey();
    t = await startTestVault({ env: { VAULT_BUNDLE_KEYS_FILE: await trustedKeysFile(key), VAULT_MAX_SCOPE_FRACTION: '1' } });
    await install('grants-v1', { grants: GRANTS });
    // e0..e29 have records; e30..e32 are enrolled in u0..u2 and have none (yet).
    const employees = Array.from({ length: 33 }, (_, i) => ({ employee_id: `e${i}`, org_unit: UNITS[i % 3]! }));
    await putRoster(t, employees);
    const base = Date.parse('2026-11-06T00:00:00Z');
    const records = Array.from({ length: PER_UNIT * 3 }, (_, i) => {
      const employee = employees[i % 30]!;
      const eventId = randomUUID();
      eventIds.push(eventId);
      return { event_id: eventId, employee_id: employee.employee_id, captured_at: new Date(base + i * 60_000).toISOString(), kind: KIND_OF_UNIT[employee.org_unit]!, payload: { tag: `r${i}` } };
    });
    const result = (await postRecords(t, records)).json();
    assert.equal(result.accepted, records.length);
  });
  after(() => t.close());

  describe('opaque cursors, one dataset each', () => {
    it('a cursor carries no event id, and the same record has unrelated cursors in two datasets', async () => {
      const [first, second] = [await requestDataset('team-a'), await requestDataset('team-a')];
      const [a, b] = [await stream('team-a', first.dataset_id), await stream('team-a', second.dataset_id)];
      assert.equal(a.lines.length, PER_UNIT);
      assert.deepEqual(a.lines.map((l) => l.payload.tag), b.lines.map((l) => l.payload.tag), 'the same records in the same order');
      const compact = eventIds.map((id) => id.replaceAll('-', ''));
      for (const line of [...a.lines, ...b.lines]) {
        const text = line.cursor.toLowerCase();
        assert.ok(!eventIds.some((id) => text.includes(id)) && !compact.some((id) => text.includes(id)), `cursor ${line.cursor} carries an event id`);
      }
      const other = new Set(b.lines.map((l) => l.cursor));
      assert.ok(a.lines.every((l) => !other.has(l.cursor)), 'no cursor is shared between datasets');
      // A shared prefix of the same length would still link records: none may share more than chance allows.
      assert.ok(a.lines.every((l, i) => l.cursor.slice(0, 12) !== b.lines[i]!.cursor.slice(0, 12)));
    });

    it('a cursor resumes its own dataset after the record that carried it', async () => {
      const lease = await requestDataset('team-a');
      const full = await stream('team-a', lease.dataset_id);
      const resumed = await stream('team-a', lease.dataset_id, full.lines[19]!.cursor);
      assert.equal(resumed.status, 200);
      assert.deepEqual(resumed.lines.map((l) => l.payload.tag), full.lines.slice(20).map((l) => l.payload.tag));
    });

    it("another dataset's cursor is a 400 and an audited, high-severity deny; it is not resumed from", async () => {
      const [mine, theirs] = [await requestDataset('team-a'), await requestDataset('team-a')];
      const foreign = (await stream('team-a', theirs.dataset_id)).lines[10]!.cursor;
      const response = await stream('team-a', mine.dataset_id, foreign);
      assert.equal(response.status, 400);
      assert.equal(response.json().error, 'invalid_request');
      const event = await lastEvent('dataset.stream', 'deny');
      assert.equal(event.decision_id, mine.decision_id);
      assert.equal(event.details.reason, 'cursor_not_of_this_dataset');
      assert.equal(event.severity, 'high');
    });

    it('a cursor with one bit flipped, in its tag or its sealed position, is a 400 and a high-severity deny; the stream is not resumed', async () => {
      const lease = await requestDataset('team-a');
      const valid = (await stream('team-a', lease.dataset_id)).lines[7]!.cursor;
      for (const bit of [3, 8 * 16 + 5, 8 * 41]) {
        const bytes = Buffer.from(valid.slice(3), 'base64url');
        bytes[bit >> 3]! ^= 1 << (bit & 7);
        const response = await stream('team-a', lease.dataset_id, `${valid.slice(0, 3)}${bytes.toString('base64url')}`);
        assert.equal(response.status, 400, JSON.stringify(response.json()));
        assert.equal(response.json().error, 'invalid_request');
        const event = await lastEvent('dataset.stream', 'deny');
        assert.equal(event.decision_id, lease.decision_id);
        assert.equal(event.details.reason, 'cursor_not_of_this_dataset');
        assert.equal(event.severity, 'high');
      }
    });

    for (const [name, cursorOf] of [
      ['a tampered cursor', (valid: string) => `${valid.slice(0, -3)}${valid.endsWith('AAA') ? 'BBB' : 'AAA'}`],
      ['a cursor under the retired c1 prefix', (valid: string) => `c1.${valid.slice(3)}`],
      ['a cursor of the old plaintext format that overflows', () => `0.9999999999999999.${randomUUID()}`],
      ['a cursor with an org unit out of range', () => `99.1762387200000.${randomUUID()}`],
      ['garbage', () => 'not a cursor at all'],
      ['an empty cursor', () => ''],
    ] as const) {
      it(`${name} is a 400 with an audit event, never a 500`, async () => {
        const lease = await requestDataset('team-a');
        const valid = (await stream('team-a', lease.dataset_id)).lines[5]!.cursor;
        const response = await stream('team-a', lease.dataset_id, cursorOf(valid));
        assert.equal(response.status, 400, JSON.stringify(response.json()));
        assert.equal(response.json().error, 'invalid_request');
        const event = await lastEvent('dataset.stream', 'deny');
        assert.equal(event.decision_id, lease.decision_id);
        assert.match(String(event.details.reason), /^(cursor_not_of_this_dataset|malformed_cursor)$/);
      });
    }
  });

  describe('dataset ids are case-exact', () => {
    it('an uppercased dataset id is not found (404, audited), never decrypt_failed or a tamper alarm', async () => {
      const lease = await requestDataset('team-a');
      const logsBefore = t.logs.length;
      for (const id of [lease.dataset_id.toUpperCase(), lease.dataset_id.replace(/[a-f]/, (c) => c.toUpperCase())]) {
        if (id === lease.dataset_id) continue;
        const response = await stream('team-a', id);
        assert.equal(response.status, 404, JSON.stringify(response.json()));
        assert.equal(response.json().error, 'not_found');
        const event = await lastEvent('dataset.stream', 'deny');
        assert.equal(event.details.reason, 'no_such_dataset');
        assert.equal(event.details.dataset_id, id);
      }
      const later = t.logs.slice(logsBefore).join('\n');
      assert.ok(!/decrypt|alarm/i.test(later), later);
      assert.equal((await stream('team-a', lease.dataset_id)).status, 200, 'the id as issued still streams');
    });
  });

  describe('access reports', () => {
    it("an employee reading another employee's access report is a 403 with an audit event", async () => {
      const response = await t.app.inject({ url: '/v1/employees/e2/access-report', headers: { authorization: `Bearer ${await t.token('employee', { sub: 'e1' })}` } });
      assert.equal(response.statusCode, 403);
      assert.equal(response.json().error, 'forbidden');
      const event = await lastEvent('employee.access_report', 'deny');
      assert.equal(event.actor, 'e1');
      assert.equal(event.details.reason, 'not_own_report');
      assert.equal(event.employee_ref, t.vault.audit.employeeRef('e2'));
      const own = await t.app.inject({ url: '/v1/employees/e1/access-report', headers: { authorization: `Bearer ${await t.token('employee', { sub: 'e1' })}` } });
      assert.equal(own.statusCode, 200);
    });

    it('a report of an employee not on the roster is a 404 with an audit event', async () => {
      const response = await t.app.inject({ url: '/v1/employees/nobody-here/access-report', headers: { authorization: `Bearer ${await t.token('auditor')}` } });
      assert.equal(response.statusCode, 404);
      const event = await lastEvent('employee.access_report', 'deny');
      assert.equal(event.details.reason, 'no_such_employee');
    });
  });

  describe('the lease is frozen in the database snapshot it was counted under', () => {
    it('a record in range whose ingest committed after the count is neither streamed nor missing from the reach', async () => {
      const lease = await requestDataset('team-c');
      // e32 (u2) had no record: its first one is ingested after the lease's count. Its transaction is
      // back-dated to before the freeze, as an ingest that began before the lease and committed after it.
      const late = { event_id: randomUUID(), employee_id: 'e32', captured_at: '2026-11-07T12:00:00.000Z', kind: 'keystroke', payload: { tag: 'late' } };
      assert.equal((await postRecords(t, [late])).json().accepted, 1);
      await sql`update activity_records set ingested_at = (select frozen_at - interval '1 second' from dataset_leases where dataset_id = ${lease.dataset_id}::uuid)
        where event_id = ${late.event_id}::uuid`.execute(t.database.db);

      const streamed = await stream('team-c', lease.dataset_id);
      assert.equal(streamed.status, 200);
      assert.equal(streamed.lines.length, lease.record_count, 'the stream holds exactly the records counted');
      assert.ok(streamed.lines.every((l) => l.payload.tag !== 'late'));
      const report = (await t.app.inject({ url: '/v1/employees/e32/access-report', headers: { authorization: `Bearer ${await t.token('auditor')}` } })).json();
      assert.ok(report.datasets.every((d: { dataset_id: string }) => d.dataset_id !== lease.dataset_id), 'the lease did not reach e32');
      const next = await requestDataset('team-c');
      assert.equal(next.record_count, lease.record_count + 1, 'a lease granted afterwards holds it');
      assert.equal(next.employee_count, lease.employee_count + 1);
      assert.equal((await stream('team-c', next.dataset_id)).lines.length, next.record_count);
    });

    it('an ingest transaction open across the grant and committed after it stays out of the lease (PostgreSQL)', { skip: STORE !== 'postgres' && 'one connection on the embedded store' }, async () => {
      // A second connection holds an insert open while the lease is counted, then commits.
      const client = new pg.Client({ connectionString: t.fresh!.url });
      await client.connect();
      try {
        await client.query('begin');
        await client.query(
          `insert into activity_records (event_id, captured_at, employee_id, org_unit, kind, sensitivity, dek_version, envelope)
           values ($1, '2026-11-07T13:00:00Z', 'e32', 'u2', 'keystroke', 0, 1, '\\x00')`,
          [randomUUID()],
        );
        const lease = await requestDataset('team-c');
        await client.query('commit');
        const streamed = await stream('team-c', lease.dataset_id);
        assert.equal(streamed.lines.length, lease.record_count);
        const { events } = await t.vault.audit.query({ action: 'dataset.stream', decision: 'allow', limit: 20 });
        const pages = events.filter((e) => e.decision_id === lease.decision_id);
        assert.ok(pages.length > 0);
        for (const page of pages) assert.deepEqual(page.details.skipped, { not_enrolled: 0, erased: 0, failed_authentication: 0 }, 'the stream read no record the count did not see');
      } finally {
        await client.end();
      }
    });

    it('the lease is frozen at the database clock', async () => {
      const lease = await requestDataset('team-b');
      const row = await sql<{ skew_ms: number }>`select extract(epoch from (now() - frozen_at)) * 1000 as skew_ms
        from dataset_leases where dataset_id = ${lease.dataset_id}::uuid`.execute(t.database.db);
      assert.ok(Number(row.rows[0]!.skew_ms) >= 0, 'frozen_at is not ahead of the database clock');
    });
  });

  describe('the route document says what the stream sends', () => {
    it('/openapi.json declares the 200 as NDJSON and the errors as JSON', async () => {
      const doc = (await t.app.inject('/openapi.json')).json();
      const responses = doc.paths['/v1/datasets/{id}/records'].get.responses;
      assert.deepEqual(Object.keys(responses['200'].content), ['application/x-ndjson']);
      for (const status of ['4XX', '5XX']) {
        assert.deepEqual(Object.keys(responses[status].content), ['application/json'], status);
        assert.ok(responses[status].content['application/json'].schema, status);
      }
      const refused = await stream('team-a', randomUUID());
      assert.equal(refused.status, 404);
      const response = await t.app.inject({ url: `/v1/datasets/${randomUUID()}/records`, headers: { authorization: `Bearer ${await job('team-a')}` } });
      assert.match(String(response.headers['content-type']), /^application\/json/);
    });
  });

  // Last: these activations change what every lease above is granted.
  describe('revocation reaches open leases', () => {
    it('a revision that removes a grant, or denies the request in its rules, ends open leases: 403, audited, for good', async () => {
      const [a, b, c] = [await requestDataset('team-a'), await requestDataset('team-b'), await requestDataset('team-c')];
      const first = await stream('team-a', a.dataset_id);
      assert.equal(first.status, 200);
      const cursor = first.lines[9]!.cursor;

      // team-a loses its grant; team-c keeps its grant but the rules now retire its purpose.
      const { 'team-a': _removed, ...withoutA } = GRANTS;
      await install('grants-v2', { grants: withoutA, extraRego: '\ndeny_reasons contains "purpose_retired" if purpose == "pc"\n' });

      for (const [team, lease, after, reason] of [
        ['team-a', a, undefined, 'no_grant_for_team'],
        ['team-a', a, cursor, undefined],
        ['team-c', c, undefined, 'purpose_retired'],
      ] as const) {
        const refused = await stream(team, lease.dataset_id, after);
        assert.equal(refused.status, 403, `${team} ${after ? 'resume' : 'open'}`);
        assert.equal(refused.json().error, 'lease_revoked');
        const event = await lastEvent('dataset.stream', 'deny');
        assert.equal(event.decision_id, lease.decision_id);
        assert.equal(event.details.reason, 'lease_revoked');
        if (reason) {
          assert.equal(event.policy_revision, 'grants-v2');
          assert.deepEqual(event.details.reasons, [reason]);
          assert.equal(event.details.lease_revision, 'grants-v1');
        }
      }
      assert.equal((await stream('team-b', b.dataset_id)).status, 200, 'a lease the revision still grants streams');

      // The grant comes back: a revoked lease stays ended, a new request is decided on its own.
      await install('grants-v3', { grants: GRANTS });
      const again = await stream('team-a', a.dataset_id);
      assert.equal(again.status, 403);
      assert.equal(again.json().error, 'lease_revoked');
      const fresh = await requestDataset('team-a');
      assert.equal((await stream('team-a', fresh.dataset_id)).status, 200);
      const stored = await sql<{ revoked_revision: string | null }>`select revoked_revision from dataset_leases where dataset_id = ${a.dataset_id}::uuid`.execute(t.database.db);
      assert.equal(stored.rows[0]!.revoked_revision, 'grants-v2');
    });
  });
});
