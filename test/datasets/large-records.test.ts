import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { after, before, describe, it } from 'node:test';
import { PAGE_BYTES } from '../../src/datasets/index.js';
import { STORE } from '../support/database.js';
import { postRecords, putRoster, startTestVault, type TestVault } from '../support/vault.js';

const EMPLOYEES = ['big-0', 'big-1', 'big-2'];
const RECORDS = 12;
/** Payload text of each record: about 0.9 MiB, so five records pass a page's 4 MiB budget. */
const PAYLOAD_CHARS = 900 * 1024;
const REQUEST = { purpose: 'autocomplete-model', kinds: ['keystroke'], from: '2026-11-01T00:00:00Z', to: '2026-12-01T00:00:00Z' };

/**
 * Pages are bounded in bytes as well as records: a unit of large records is sent in pages of the
 * budget plus one record, and a page cut short by bytes does not end the unit.
 */
describe(`pages of large records (${STORE})`, () => {
  let inline: TestVault;
  let workers: TestVault;
  let job: string;
  let datasetId: string;

  before(async () => {
    inline = await startTestVault({ env: { VAULT_PAGE_WORKERS: '0' } });
    workers = await startTestVault({ env: { VAULT_PAGE_WORKERS: '2' }, database: inline.database, dataDir: inline.dataDir });
    // Others elsewhere, so that engineering is a small part of the company (a scope of all of it is refused).
    await putRoster(inline, [...EMPLOYEES.map((employee_id) => ({ employee_id, org_unit: 'engineering' })), ...Array.from({ length: 67 }, (_, i) => ({ employee_id: `big-ops-${i}`, org_unit: 'operations' }))]);
    const words = 'lorem ipsum dolor sit amet '.repeat(Math.ceil(PAYLOAD_CHARS / 27)).slice(0, PAYLOAD_CHARS);
    const base = Date.parse('2026-11-20T08:00:00Z');
    for (let i = 0; i < RECORDS; i++) {
      // Half of them are one employee's, enough for that employee's own copy to pass a page's budget.
      const record = { event_id: randomUUID(), employee_id: i % 2 === 0 ? EMPLOYEES[0]! : EMPLOYEES[1 + ((i >> 1) % 2)]!, captured_at: new Date(base + i * 1000).toISOString(), kind: 'keystroke', payload: { window: 'editor', text: `${i} ${words}` } };
      assert.equal((await postRecords(inline, [record])).json().accepted, 1);
    }
    job = await inline.token('training-job', { teams: ['team-autocomplete'], purpose: 'autocomplete-model' });
    const lease = await inline.app.inject({ method: 'POST', url: '/v1/datasets', headers: { authorization: `Bearer ${job}` }, payload: REQUEST });
    assert.equal(lease.statusCode, 201, lease.body);
    datasetId = lease.json().dataset_id;
  });
  after(async () => {
    await workers?.close();
    await inline?.close();
  });

  /** The pages `action` audited, oldest first: records and whether each ended its stream. */
  const pagesOf = async (action: string) => {
    const auditor = await inline.token('auditor');
    const query = await inline.app.inject({ url: `/v1/audit/events?action=${action}&decision=allow&limit=100`, headers: { authorization: `Bearer ${auditor}` } });
    assert.equal(query.statusCode, 200, query.body);
    const events = query.json().events as Array<{ record_count: number; details: { stream_end?: boolean } }>;
    return events.reverse().map((e) => ({ records: e.record_count, end: e.details.stream_end === true }));
  };

  it('sends a unit of 0.9 MiB records five to a page, all of them, in the main thread and in page workers alike', async () => {
    const [a, b] = [
      await inline.app.inject({ url: `/v1/datasets/${datasetId}/records`, headers: { authorization: `Bearer ${job}` } }),
      await workers.app.inject({ url: `/v1/datasets/${datasetId}/records`, headers: { authorization: `Bearer ${job}` } }),
    ];
    assert.equal(a.statusCode, 200);
    assert.equal(b.statusCode, 200);
    const lines = a.body.split('\n').filter(Boolean);
    assert.equal(lines.length, RECORDS);
    assert.deepEqual(
      lines.map((l) => Number((JSON.parse(l) as { payload: { text: string } }).payload.text.split(' ')[0])),
      Array.from({ length: RECORDS }, (_, i) => i),
    );
    assert.ok(b.body === a.body, 'the two instances streamed different bytes');
    // Five records start within the first 4 MiB; the page that holds them is over its budget, so not the last.
    assert.equal(PAGE_BYTES, 4 * 1024 * 1024);
    const expected = [
      { records: 5, end: false },
      { records: 5, end: false },
      { records: 2, end: true },
    ];
    assert.deepEqual(await pagesOf('dataset.stream'), [...expected, ...expected]);
  });

  it("an employee's own copy of large records is paged the same way", async () => {
    const officer = await inline.token('privacy-officer');
    const own = await inline.app.inject({ url: `/v1/employees/${EMPLOYEES[0]}/records`, headers: { authorization: `Bearer ${officer}` } });
    assert.equal(own.statusCode, 200);
    assert.equal(own.body.split('\n').filter(Boolean).length, RECORDS / 2);
    assert.deepEqual(await pagesOf('employee.export'), [
      { records: 5, end: false },
      { records: 1, end: true },
    ]);
  });
});
