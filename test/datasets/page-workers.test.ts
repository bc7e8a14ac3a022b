import assert from 'node:assert/strict';
import http from 'node:http';
import type { AddressInfo, Socket } from 'node:net';
import { after, before, describe, it } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { sql } from 'kysely';
import pg from 'pg';
import { loadAead } from '../../src/crypto/index.js';
import { MAX_STREAMS_PER_WORKER, PageWorkers, PAGE_BYTES, PAGE_RECORDS } from '../../src/datasets/index.js';
import { WORKER_PAGE_RECORDS } from '../../src/datasets/deps.js';
import { findLease } from '../../src/db/index.js';
import { isVaultError } from '../../src/errors/index.js';
import { STORE } from '../support/database.js';
import { makeRecords, postRecords, putRoster, startTestVault, type TestVault } from '../support/vault.js';

const ENGINEERS = Array.from({ length: 13 }, (_, i) => `pw-eng-${i}`);
const REQUEST = { purpose: 'autocomplete-model', kinds: ['keystroke'], from: '2026-11-01T00:00:00Z', to: '2026-12-01T00:00:00Z' };
// Four pages of 2,000 and a short one: read ahead over two workers by turns.
const RECORDS = 8500;

/**
 * The same store served by two instances: one opens pages in its main thread, the other in two
 * page workers (on PostgreSQL; the embedded store has none, and runs both in the main thread).
 * A stream must not depend on where it was produced: same bytes, same cursors, same audit.
 */
describe(`page workers (${STORE})`, () => {
  let inline: TestVault;
  let workers: TestVault;
  let job: string;
  let datasetId: string;

  const stream = (t: TestVault, query = '') => t.app.inject({ url: `/v1/datasets/${datasetId}/records${query}`, headers: { authorization: `Bearer ${job}` } });

  before(async () => {
    inline = await startTestVault({ env: { VAULT_PAGE_WORKERS: '0' } });
    workers = await startTestVault({ env: { VAULT_PAGE_WORKERS: '2' }, database: inline.database, dataDir: inline.dataDir });
    await putRoster(inline, [...ENGINEERS.map((employee_id) => ({ employee_id, org_unit: 'engineering' })), ...Array.from({ length: 67 }, (_, i) => ({ employee_id: `pw-ops-${i}`, org_unit: 'operations' }))]);
    const records = makeRecords(RECORDS, ENGINEERS, 'page-workers');
    for (let at = 0; at < RECORDS; at += 5000) assert.equal((await postRecords(inline, records.slice(at, at + 5000))).json().accepted, Math.min(5000, RECORDS - at));
    job = await inline.token('training-job', { teams: ['team-autocomplete'], purpose: 'autocomplete-model' });
    const lease = await inline.app.inject({ method: 'POST', url: '/v1/datasets', headers: { authorization: `Bearer ${job}` }, payload: REQUEST });
    assert.equal(lease.statusCode, 201, lease.body);
    datasetId = lease.json().dataset_id;
    assert.equal(lease.json().record_count, RECORDS);
  });
  after(async () => {
    await workers?.close();
    await inline?.close();
  });

  it('streams byte for byte what the main thread streams, and reads its pages over its own connections', async () => {
    const [a, b] = [await stream(inline), await stream(workers)];
    assert.equal(a.statusCode, 200);
    assert.equal(b.statusCode, 200);
    assert.equal(b.body.split('\n').filter(Boolean).length, RECORDS);
    assert.ok(b.body === a.body, 'the two instances streamed different bytes');
    const readers = await sql<{ n: number }>`select count(*)::int as n from pg_stat_activity where application_name = 'activity-vault page worker'`.execute(inline.database.db);
    if (STORE === 'postgres') assert.ok(readers.rows[0]!.n > 0, 'no page worker connected to the database');
    else assert.equal(readers.rows[0]!.n, 0);
  });

  it('resumes from a cursor of the other instance, and sends each shard as the main thread does', async () => {
    const lines = (await stream(inline)).body.split('\n').filter(Boolean);
    const cursor = (JSON.parse(lines[4321]!) as { cursor: string }).cursor;
    const resumed = await stream(workers, `?after=${encodeURIComponent(cursor)}`);
    assert.equal(resumed.statusCode, 200);
    assert.deepEqual(resumed.body.split('\n').filter(Boolean), lines.slice(4322));
    for (let index = 0; index < 3; index++) {
      const [a, b] = [await stream(inline, `?shard=${index}&of=3`), await stream(workers, `?shard=${index}&of=3`)];
      assert.equal(b.statusCode, 200);
      assert.ok(a.body.length > 0 && b.body === a.body, `shard ${index} of 3 differs`);
    }
  });

  it('skips an employee no longer enrolled, and audits each page with the same counts', async () => {
    await putRoster(inline, [{ employee_id: ENGINEERS[0]!, org_unit: 'engineering', enrolled: false }]);
    const [a, b] = [await stream(inline), await stream(workers)];
    assert.ok(b.body === a.body, 'the two instances streamed different bytes');
    assert.equal(b.body.split('\n').filter(Boolean).length, RECORDS - Math.ceil(RECORDS / ENGINEERS.length));
    const auditor = await inline.token('auditor');
    const events = await inline.app.inject({ url: `/v1/audit/events?action=dataset.stream&decision=allow&limit=1000`, headers: { authorization: `Bearer ${auditor}` } });
    assert.equal(events.statusCode, 200);
    const pages = (events.json() as { events: Array<{ record_count: number; details: { dataset_id: string; skipped: Record<string, number>; shard?: number } }> }).events.filter(
      (e) => e.details.dataset_id === datasetId && e.details.shard === undefined,
    );
    // Newest first: the workers' stream, then the main thread's, each in pages of its own size
    // (the embedded store has no page workers: both streams are the main thread's).
    const workerPageRecords = STORE === 'postgres' ? WORKER_PAGE_RECORDS : PAGE_RECORDS;
    const [workerPages, mainPages] = [Math.ceil(RECORDS / workerPageRecords), Math.ceil(RECORDS / PAGE_RECORDS)];
    const [byWorkers, byMain] = [pages.slice(0, workerPages), pages.slice(workerPages, workerPages + mainPages)];
    const total = (events: typeof pages) => events.reduce((n, e) => [n[0]! + e.record_count, n[1]! + e.details.skipped.not_enrolled!, n[2]! + e.details.skipped.erased!], [0, 0, 0]);
    assert.deepEqual(total(byWorkers), total(byMain));
    assert.deepEqual(
      byWorkers.map((e) => e.record_count + e.details.skipped.not_enrolled!).reverse(),
      Array.from({ length: workerPages }, (_, i) => Math.min(workerPageRecords, RECORDS - i * workerPageRecords)),
    );
    assert.equal(byWorkers.reduce((n, e) => n + e.details.skipped.not_enrolled!, 0), Math.ceil(RECORDS / ENGINEERS.length));
  });

  // The embedded store lives in the main thread: there is no page worker to stop, and no second
  // connection to hold a stream in its first page with.
  if (STORE === 'postgres') {
    it('a stopped worker fails the streams it served as unavailable, and a closed pool opens none', async () => {
      const lease = (await findLease(inline.database.db, datasetId))!;
      const alarms: Array<Record<string, unknown>> = [];
      const pool = new PageWorkers({ databaseUrl: inline.database.url!, aead: (await loadAead()).name, size: 1, log: (event) => void alarms.push(event) });
      const open = () => pool.open({ scope: lease, datasetId, shard: undefined, employees: undefined, secret: Buffer.alloc(32, 7), lanes: 1 });
      const stream = (await open())!;
      const page = await stream.read(lease.orgUnits[0]!, undefined, { records: 10, bytes: PAGE_BYTES });
      assert.equal(page.count, 10);
      // A pool closes its workers gracefully: a read in flight finishes, then their connections end.
      const inFlight = stream.read(lease.orgUnits[0]!, page.last, { records: RECORDS, bytes: PAGE_BYTES });
      await pool.close();
      assert.equal((await inFlight).count, RECORDS - 10);
      await assert.rejects(stream.read(lease.orgUnits[0]!, page.last, { records: 10, bytes: PAGE_BYTES }), (err) => isVaultError(err, 'ERR_UNAVAILABLE'));
      await assert.rejects(open(), (err) => isVaultError(err, 'ERR_UNAVAILABLE'));
      assert.deepEqual(alarms, [], 'a pool closed on purpose raises no alarm');
    });

    it(`a worker serves at most ${MAX_STREAMS_PER_WORKER} streams; the next one is left to the main thread`, async () => {
      const lease = (await findLease(inline.database.db, datasetId))!;
      const pool = new PageWorkers({ databaseUrl: inline.database.url!, aead: (await loadAead()).name, size: 1 });
      try {
        const open = () => pool.open({ scope: lease, datasetId, shard: undefined, employees: undefined, secret: Buffer.alloc(32, 7), lanes: 2 });
        const streams = [];
        for (let i = 0; i < MAX_STREAMS_PER_WORKER; i++) streams.push((await open())!);
        assert.equal(pool.lanes, MAX_STREAMS_PER_WORKER);
        assert.equal(await open(), undefined);
        streams.pop()!.close();
        assert.ok(await open(), 'a closed stream gives its place back');
      } finally {
        await pool.close();
      }
    });

    it('a stream refused or abandoned in its first page gives back its read ahead and its worker', async () => {
      const admin = await inline.token('security-admin', { sub: 'admin-1' });
      const secondAdmin = await inline.token('security-admin', { sub: 'admin-2' });
      const metric = async (t: TestVault, name: string) => {
        const text = (await t.app.inject({ url: '/metrics' })).body;
        return Number(new RegExp(`^${name}(?:\\{[^}]*\\})? (\\S+)$`, 'm').exec(text)?.[1]);
      };
      const until = async (t: TestVault, name: string, value: number) => {
        for (let i = 0; i < 100 && (await metric(t, name)) !== value; i++) await sleep(50);
        assert.equal(await metric(t, name), value, name);
      };
      const idle = async (t: TestVault) => {
        await until(t, 'vault_dataset_streams_open', 0);
        await until(t, 'vault_dataset_pages_read_ahead', 0);
        await until(t, 'vault_page_worker_lanes', 0);
      };
      /** Holds every stream in its first page: the page's transaction waits for its keys, while its read ahead goes on. */
      const holdKeys = async () => {
        const client = new pg.Client({ connectionString: inline.database.url! });
        await client.connect();
        await client.query('begin');
        await client.query('lock table employee_data_keys in access exclusive mode');
        return async () => {
          await client.query('rollback');
          await client.end();
        };
      };
      for (const t of [inline, workers]) {
        await idle(t);
        let release = await holdKeys();
        const refused = stream(t);
        await until(t, 'vault_dataset_pages_read_ahead', 1);
        if (t === workers) assert.ok((await metric(t, 'vault_page_worker_lanes')) > 0);
        const frozen = await t.app.inject({ method: 'POST', url: '/v1/program/pause', headers: { authorization: `Bearer ${admin}` }, payload: { reason: 'bad grant suspected', scope: 'exports' } });
        assert.equal(frozen.statusCode, 200, frozen.body);
        await release();
        const response = await refused;
        assert.equal(response.statusCode, 503, response.body);
        assert.equal(response.json().error, 'exports_frozen');
        await idle(t);
        await t.app.inject({ method: 'POST', url: '/v1/program/resume', headers: { authorization: `Bearer ${admin}` }, payload: { reason: 'grant fixed', scope: 'exports' } });
        const resumed = await t.app.inject({ method: 'POST', url: '/v1/program/resume', headers: { authorization: `Bearer ${secondAdmin}` }, payload: { reason: 'reviewed', scope: 'exports' } });
        assert.equal(resumed.statusCode, 200, resumed.body);
        for (const other of [inline, workers]) await until(other, 'vault_program_paused', 0);

        // A client that hangs up before the stream's first page is read: nothing is left behind.
        const server = http.createServer((req, res) => t.app.routing(req, res));
        const sockets: Socket[] = [];
        server.on('connection', (socket) => sockets.push(socket));
        await t.app.ready();
        await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
        try {
          release = await holdKeys();
          const gone = http.get({ port: (server.address() as AddressInfo).port, host: '127.0.0.1', path: `/v1/datasets/${datasetId}/records`, headers: { authorization: `Bearer ${job}` } });
          gone.on('error', () => {});
          await until(t, 'vault_dataset_pages_read_ahead', 1);
          gone.destroy();
          // The server has seen the hang-up before the first page is released: its close has fired already.
          await Promise.all(sockets.map((socket) => (socket.destroyed ? undefined : new Promise((resolve) => socket.once('close', resolve)))));
          await release();
          await idle(t);
        } finally {
          await new Promise((resolve) => server.close(resolve));
        }
      }
    });
  }
});
