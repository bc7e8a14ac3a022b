/*
 * Ingest throughput: the vault's write path (library call and HTTP) against a plain binary COPY of
 * the same rows, unencrypted, into the same PostgreSQL in the same run. Not a test; prints a table.
 *   BENCH_RECORDS (default 200000), BENCH_HTTP_CONCURRENCY (default 2), VAULT_DATABASE_URL (optional)
 */
import os from 'node:os';
import path from 'node:path';
import fs from 'node:fs/promises';
import { sql } from 'kysely';
import { loadConfig } from '../src/config/index.js';
import { copyRecords, migrateDatabase, openDatabase, type VaultDatabase } from '../src/db/index.js';
import { buildHttpServer } from '../src/http/index.js';
import { openVault } from '../src/main.js';
import { loadDevSigningKey } from '../src/auth/index.js';
import { scratchPostgresDatabase } from '../test/support/database.js';
import { benchServerUrl, fmt, plainCopyRows, printTable, syntheticRecords } from './support.js';

const N = Number(process.env.BENCH_RECORDS ?? 200_000);
const BATCH = 5000;
const CONCURRENCY = Number(process.env.BENCH_HTTP_CONCURRENCY ?? 2);
const BENCH_ACTOR = { sub: 'bench', roles: ['ingest-agent', 'privacy-officer'], teams: [], purpose: undefined, jti: undefined };
const EMPLOYEES = Array.from({ length: 1000 }, (_, i) => `emp-${i}`);

type Rec = ReturnType<typeof syntheticRecords>[number];
const batches = (records: Rec[]) => Array.from({ length: Math.ceil(records.length / BATCH) }, (_, i) => records.slice(i * BATCH, (i + 1) * BATCH));

async function emptyRecords(database: VaultDatabase): Promise<void> {
  await sql`truncate activity_records`.execute(database.db);
  await sql`vacuum analyze activity_records`.execute(database.db).catch(() => {});
}

async function main(): Promise<void> {
  const server = benchServerUrl();
  const scratch = await scratchPostgresDatabase(server, 'vault_bench');
  const dataDir = await fs.mkdtemp(path.join(os.tmpdir(), 'vault-bench-'));
  const database = await openDatabase({ url: scratch.url });
  await migrateDatabase(database);
  const config = loadConfig({ VAULT_DATA_DIR: dataDir, VAULT_LOG_LEVEL: 'warn' });
  const vault = await openVault(config, { database });
  await vault.services.roster.upsert(BENCH_ACTOR, { employees: EMPLOYEES.map((id, i) => ({ employee_id: id, org_unit: `unit-${i % 10}`, region: 'eu', enrolled: true })) });
  const results: Array<{ path: string; seconds: number; bytes: number }> = [];
  const payloadBytes = (records: Rec[]) => records.reduce((n, r) => n + JSON.stringify(r.payload).length, 0);

  try {
    // Warm up JIT, key cache and the month partition.
    await vault.services.ingest.ingest(syntheticRecords(BATCH, EMPLOYEES), BENCH_ACTOR);

    // Baseline: the same rows, payload in clear, binary COPY into an identical table, same batch size.
    await emptyRecords(database);
    const plain = syntheticRecords(N, EMPLOYEES);
    const plainRows = plainCopyRows(plain);
    let started = performance.now();
    for (let i = 0; i < plainRows.length; i += BATCH) {
      await database.db.transaction().execute((trx) => copyRecords(trx, plainRows.slice(i, i + BATCH)));
    }
    results.push({ path: 'plain binary COPY, no encryption (baseline)', seconds: (performance.now() - started) / 1000, bytes: payloadBytes(plain) });

    for (const callers of [1, 2]) {
      await emptyRecords(database);
      const viaLibrary = syntheticRecords(N, EMPLOYEES);
      const queue = batches(viaLibrary);
      started = performance.now();
      await Promise.all(
        Array.from({ length: callers }, async () => {
          for (let batch = queue.shift(); batch; batch = queue.shift()) await vault.services.ingest.ingest(batch, BENCH_ACTOR);
        }),
      );
      const label = callers === 1 ? 'vault ingest, library call (one batch at a time)' : `vault ingest, library call (${callers} batches in flight)`;
      results.push({ path: label, seconds: (performance.now() - started) / 1000, bytes: payloadBytes(viaLibrary) });
    }

    await emptyRecords(database);
    const app = await buildHttpServer(vault.services, { logger: { level: 'warn' } });
    await app.listen({ host: '127.0.0.1', port: 0 });
    const address = app.server.address();
    const port = typeof address === 'object' && address ? address.port : 0;
    const dev = await loadDevSigningKey(dataDir);
    const token = await dev.sign({ sub: 'bench-agent', roles: ['ingest-agent'], issuer: config.jwt.issuer, audience: config.jwt.audience, ttlSeconds: 3600 });
    const viaHttp = syntheticRecords(N, EMPLOYEES);
    const bodies = batches(viaHttp).map((records) => JSON.stringify({ records }));
    let next = 0;
    started = performance.now();
    await Promise.all(
      Array.from({ length: CONCURRENCY }, async () => {
        while (next < bodies.length) {
          const body = bodies[next++]!;
          const response = await fetch(`http://127.0.0.1:${port}/v1/records`, {
            method: 'POST',
            headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json' },
            body,
          });
          const result = (await response.json()) as { accepted: number };
          if (response.status !== 200 || result.accepted !== BATCH) throw new Error(`HTTP ingest failed: ${response.status}`);
        }
      }),
    );
    results.push({ path: `vault ingest, HTTP (${CONCURRENCY} connections)`, seconds: (performance.now() - started) / 1000, bytes: payloadBytes(viaHttp) });
    await app.close();

    const baseline = N / results[0]!.seconds;
    console.log(`\ningest: ${fmt(N)} records of ~${Math.round(results[0]!.bytes / N)} B payload, batches of ${BATCH}, PostgreSQL ${(await sql<{ server_version: string }>`show server_version`.execute(database.db)).rows[0]!.server_version}, ${vault.keyRing.aeadName} libsodium, ${os.cpus().length} cores\n`);
    printTable(
      ['path', 'records/s', 'payload MB/s', 'seconds', 'vs baseline'],
      results.map((r) => [r.path, fmt(N / r.seconds), (r.bytes / r.seconds / 1e6).toFixed(1), r.seconds.toFixed(2), (N / r.seconds / baseline).toFixed(2)]),
    );
  } finally {
    await vault.close();
    await database.close();
    await scratch.drop();
    await fs.rm(dataDir, { recursive: true, force: true });
  }
}

await main();
