import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { after, before, describe, it } from 'node:test';
import { sql } from 'kysely';
import { loadClassifierLists } from '../../src/classify/index.js';
import { loadAead } from '../../src/crypto/index.js';
import { isVaultError } from '../../src/errors/index.js';
import { SealWorkers } from '../../src/ingest/index.js';
import { buildCorpus } from '../classify/corpus/index.js';
import { STORE } from '../support/database.js';
import { decryptStored } from '../support/records.js';
import { postRecords, putRoster, startTestVault, type TestVault } from '../support/vault.js';

const EMPLOYEES = Array.from({ length: 20 }, (_, i) => `sw-${i}`);
// Enough for several chunks of 500 in flight, and every category of the labelled corpus.
const CORPUS = buildCorpus().slice(0, 1800);

/**
 * The same store written by two instances: one classifies and seals in its main thread, the other
 * in two seal workers. Where a record was sealed must not show: the same levels, categories and
 * drops, envelopes that open under the stored keys and bindings, the same audit.
 */
describe(`seal workers (${STORE})`, () => {
  let inline: TestVault;
  let workers: TestVault;

  before(async () => {
    inline = await startTestVault({ env: { VAULT_INGEST_WORKERS: '0' } });
    workers = await startTestVault({ env: { VAULT_INGEST_WORKERS: '2' }, database: inline.database, dataDir: inline.dataDir });
    await putRoster(inline, EMPLOYEES.map((employee_id) => ({ employee_id, org_unit: 'engineering' })));
  });
  after(async () => {
    await workers?.close();
    await inline?.close();
  });

  const batchOf = (tag: string) =>
    CORPUS.map((item, i) => ({
      event_id: randomUUID(),
      employee_id: EMPLOYEES[i % EMPLOYEES.length]!,
      captured_at: new Date(Date.parse('2026-11-03T08:00:00Z') + i * 1000).toISOString(),
      kind: item.kind,
      payload: { ...item.payload, batch: tag },
      ...(i % 7 === 0 ? { sensitivity: 2 } : {}),
    }));

  it('stores what the main thread stores: the same levels, categories and drops, and envelopes that open', async () => {
    const [a, b] = [batchOf('inline'), batchOf('workers')];
    const [byMain, byWorkers] = [(await postRecords(inline, a)).json(), (await postRecords(workers, b)).json()];
    assert.ok(byMain.accepted > 500 && byMain.rejected.length === 0, `accepted ${byMain.accepted}, rejected ${byMain.rejected.length}`);
    assert.deepEqual(
      { accepted: byWorkers.accepted, duplicates: byWorkers.duplicates, dropped: byWorkers.dropped, rejected: byWorkers.rejected },
      { accepted: byMain.accepted, duplicates: byMain.duplicates, dropped: byMain.dropped, rejected: byMain.rejected },
    );
    assert.ok(byWorkers.dropped.some((d: { reason: string }) => d.reason === 'sensitive_content'), 'the corpus has level-4 records');
    const chunks = async (t: TestVault) => {
      const text = (await t.app.inject({ url: '/metrics' })).body;
      const count = (thread: string) => Number(new RegExp(`^vault_ingest_chunks_sealed_total\\{thread="${thread}"\\} (\\d+)$`, 'm').exec(text)?.[1]);
      return { main: count('main'), worker: count('worker') };
    };
    const chunksOf = Math.ceil(CORPUS.length / 500);
    assert.deepEqual(await chunks(workers), { main: 0, worker: chunksOf }, 'the workers instance sealed in its main thread');
    assert.deepEqual(await chunks(inline), { main: chunksOf, worker: 0 });

    const stored = async (ids: string[]) =>
      (await sql<{ event_id: string; sensitivity: number; categories: string[] }>`select event_id::text, sensitivity, categories from activity_records where event_id = any(${ids}::uuid[])`.execute(inline.database.db)).rows;
    const levels = (rows: Awaited<ReturnType<typeof stored>>, ids: string[]) => {
      const byId = new Map(rows.map((r) => [r.event_id, [r.sensitivity, r.categories]]));
      return ids.map((id) => byId.get(id) ?? null);
    };
    const [idsA, idsB] = [a.map((r) => r.event_id), b.map((r) => r.event_id)];
    assert.deepEqual(levels(await stored(idsB), idsB), levels(await stored(idsA), idsA));

    const opened = await decryptStored(workers.vault, idsB);
    assert.equal(opened.size, byWorkers.accepted);
    b.forEach((r) => {
      const plaintext = opened.get(r.event_id);
      if (plaintext === undefined) return;
      assert.ok(typeof plaintext === 'string', `${r.event_id} does not open: ${String(plaintext)}`);
      assert.deepEqual(JSON.parse(plaintext), r.payload);
    });
  });

  it('a batch sent again is all duplicates, and a batch is audited as the main thread audits it', async () => {
    const batch = batchOf('again').slice(0, 700);
    const first = (await postRecords(workers, batch)).json();
    const again = (await postRecords(workers, batch)).json();
    assert.equal(again.accepted, 0);
    assert.equal(again.duplicates, first.accepted);
    const [event] = (await workers.vault.audit.query({ action: 'records.ingest', limit: 2 })).events.slice(1);
    assert.equal(event!.record_count, first.accepted);
    assert.equal(event!.details.received, 700);
  });

  it('cuts chunks by payload size too, so large records reach a worker a few at a time', async () => {
    const count = async () => Number(/^vault_ingest_chunks_sealed_total\{thread="worker"\} (\d+)$/m.exec((await workers.app.inject({ url: '/metrics' })).body)?.[1]);
    const before = await count();
    // 700 KB of text each: two fit in a chunk of 2 MB, a third does not.
    const large = batchOf('large').slice(0, 6).map((r, i) => ({ ...r, kind: 'keystroke', payload: { app: 'editor', text: `${'lorem ipsum dolor sit amet '.repeat(26_000)} ${i}` } }));
    const response = await postRecords(workers, large);
    assert.equal(response.statusCode, 200, response.body.slice(0, 300));
    assert.equal(response.json().accepted, 6);
    assert.equal((await count()) - before, 3);
    const opened = await decryptStored(workers.vault, large.map((r) => r.event_id));
    for (const r of large) assert.deepEqual(JSON.parse(opened.get(r.event_id) as string), r.payload);
  });

  it('moves a chunk\'s keys to the worker, and a stopped pool refuses chunks as unavailable with their keys zeroed', async () => {
    const aead = await loadAead();
    const pool = new SealWorkers({ aead: aead.name, size: 1 });
    const lists = await loadClassifierLists();
    const chunk = () => ({
      revision: 'test',
      lists,
      sealLevel4: false,
      kekFingerprint: new Uint8Array(8),
      keys: { ids: [{ employeeId: 'sw-0', version: 1 }], bytes: new Uint8Array(new ArrayBuffer(32)).fill(9) },
      records: [{ payloadText: '{"text":"see you at 6"}', floor: 0, binding: { eventId: randomUUID(), employeeId: 'sw-0', orgUnit: 'engineering', kind: 'keystroke', capturedAt: new Date(), dekVersion: 1 } }],
    });
    try {
      const sent = chunk();
      const sealed = await pool.seal(sent);
      assert.equal(sent.keys.bytes.byteLength, 0, 'a copy of the keys stayed in the main thread');
      assert.equal(sealed.ends.length, 1);
      assert.ok(sealed.ends[0]! > 0);
      // A level-4 record that is not kept is never sealed.
      const level4 = chunk();
      const chat = { ...level4, records: [{ ...level4.records[0]!, payloadText: '{"app":"WhatsApp","text":"see you at 6"}' }] };
      const unsealed = await pool.seal(chat);
      assert.equal(unsealed.found[0]!.level, 4);
      assert.deepEqual(unsealed.ends, [0]);
    } finally {
      await pool.close();
    }
    const refused = chunk();
    await assert.rejects(pool.seal(refused), (err) => isVaultError(err, 'ERR_UNAVAILABLE'));
    assert.ok(refused.keys.bytes.every((b) => b === 0), 'keys that were not sent were left in memory');
  });
});
