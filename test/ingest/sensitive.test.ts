import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { after, before, describe, it } from 'node:test';
import { sql } from 'kysely';
import { STORE } from '../support/database.js';
import { decryptStored, dumpAllTablesAsText } from '../support/records.js';
import { postRecords, putRoster, startTestVault, type TestVault } from '../support/vault.js';

/** Content the incident leaked: each must be dropped at ingest (level 4) or held at level 3. */
const LEVEL_4: Array<[string, Record<string, unknown>, string]> = [
  ['an SSN typed with spaces', { app: 'vscode', text: 'ssn for the form: 123 45 6789' }, 'government_id'],
  ['a card followed by its expiry and CVV', { app: 'chrome', text: 'pay with 4111 1111 1111 1111 exp 12/29 cvv 123' }, 'payment_card'],
  ['an IBAN', { app: 'outlook', text: 'please wire it to DE89 3704 0044 0532 0130 00 today' }, 'bank_account'],
  ['a cloud key', { app: 'terminal', text: 'export AWS_ACCESS_KEY_ID=AKIAQ3EGRTYXWZ7PLM4N' }, 'credential'],
  ['a diagnosis', { app: 'notes', text: 'diagnosed with type 2 diabetes, starting metformin 500 mg twice daily' }, 'health'],
  ['a tax form', { app: 'chrome', text: 'finishing my Form 1040 and the W-2 from my employer' }, 'tax'],
  ['a personal chat', { app: 'Snapchat', text: 'see you at 7' }, 'private_conversation'],
];
const MARKER = `sensitive-marker-${randomUUID()}`;
const WINDOW = { from: '2026-11-01T00:00:00.000Z', to: '2026-11-30T00:00:00.000Z' };

describe(`sensitive content at ingest, end to end through the HTTP API (${STORE})`, () => {
  let t: TestVault;
  const ids = { level4: [] as string[], contact: '', benign: [] as string[] };

  before(async () => {
    t = await startTestVault();
    await putRoster(t, Array.from({ length: 10 }, (_, i) => ({ employee_id: `eng-${i}`, org_unit: 'engineering' })).concat(
      Array.from({ length: 40 }, (_, i) => ({ employee_id: `other-${i}`, org_unit: `unit-${i % 4}` })),
    ));
  });
  after(() => t.close());

  const record = (payload: Record<string, unknown>, i: number) => ({
    event_id: randomUUID(),
    employee_id: `eng-${i % 10}`,
    captured_at: new Date(Date.parse('2026-11-10T09:00:00Z') + i * 60_000).toISOString(),
    kind: 'keystroke',
    payload: { ...payload, note: MARKER },
  });

  it('drops every level-4 record with sensitive_content and its categories, and stores nothing of it', async () => {
    const records = LEVEL_4.map(([, payload], i) => record(payload, i));
    ids.level4 = records.map((r) => r.event_id);
    const result = (await postRecords(t, records)).json();
    assert.equal(result.accepted, 0);
    assert.deepEqual(
      result.dropped.map((d: { index: number; reason: string; categories: string[] }) => [d.index, d.reason, d.categories.includes(LEVEL_4[d.index]![2])]),
      LEVEL_4.map((_, i) => [i, 'sensitive_content', true]),
    );
    const stored = await sql<{ n: number }>`select count(*)::int as n from activity_records where event_id = any(${ids.level4}::uuid[])`.execute(t.database.db);
    assert.equal(stored.rows[0]!.n, 0);
    const dump = await dumpAllTablesAsText(t.database.db);
    for (const text of ['123 45 6789', '4111 1111 1111 1111', 'DE89 3704', 'AKIAQ3EGRTYXWZ7PLM4N', 'metformin', 'Form 1040', MARKER]) assert.ok(!dump.includes(text), `${text} reached the database`);
    const logs = t.logs.join('\n');
    for (const text of ['123 45 6789', 'AKIAQ3EGRTYXWZ7PLM4N', 'metformin']) assert.ok(!logs.includes(text), `${text} reached a log line`);
  });

  it('counts the drops in the batch audit event and in /metrics, by category', async () => {
    const [event] = (await t.vault.audit.query({ action: 'records.ingest', limit: 1 })).events;
    const counted = event!.details.sensitive_content as { records: number; categories: Record<string, number> };
    assert.equal(counted.records, LEVEL_4.length);
    for (const [, , category] of LEVEL_4) assert.ok((counted.categories[category] ?? 0) >= 1, category);
    const metrics = (await t.app.inject({ url: '/metrics' })).body;
    assert.match(metrics, /vault_records_dropped_total\{reason="sensitive_content"\} 7/);
    for (const [, , category] of LEVEL_4) assert.match(metrics, new RegExp(`vault_records_sensitive_total\\{category="${category}"\\} [1-9]`));
  });

  it('stores personal contact data at level 3 with its category, bound in the AAD', async () => {
    const contact = record({ app: 'slack', text: 'my personal mail is jane.doe1987@gmail.com, call me on +1 415 555 0132' }, 20);
    const benign = [record({ app: 'vscode', text: 'const retries = 3; // order 88231 shipped' }, 21), record({ app: 'jira', text: 'health check endpoint returns 200' }, 22)];
    ids.contact = contact.event_id;
    ids.benign = benign.map((r) => r.event_id);
    const result = (await postRecords(t, [contact, ...benign])).json();
    assert.equal(result.accepted, 3, JSON.stringify(result));
    const rows = await t.database.db.selectFrom('activity_records').select(['event_id', 'sensitivity', 'categories']).where('event_id', 'in', [ids.contact, ...ids.benign]).execute();
    const byId = new Map(rows.map((r) => [r.event_id, r]));
    assert.equal(byId.get(ids.contact)!.sensitivity, 3);
    assert.deepEqual(byId.get(ids.contact)!.categories, ['contact_data']);
    for (const id of ids.benign) assert.deepEqual([byId.get(id)!.sensitivity, byId.get(id)!.categories], [2, []]);
    assert.match(String((await decryptStored(t.vault, [ids.contact])).get(ids.contact)), /gmail/);
    // Editing the categories in the clear breaks the record's authentication.
    await sql`update activity_records set categories = '{}' where event_id = ${ids.contact}::uuid`.execute(t.database.db);
    assert.ok((await decryptStored(t.vault, [ids.contact])).get(ids.contact) instanceof Error);
  });

  it('a dataset capped at 2 never holds a record of level 3 or 4', async () => {
    const job = await t.token('training-job', { sub: 'job-ac', teams: ['team-autocomplete'], purpose: 'autocomplete-model' });
    const granted = await t.app.inject({ method: 'POST', url: '/v1/datasets', headers: { authorization: `Bearer ${job}` }, payload: { purpose: 'autocomplete-model', ...WINDOW } });
    assert.equal(granted.statusCode, 201, granted.body);
    assert.equal(granted.json().scope.max_sensitivity, 2);
    const streamed = await t.app.inject({ url: `/v1/datasets/${granted.json().dataset_id}/records`, headers: { authorization: `Bearer ${job}` } });
    const lines = streamed.body.split('\n').filter(Boolean).map((l) => JSON.parse(l) as { sensitivity: number; payload: { text: string } });
    assert.equal(lines.length, ids.benign.length);
    assert.ok(lines.every((l) => l.sensitivity <= 2));
    assert.ok(!streamed.body.includes('gmail'));
  });
});
