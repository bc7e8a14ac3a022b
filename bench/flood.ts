/*
 * Anonymous flood: the latency of a legitimate ingest (one batch at a time over HTTP) while the
 * vault is quiet, against the same while 48 connections send tampered tokens. Quiet and flood
 * rounds alternate; median of 5 rounds with min and max. The flood runs in a child process so its
 * client work does not share the server's event loop. Not a test; prints a table.
 *   BENCH_FLOOD_CONNECTIONS (default 48), BENCH_FLOOD_ROUNDS (5), BENCH_FLOOD_REQUESTS (60 legitimate
 *   ingests per phase), BENCH_FLOOD_BATCH (50 records per ingest), VAULT_DATABASE_URL (optional)
 */
import { fork, type ChildProcess } from 'node:child_process';
import http from 'node:http';
import os from 'node:os';
import { sql } from 'kysely';
import { REFUSAL_ACTION } from '../src/access/index.js';
import { loadDevSigningKey } from '../src/auth/index.js';
import { buildHttpServer } from '../src/http/index.js';
import type { Vault } from '../src/main.js';
import { BENCH_EMPLOYEES, fmt, openBenchVault, printTable, syntheticRecords, median } from './support.js';

const CONNECTIONS = Number(process.env.BENCH_FLOOD_CONNECTIONS ?? 48);
const ROUNDS = Number(process.env.BENCH_FLOOD_ROUNDS ?? 5);
const REQUESTS = Number(process.env.BENCH_FLOOD_REQUESTS ?? 60);
const BATCH = Number(process.env.BENCH_FLOOD_BATCH ?? 50);
const WARMUP_MS = 500;

type FloodMessage = { type: 'start' } | { type: 'pause' } | { type: 'stop' };
type FloodReport = { type: 'ready' } | { type: 'paused'; sent: number; refused: number; other: number; seconds: number };

/** The child: CONNECTIONS keep-alive connections posting one tampered token each, while started. */
async function floodChild(url: string, token: string): Promise<void> {
  const agent = new http.Agent({ keepAlive: true, maxSockets: CONNECTIONS });
  const body = JSON.stringify({ records: [] });
  let running = false;
  let stopping = false;
  let sent = 0;
  let refused = 0;
  let other = 0;
  let startedAt = 0;
  let loops: Array<Promise<void>> = [];
  const post = () =>
    new Promise<number>((resolve, reject) => {
      const request = http.request(`${url}/v1/records`, {
        method: 'POST',
        agent,
        headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json', 'content-length': Buffer.byteLength(body) },
      });
      request.on('response', (response) => {
        response.resume();
        response.on('end', () => resolve(response.statusCode ?? 0));
      });
      request.on('error', reject);
      request.end(body);
    });
  const loop = async () => {
    while (running) {
      const status = await post();
      sent++;
      if (status === 401) refused++;
      else other++;
    }
  };
  process.on('message', async (message: FloodMessage) => {
    if (message.type === 'start') {
      [sent, refused, other, running, startedAt] = [0, 0, 0, true, performance.now()];
      loops = Array.from({ length: CONNECTIONS }, loop);
    } else if (message.type === 'pause' || message.type === 'stop') {
      running = false;
      await Promise.all(loops);
      const report: FloodReport = { type: 'paused', sent, refused, other, seconds: (performance.now() - startedAt) / 1000 };
      process.send!(report);
      if (message.type === 'stop' && !stopping) {
        stopping = true;
        agent.destroy();
        process.disconnect();
      }
    }
  });
  process.send!({ type: 'ready' } satisfies FloodReport);
}

function reportOf(child: ChildProcess, expect: FloodReport['type']): Promise<FloodReport> {
  return new Promise((resolve) => {
    const onMessage = (report: FloodReport) => {
      if (report.type !== expect) return;
      child.off('message', onMessage);
      resolve(report);
    };
    child.on('message', onMessage);
  });
}

function ask(child: ChildProcess, message: FloodMessage): Promise<Extract<FloodReport, { type: 'paused' }>> {
  const report = reportOf(child, 'paused');
  child.send(message);
  return report as Promise<Extract<FloodReport, { type: 'paused' }>>;
}

function percentile(sorted: number[], p: number): number {
  return sorted[Math.min(sorted.length - 1, Math.floor(p * sorted.length))]!;
}


async function main(): Promise<void> {
  const bench = await openBenchVault();
  const { vault, config, database } = bench;
  const app = await buildHttpServer(vault.services, { logger: { level: 'warn' } });
  let child: ChildProcess | undefined;
  try {
    await app.listen({ host: '127.0.0.1', port: 0 });
    const url = `http://127.0.0.1:${(app.server.address() as { port: number }).port}`;
    const dev = await loadDevSigningKey(config.dataDir);
    const mint = (sub: string) => dev.sign({ sub, roles: ['ingest-agent'], issuer: config.jwt.issuer, audience: config.jwt.audience, ttlSeconds: 3600 });
    const legit = await mint('bench-agent');
    const [header, payload, signature] = (await mint('flood')).split('.');
    const forged = `${header}.${Buffer.from(JSON.stringify({ ...JSON.parse(Buffer.from(payload!, 'base64url').toString()), roles: ['security-admin'] })).toString('base64url')}.${signature}`;

    child = fork(new URL(import.meta.url), ['--flood-child', url, forged], { stdio: 'inherit' });
    await reportOf(child, 'ready');

    const agent = new http.Agent({ keepAlive: true, maxSockets: 1 });
    const ingestOnce = (body: string) =>
      new Promise<number>((resolve, reject) => {
        const started = performance.now();
        const request = http.request(`${url}/v1/records`, {
          method: 'POST',
          agent,
          headers: { authorization: `Bearer ${legit}`, 'content-type': 'application/json', 'content-length': Buffer.byteLength(body) },
        });
        request.on('response', (response) => {
          const chunks: Buffer[] = [];
          response.on('data', (c: Buffer) => chunks.push(c));
          response.on('end', () => {
            const result = JSON.parse(Buffer.concat(chunks).toString()) as { accepted?: number };
            if (response.statusCode !== 200 || result.accepted !== BATCH) reject(new Error(`legitimate ingest failed: ${response.statusCode}`));
            else resolve(performance.now() - started);
          });
        });
        request.on('error', reject);
        request.end(body);
      });
    const phase = async (): Promise<number[]> => {
      const bodies = Array.from({ length: REQUESTS }, () => JSON.stringify({ records: syntheticRecords(BATCH, BENCH_EMPLOYEES) }));
      const latencies: number[] = [];
      for (const body of bodies) latencies.push(await ingestOnce(body));
      return latencies.sort((a, b) => a - b);
    };

    await phase(); // warm up JIT, data keys and the month partition
    const quiet: Array<{ p50: number; p95: number }> = [];
    const flood: Array<{ p50: number; p95: number; refusedPerSecond: number }> = [];
    const eventsBefore = await refusalEvents(vault);
    for (let round = 0; round < ROUNDS; round++) {
      const q = await phase();
      quiet.push({ p50: percentile(q, 0.5), p95: percentile(q, 0.95) });
      child.send({ type: 'start' } satisfies FloodMessage);
      await new Promise((resolve) => setTimeout(resolve, WARMUP_MS));
      const f = await phase();
      const report = await ask(child, { type: 'pause' });
      if (report.other > 0) throw new Error(`${report.other} flood requests were not refused with 401`);
      flood.push({ p50: percentile(f, 0.5), p95: percentile(f, 0.95), refusedPerSecond: report.refused / report.seconds });
    }
    await new Promise((resolve) => setTimeout(resolve, 1500)); // the last second's tally is written
    const eventsAfter = await refusalEvents(vault);

    const row = (label: string, values: number[], digits = 1) => [label, median(values).toFixed(digits), Math.min(...values).toFixed(digits), Math.max(...values).toFixed(digits)];
    const version = (await sql<{ server_version: string }>`show server_version`.execute(database.db)).rows[0]!.server_version;
    console.log(
      `\nflood: legitimate ingest of ${BATCH} records per request, ${REQUESTS} requests per phase, quiet vs ${CONNECTIONS} connections of tampered tokens, ` +
        `${ROUNDS} alternating rounds, PostgreSQL ${version}, ${os.cpus().length} cores\n`,
    );
    printTable(
      ['measure', 'median', 'min', 'max'],
      [
        row('quiet p50 (ms)', quiet.map((r) => r.p50)),
        row('flood p50 (ms)', flood.map((r) => r.p50)),
        row('flood p50 / quiet p50', flood.map((r, i) => r.p50 / quiet[i]!.p50), 2),
        row('quiet p95 (ms)', quiet.map((r) => r.p95)),
        row('flood p95 (ms)', flood.map((r) => r.p95)),
        row('tampered tokens refused /s', flood.map((r) => r.refusedPerSecond), 0),
      ],
    );
    console.log(
      `\n${fmt(eventsAfter.refusals - eventsBefore.refusals)} refusals audited in ${fmt(eventsAfter.events - eventsBefore.events)} \`${REFUSAL_ACTION}\` events`,
    );
  } finally {
    if (child?.connected) await ask(child, { type: 'stop' });
    await app.close();
    await bench.close();
  }
}

/** One tally event per second of flood, so a thousand cover any run of this bench. */
async function refusalEvents(vault: Vault): Promise<{ events: number; refusals: number }> {
  const { events } = await vault.audit.query({ action: REFUSAL_ACTION, limit: 1000 });
  return { events: events.length, refusals: events.reduce((n, e) => n + Number(e.details.count), 0) };
}

if (process.argv[2] === '--flood-child') await floodChild(process.argv[3]!, process.argv[4]!);
else await main();
