/*
 * Ingest throughput: the vault's write path (library call and HTTP) against a plain binary COPY of
 * the same rows, unencrypted, into the same PostgreSQL in the same run. Not a test; prints a table.
 *   BENCH_RECORDS (default 200000), BENCH_HTTP_CONCURRENCY (default 2), VAULT_DATABASE_URL (optional)
 */
import os from 'node:os';
import { sql } from 'kysely';
import { copyRecords } from '../src/db/index.js';
import { buildHttpServer } from '../src/http/index.js';
import { loadDevSigningKey } from '../src/auth/index.js';
import { BENCH_ACTOR, BENCH_EMPLOYEES, emptyRecords, fmt, openBenchVault, plainCopyRows, printTable, syntheticRecords } from './support.js';

const N = Number(process.env.BENCH_RECORDS ?? 200_000);
const BATCH = 5000;
const CONCURRENCY = Number(process.env.BENCH_HTTP_CONCURRENCY ?? 2);
const EMPLOYEES = BENCH_EMPLOYEES;

type Rec = ReturnType<typeof syntheticRecords>[number];
const batches = (records: Rec[]) => Array.from({ length: Math.ceil(records.length / BATCH) }, (_, i) => records.slice(i * BATCH, (i + 1) * BATCH));

async function main(): Promise<void> {
  const bench = await openBenchVault();
  const { vault, config, database } = bench;
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
    const dev = await loadDevSigningKey(config.dataDir);
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
    await bench.close();
  }
}

await main();
