/*
 * Ingest throughput: the vault's write path (library call and HTTP) against a plain binary COPY of
 * the same rows, unencrypted, into the same PostgreSQL in the same run. Not a test; prints a table.
 * Each path runs BENCH_ROUNDS times, alternating; the median with min and max is printed, and each
 * ratio is the median of the per-round ratios. The aim is read on the HTTP row, the path agents use.
 *   BENCH_RECORDS (default 200000), BENCH_ROUNDS (default 5), BENCH_HTTP_CONCURRENCY (default 2),
 *   BENCH_CPU_PROFILE (a directory: a CPU profile of each round's one-batch library ingest and HTTP ingest),
 *   BENCH_ALLOC_PROFILE (a directory: an allocation profile of the same phases),
 *   BENCH_INGEST_WORKERS (default 2: HTTP ingest also on an instance with this many seal workers, when the default differs),
 *   VAULT_DATABASE_URL (optional)
 * The vault's heap is bounded as `serve` bounds it (src/cli/heap.ts); BENCH_HEAP_DEFAULT=1 leaves it to V8.
 * The capture agents run in a child process (bench/agent.mjs), as agents run outside the vault.
 */
import os from 'node:os';
import { sql } from 'kysely';
import { copyRecords } from '../src/db/index.js';
import { buildHttpServer } from '../src/http/index.js';
import { loadDevSigningKey } from '../src/auth/index.js';
import { boundServerHeap } from '../src/cli/heap.js';
import { BENCH_ACTOR, BENCH_EMPLOYEES, emptyRecords, fmt, median, openBenchVault, plainCopyRows, printTable, profiled, RemoteAgents, syntheticRecords } from './support.js';

const N = Number(process.env.BENCH_RECORDS ?? 200_000);
const BATCH = 5000;
const CONCURRENCY = Number(process.env.BENCH_HTTP_CONCURRENCY ?? 2);
const EMPLOYEES = BENCH_EMPLOYEES;
const ROUNDS = Math.max(1, Number(process.env.BENCH_ROUNDS ?? 5));
const AIM = 0.5;
const INGEST_WORKERS = Number(process.env.BENCH_INGEST_WORKERS ?? 2);
// Other work on the machine shows in every row, but not always equally: a figure to read the table by.
const LOAD_BEFORE = os.loadavg()[0]!.toFixed(1);

type Rec = ReturnType<typeof syntheticRecords>[number];
const batches = (records: Rec[]) => Array.from({ length: Math.ceil(records.length / BATCH) }, (_, i) => records.slice(i * BATCH, (i + 1) * BATCH));

interface Run {
  readonly seconds: number;
  readonly bytes: number;
}

async function main(): Promise<void> {
  const bench = await openBenchVault();
  const { vault, config, database } = bench;
  const payloadBytes = (records: Rec[]) => records.reduce((n, r) => n + JSON.stringify(r.payload).length, 0);
  const app = await buildHttpServer(vault.services, { logger: { level: 'warn' } });
  // The same store ingested by a second instance with seal workers, unless the default already has them.
  const withWorkers = config.ingestWorkers === INGEST_WORKERS ? undefined : await bench.another({ VAULT_INGEST_WORKERS: String(INGEST_WORKERS) });
  const workersApp = withWorkers && (await buildHttpServer(withWorkers.services, { logger: { level: 'warn' } }));
  const agents = new RemoteAgents();

  try {
    const portOf = async (server: typeof app) => {
      await server.listen({ host: '127.0.0.1', port: 0 });
      const address = server.server.address();
      return typeof address === 'object' && address ? address.port : 0;
    };
    const port = await portOf(app);
    const workersPort = workersApp && (await portOf(workersApp));
    const dev = await loadDevSigningKey(config.dataDir);
    const token = await dev.sign({ sub: 'bench-agent', roles: ['ingest-agent'], issuer: config.jwt.issuer, audience: config.jwt.audience, ttlSeconds: 3600 });

    // Baseline: the same rows, payload in clear, binary COPY into an identical table, same batch size.
    const plainCopy = async (): Promise<Run> => {
      const plain = syntheticRecords(N, EMPLOYEES);
      const plainRows = plainCopyRows(plain);
      const started = performance.now();
      for (let i = 0; i < plainRows.length; i += BATCH) {
        await database.db.transaction().execute((trx) => copyRecords(trx, plainRows.slice(i, i + BATCH)));
      }
      return { seconds: (performance.now() - started) / 1000, bytes: payloadBytes(plain) };
    };
    const library = async (callers: number, records = syntheticRecords(N, EMPLOYEES)): Promise<Run> => {
      const queue = batches(records);
      const started = performance.now();
      await Promise.all(
        Array.from({ length: callers }, async () => {
          for (let batch = queue.shift(); batch; batch = queue.shift()) await vault.services.ingest.ingest(batch, BENCH_ACTOR);
        }),
      );
      return { seconds: (performance.now() - started) / 1000, bytes: payloadBytes(records) };
    };
    const overHttp = async (port: number, profileAs?: string): Promise<Run> => {
      let records: Rec[] | undefined = syntheticRecords(N, EMPLOYEES);
      const bytes = payloadBytes(records);
      await agents.load(batches(records).map((batch) => JSON.stringify({ records: batch })));
      records = undefined;
      // Timed inside the profiled phase: writing a profile out is not the vault's time.
      const post = async () => {
        const started = performance.now();
        await agents.postAll(`http://127.0.0.1:${port}/v1/records`, { authorization: `Bearer ${token}`, 'content-type': 'application/json' }, CONCURRENCY, BATCH);
        return (performance.now() - started) / 1000;
      };
      return { seconds: await (profileAs ? profiled(profileAs, post) : post()), bytes };
    };

    // Warm up JIT, key cache and the month partition.
    await vault.services.ingest.ingest(syntheticRecords(BATCH, EMPLOYEES), BENCH_ACTOR);
    await withWorkers?.services.ingest.ingest(syntheticRecords(BATCH, EMPLOYEES), BENCH_ACTOR);

    const paths: Array<{ label: string; run: (round: number) => Promise<Run>; runs: Run[] }> = [
      { label: 'plain binary COPY, no encryption (baseline)', run: plainCopy, runs: [] },
      {
        label: 'vault ingest, library call (one batch at a time)',
        run: (round) => {
          const records = syntheticRecords(N, EMPLOYEES);
          return profiled(`ingest-library-round-${round + 1}`, () => library(1, records));
        },
        runs: [],
      },
      { label: 'vault ingest, library call (2 batches in flight)', run: () => library(2), runs: [] },
      { label: `vault ingest, HTTP (${CONCURRENCY} connections)`, run: (round) => overHttp(port, `ingest-http-round-${round + 1}`), runs: [] },
      ...(workersPort ? [{ label: `the same on an instance with ${INGEST_WORKERS} seal workers`, run: () => overHttp(workersPort), runs: [] as Run[] }] : []),
    ];
    for (let round = 0; round < ROUNDS; round++) {
      for (const path of paths) {
        await emptyRecords(database);
        path.runs.push(await path.run(round));
      }
    }

    const rate = (r: Run) => N / r.seconds;
    const baseline = paths[0]!.runs;
    console.log(
      `\ningest: ${fmt(N)} records of ~${Math.round(baseline[0]!.bytes / N)} B payload, batches of ${BATCH}, PostgreSQL ${(await sql<{ server_version: string }>`show server_version`.execute(database.db)).rows[0]!.server_version}, ` +
        `${vault.keyRing.aeadName} libsodium, classification, audit and RLS on, ${os.cpus().length} cores (load before the run ${LOAD_BEFORE}), median of ${ROUNDS} alternating runs with min and max\n`,
    );
    printTable(
      ['path', 'records/s (median)', 'min', 'max', 'payload MB/s (median)', 'of baseline (median)'],
      paths.map(({ label, runs }) => [
        label,
        fmt(median(runs.map(rate))),
        fmt(Math.min(...runs.map(rate))),
        fmt(Math.max(...runs.map(rate))),
        median(runs.map((r) => r.bytes / r.seconds / 1e6)).toFixed(1),
        runs === baseline ? '' : `${median(runs.map((r, i) => rate(r) / rate(baseline[i]!))).toFixed(2)}${label.startsWith('vault ingest, HTTP') ? ` (aim >= ${AIM.toFixed(2)})` : ''}`,
      ]),
    );
    const ratios = paths[3]!.runs.map((r, i) => rate(r) / rate(baseline[i]!));
    const ratio = median(ratios);
    console.log(
      `\nratio HTTP ingest/plain COPY records/s, per round: median ${ratio.toFixed(2)}, min ${Math.min(...ratios).toFixed(2)}, max ${Math.max(...ratios).toFixed(2)} (aim: ${AIM.toFixed(2)} or more, ${ratio >= AIM ? 'met' : 'not met'})`,
    );
  } finally {
    agents.close();
    await workersApp?.close();
    await app.close();
    await bench.close();
  }
}

if (process.env.BENCH_HEAP_DEFAULT !== '1') boundServerHeap();
await main();
