import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import { loadDevSigningKey, type Role } from '../../src/auth/index.js';
import { loadConfig } from '../../src/config/index.js';
import { openVault } from '../../src/main.js';
import { freshDatabase, STORE, type FreshDatabase } from '../support/database.js';
import { tempDir } from '../support/vault.js';

const RECORDS = Number(process.env.VAULT_TEST_STREAM_RECORDS ?? 1_000_000);
const RSS_LIMIT_MB = 256;
// PGlite is PostgreSQL compiled to WebAssembly inside the server process: it holds ~760 MB before the
// first query (measured: `new PGlite()` alone), so on the embedded store the 256 MB bound cannot
// apply to the whole process. There the bound is on what streaming adds over the server after the
// decision, plus PGlite's 128 MB shared_buffers that a 250 MB stream fills (on PostgreSQL those live
// in the server's own processes). The absolute bound is asserted on PostgreSQL, the production store.
const GROWTH_LIMIT_MB = STORE === 'postgres' ? 128 : 128 + 128;

const SLOW_READER_MS = 6000;
// The loopback's socket buffers on both sides and a page in flight: measured 26k-44k records on
// PostgreSQL and up to 72k on the embedded store (7-18 MB). Without backpressure a server five
// times faster than this reader runs ahead by the rest of the stream (~700k).
const MAX_AHEAD_OF_READER = 150_000;

function rssMb(pid: number): number {
  const status = fs.readFileSync(`/proc/${pid}/status`, 'utf8');
  return Number(/VmRSS:\s+(\d+) kB/.exec(status)![1]) / 1024;
}

describe(`streaming a large dataset from a running server (${STORE})`, { timeout: 15 * 60_000 }, () => {
  let server: ChildProcess;
  let url: string;
  let fresh: FreshDatabase | undefined;
  let dataDir: string;
  let token: (role: Role, extra?: { teams?: string[]; purpose?: string }) => Promise<string>;

  before(async () => {
    dataDir = await tempDir();
    fresh = STORE === 'postgres' ? await freshDatabase() : undefined;
    const dev = await loadDevSigningKey(dataDir);
    token = (role, extra = {}) => dev.sign({ sub: `${role}-mem`, roles: [role], ...extra, issuer: 'activity-vault', audience: 'activity-vault', ttlSeconds: 3600 });

    // Loaded by this process, into the same store with the same KEK, so the server's memory is
    // what serving costs and not what ingesting a million records left in its heap.
    const env = { VAULT_DATA_DIR: dataDir, ...(fresh?.url ? { VAULT_DATABASE_URL: fresh.url } : {}) };
    const loader = await openVault(loadConfig(env));
    const actor = { sub: 'loader', roles: ['ingest-agent', 'privacy-officer'], teams: [], purpose: undefined, jti: undefined };
    const employees = Array.from({ length: 500 }, (_, i) => ({ employee_id: `m${i}`, org_unit: i < 100 ? 'engineering' : `unit-${i % 9}`, region: 'eu', enrolled: true }));
    await loader.services.roster.upsert(actor, { employees });
    const base = Date.parse('2026-11-02T00:00:00Z');
    for (let start = 0; start < RECORDS; start += 5000) {
      const records = Array.from({ length: Math.min(5000, RECORDS - start) }, (_, k) => {
        const i = start + k;
        return { event_id: randomUUID(), employee_id: `m${i % 100}`, captured_at: new Date(base + i * 1000).toISOString(), kind: 'keystroke', payload: { n: i, text: 'the quick brown fox jumps over the lazy dog' } };
      });
      assert.equal((await loader.services.ingest.ingest(records, actor)).accepted, records.length);
    }
    await loader.close();
    await fresh?.database.close();

    // The compiled server, as deployed (`npm test` compiles first): tsx alone would add ~70 MB.
    server = spawn(process.execPath, [path.resolve('dist/src/cli/bin.js'), 'serve'], {
      env: { PATH: process.env.PATH, HOME: process.env.HOME, VAULT_PORT: '0', VAULT_LOG_LEVEL: 'info', ...env },
      stdio: ['ignore', 'pipe', 'inherit'],
    });
    url = await new Promise<string>((resolve, reject) => {
      let out = '';
      server.stdout!.on('data', (d) => {
        out += d;
        const m = /Server listening at (http:\/\/127\.0\.0\.1:\d+)/.exec(out);
        if (m) resolve(m[1]!);
      });
      server.on('exit', (code) => reject(new Error(`server exited ${code}: ${out}`)));
    });
  });

  after(async () => {
    server?.kill('SIGTERM');
    await new Promise((r) => server?.once('exit', r));
    await fresh?.drop().catch(() => {});
    fs.rmSync(dataDir, { recursive: true, force: true });
  });

  async function recordsAuditedAsStreamed(datasetId: string): Promise<number> {
    const auditor = await token('auditor');
    let records = 0;
    for (let cursor: string | undefined; ; ) {
      const query = new URLSearchParams({ action: 'dataset.stream', decision: 'allow', limit: '1000', ...(cursor ? { cursor } : {}) });
      const res = await fetch(`${url}/v1/audit/events?${query}`, { headers: { authorization: `Bearer ${auditor}` } });
      assert.equal(res.status, 200);
      const page = (await res.json()) as { events: { record_count: number | null; details: { dataset_id?: string } }[]; next_cursor: string | null };
      for (const e of page.events) if (e.details.dataset_id === datasetId) records += e.record_count ?? 0;
      if (!page.next_cursor) return records;
      cursor = page.next_cursor;
    }
  }

  async function grantAll(): Promise<{ job: string; datasetId: string }> {
    const job = await token('training-job', { teams: ['team-autocomplete'], purpose: 'autocomplete-model' });
    const granted = await fetch(`${url}/v1/datasets`, {
      method: 'POST',
      headers: { authorization: `Bearer ${job}`, 'content-type': 'application/json' },
      body: JSON.stringify({ purpose: 'autocomplete-model', kinds: ['keystroke'], from: '2026-11-01T00:00:00Z', to: '2027-01-01T00:00:00Z' }),
    });
    const grantedText = await granted.text();
    assert.equal(granted.status, 201, grantedText);
    const lease = JSON.parse(grantedText) as { dataset_id: string; record_count: number };
    assert.equal(lease.record_count, RECORDS);

    return { job, datasetId: lease.dataset_id };
  }

  /** Samples the server's RSS every 50 ms while `work` runs: its idle RSS before, and the peak. */
  async function rssDuring<T>(work: () => Promise<T>): Promise<{ result: T; idle: number; peak: number }> {
    const idle = rssMb(server.pid!);
    let peak = idle;
    const sampler = setInterval(() => (peak = Math.max(peak, rssMb(server.pid!))), 50);
    try {
      const result = await work();
      return { result, idle, peak: Math.max(peak, rssMb(server.pid!)) };
    } finally {
      clearInterval(sampler);
    }
  }

  function assertBounded(idle: number, peak: number): void {
    if (STORE === 'postgres') assert.ok(peak < RSS_LIMIT_MB, `server RSS peaked at ${peak.toFixed(0)} MB`);
    assert.ok(peak - idle < GROWTH_LIMIT_MB, `streaming grew the server from ${idle.toFixed(0)} to ${peak.toFixed(0)} MB`);
  }

  const bound = STORE === 'postgres' ? `under ${RSS_LIMIT_MB} MB RSS` : `growing less than ${GROWTH_LIMIT_MB} MB over its idle RSS`;
  it(`streams ${RECORDS.toLocaleString('en-US')} records with the server ${bound}, and does not read ahead of a slow reader`, async () => {
    const { job, datasetId } = await grantAll();
    let aheadOfSlowReader: number | undefined;
    const { result, idle, peak } = await rssDuring(async () => {
      const response = await fetch(`${url}/v1/datasets/${datasetId}/records`, { headers: { authorization: `Bearer ${job}` } });
      assert.equal(response.status, 200);
      let lines = 0;
      let bytes = 0;
      let slowFrom = 0;
      for await (const chunk of response.body as unknown as AsyncIterable<Uint8Array>) {
        bytes += chunk.length;
        for (const b of chunk) if (b === 10) lines++;
        if (lines > RECORDS * 0.3 && slowFrom === 0) slowFrom = Date.now();
        if (slowFrom && Date.now() - slowFrom < SLOW_READER_MS) await new Promise((r) => setTimeout(r, 25));
        else if (slowFrom && aheadOfSlowReader === undefined) aheadOfSlowReader = (await recordsAuditedAsStreamed(datasetId)) - lines;
      }
      return { lines, bytes };
    });
    assert.equal(result.lines, RECORDS);
    console.log(`# stream: ${result.lines} lines, ${(result.bytes / 1e6).toFixed(0)} MB, server idle RSS ${idle.toFixed(0)} MB, peak ${peak.toFixed(0)} MB; after ${SLOW_READER_MS / 1000} s of a slow reader the server had read and sent ${aheadOfSlowReader} records ahead of it`);
    assertBounded(idle, peak);
    // A page is audited before it is sent, and at most one more is read ahead, so the audited count
    // is what the server has read, give or take a page: without backpressure it would run the whole
    // remaining stream into its memory.
    assert.ok(aheadOfSlowReader !== undefined && aheadOfSlowReader < MAX_AHEAD_OF_READER, `the server read ${aheadOfSlowReader} records ahead of a slow reader`);
  });

  it(`streams the same ${RECORDS.toLocaleString('en-US')} records as 4 shards read at once, with the server ${bound}`, async () => {
    const { job, datasetId } = await grantAll();
    const { result, idle, peak } = await rssDuring(() =>
      Promise.all(
        [0, 1, 2, 3].map(async (shard) => {
          const response = await fetch(`${url}/v1/datasets/${datasetId}/records?shard=${shard}&of=4`, { headers: { authorization: `Bearer ${job}` } });
          assert.equal(response.status, 200);
          let lines = 0;
          for await (const chunk of response.body as unknown as AsyncIterable<Uint8Array>) for (const b of chunk) if (b === 10) lines++;
          return lines;
        }),
      ),
    );
    assert.equal(result.reduce((a, b) => a + b, 0), RECORDS);
    assert.ok(result.every((lines) => lines > 0), `every shard sends records: ${result.join(', ')}`);
    console.log(`# 4 shards: ${result.join(' + ')} lines, server idle RSS ${idle.toFixed(0)} MB, peak ${peak.toFixed(0)} MB`);
    assertBounded(idle, peak);
  });
});
