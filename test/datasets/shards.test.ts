import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { VaultClient } from '../../src/client/index.js';
import { STORE } from '../support/database.js';
import { listenUrl, makeRecords, postRecords, putRoster, startTestVault, type TestVault } from '../support/vault.js';

interface Line {
  cursor: string;
  subject: string;
  captured_at: string;
  payload: { text: string };
}

const ENGINEERS = Array.from({ length: 13 }, (_, i) => `sh-eng-${i}`);
const REQUEST = { purpose: 'autocomplete-model', kinds: ['keystroke'], from: '2026-11-01T00:00:00Z', to: '2026-12-01T00:00:00Z' };

describe(`sharded dataset streams (${STORE})`, () => {
  let t: TestVault;
  let job: string;
  let datasetId: string;
  let recordCount: number;
  let whole: Line[];

  const stream = async (query: string, token = job) => t.app.inject({ url: `/v1/datasets/${datasetId}/records${query}`, headers: { authorization: `Bearer ${token}` } });
  const lines = (body: string): Line[] => body.split('\n').filter(Boolean).map((l) => JSON.parse(l) as Line);
  /** Every line of one shard, read page by page: each request stops early and resumes from the last cursor it got. */
  async function readShard(index: number, of: number, stopAfterLines = 2500): Promise<Line[]> {
    const got: Line[] = [];
    let cursor: string | undefined;
    for (;;) {
      const response = await stream(`?shard=${index}&of=${of}${cursor ? `&after=${encodeURIComponent(cursor)}` : ''}`);
      assert.equal(response.statusCode, 200, response.body);
      const page = lines(response.body).slice(0, stopAfterLines);
      got.push(...page);
      if (page.length < stopAfterLines) return got;
      cursor = page.at(-1)!.cursor;
    }
  }

  before(async () => {
    t = await startTestVault();
    // 13 engineers among 80 enrolled: the lease reaches 16%, under the 20% limit.
    await putRoster(t, [...ENGINEERS.map((employee_id) => ({ employee_id, org_unit: 'engineering' })), ...Array.from({ length: 67 }, (_, i) => ({ employee_id: `sh-ops-${i}`, org_unit: 'operations' }))]);
    for (let i = 0; i < 2; i++) assert.equal((await postRecords(t, makeRecords(3500, ENGINEERS, `shard-${i}`))).json().accepted, 3500);
    job = await t.token('training-job', { teams: ['team-autocomplete'], purpose: 'autocomplete-model' });
    const lease = await t.app.inject({ method: 'POST', url: '/v1/datasets', headers: { authorization: `Bearer ${job}` }, payload: REQUEST });
    assert.equal(lease.statusCode, 201, lease.body);
    ({ dataset_id: datasetId, record_count: recordCount } = lease.json());
    assert.equal(recordCount, 7000);
    const all = await stream('');
    assert.equal(all.statusCode, 200);
    whole = lines(all.body);
    assert.equal(whole.length, recordCount);
  });
  after(() => t.close());

  for (const of of [1, 2, 3, 7]) {
    it(`${of} shard${of === 1 ? ' is' : 's are'} disjoint and together exactly the dataset, each resuming on its own`, async () => {
      const parts = [];
      for (let index = 0; index < of; index++) parts.push(await readShard(index, of));
      const key = (l: Line) => `${l.subject}|${l.captured_at}|${l.payload.text}`;
      const seen = new Map<string, number>();
      const subjects = new Map<string, number>();
      parts.forEach((part, index) => {
        for (const line of part) {
          assert.equal(seen.get(key(line)), undefined, `a record is in shard ${seen.get(key(line))} and shard ${index}`);
          seen.set(key(line), index);
          const shardOfSubject = subjects.get(line.subject) ?? index;
          assert.equal(shardOfSubject, index, 'a subject is split across shards');
          subjects.set(line.subject, index);
        }
      });
      assert.deepEqual(new Set(seen.keys()), new Set(whole.map(key)));
      assert.equal(seen.size, recordCount);
      // Split by subject, evenly by employees: 13 employees over N shards.
      for (const part of parts) {
        const n = new Set(part.map((l) => l.subject)).size;
        assert.ok(n === Math.floor(13 / of) || n === Math.ceil(13 / of), `a shard of ${of} holds ${n} of 13 subjects`);
      }
      if (of === 1) assert.deepEqual(parts[0]!.map((l) => l.cursor), whole.map((l) => l.cursor), 'one shard is the whole stream, cursors and all');
    });
  }

  it('the split is the same on every read of the lease', async () => {
    const first = (await readShard(1, 3)).map((l) => l.payload.text);
    const again = (await readShard(1, 3)).map((l) => l.payload.text);
    assert.deepEqual(again, first);
  });

  it("a shard's cursor resumes only that shard: another shard, another N or the whole stream refuse it", async () => {
    const part = await readShard(0, 2);
    const cursor = encodeURIComponent(part[10]!.cursor);
    const resumed = await stream(`?shard=0&of=2&after=${cursor}`);
    assert.equal(resumed.statusCode, 200);
    assert.equal(lines(resumed.body)[0]!.payload.text, part[11]!.payload.text);
    for (const query of [`?shard=1&of=2&after=${cursor}`, `?shard=0&of=3&after=${cursor}`, `?after=${cursor}`]) {
      const refused = await stream(query);
      assert.equal(refused.statusCode, 400, query);
      assert.equal(refused.json().error, 'invalid_request');
    }
    const unshardedCursor = encodeURIComponent(whole[5]!.cursor);
    assert.equal((await stream(`?shard=0&of=2&after=${unshardedCursor}`)).statusCode, 400);
    assert.equal((await stream(`?shard=0&of=1&after=${unshardedCursor}`)).statusCode, 200, 'one shard of one takes the whole stream’s cursors');
  });

  it('a shard that is not one of N is a 400 with an audited deny, and the schema refuses what is not a number', async () => {
    const auditor = await t.token('auditor');
    const denies = async () =>
      (await t.app.inject({ url: '/v1/audit/events?action=dataset.stream&decision=deny&limit=1000', headers: { authorization: `Bearer ${auditor}` } })).json().events as Array<{ details: Record<string, unknown> }>;
    const before = (await denies()).filter((e) => e.details.reason === 'malformed_shard').length;
    for (const query of ['?shard=2&of=2', '?shard=0', '?of=2', '?shard=5&of=3']) {
      const refused = await stream(query);
      assert.equal(refused.statusCode, 400, query);
      assert.equal(refused.json().error, 'invalid_request');
    }
    const malformed = (await denies()).filter((e) => e.details.reason === 'malformed_shard' && e.details.dataset_id === datasetId);
    assert.equal(malformed.length, before + 4);
    // Newest first: what each refused request asked for, as numbers.
    assert.deepEqual(
      malformed.slice(0, 4).reverse().map((e) => ({ shard: e.details.shard, of: e.details.of })),
      [
        { shard: 2, of: 2 },
        { shard: 0, of: undefined },
        { shard: undefined, of: 2 },
        { shard: 5, of: 3 },
      ],
    );
    for (const query of ['?shard=-1&of=2', '?shard=0&of=0', '?shard=0&of=1025', '?shard=a&of=2', '?shard=01&of=2', '?shard=0&of=2.0']) {
      assert.equal((await stream(query)).statusCode, 400, query);
    }
  });

  it('each page is audited with its shard, and the records it sent add up to the dataset', async () => {
    const fresh = await t.app.inject({ method: 'POST', url: '/v1/datasets', headers: { authorization: `Bearer ${job}` }, payload: REQUEST });
    const id = fresh.json().dataset_id as string;
    for (let index = 0; index < 3; index++) {
      const response = await t.app.inject({ url: `/v1/datasets/${id}/records?shard=${index}&of=3`, headers: { authorization: `Bearer ${job}` } });
      assert.equal(response.statusCode, 200);
    }
    const auditor = await t.token('auditor');
    const events = (await t.app.inject({ url: '/v1/audit/events?action=dataset.stream&decision=allow&limit=1000', headers: { authorization: `Bearer ${auditor}` } })).json()
      .events as Array<{ record_count: number; details: Record<string, unknown> }>;
    const pages = events.filter((e) => e.details.dataset_id === id);
    assert.ok(pages.length >= 3);
    for (const page of pages) assert.equal(page.details.of, 3);
    assert.deepEqual(new Set(pages.map((p) => p.details.shard)), new Set([0, 1, 2]));
    assert.equal(pages.reduce((sum, p) => sum + p.record_count, 0), recordCount);
    assert.equal(pages.filter((p) => p.details.stream_end === true).length, 3, 'each shard ends once');
  });

  it('the TypeScript client streams shards in parallel, disjoint and complete', async () => {
    const url = await listenUrl(t);
    const client = new VaultClient({ url, token: job });
    const parts = await Promise.all(
      [0, 1, 2, 3].map(async (index) => {
        const texts: string[] = [];
        for await (const record of client.records<{ text: string }>(datasetId, { shard: { index, of: 4 } })) texts.push(record.payload.text);
        return texts;
      }),
    );
    const all = parts.flat();
    assert.equal(all.length, recordCount);
    assert.equal(new Set(all).size, recordCount);
    assert.deepEqual(new Set(all), new Set(whole.map((l) => l.payload.text)));
  });
});
