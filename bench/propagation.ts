/**
 * How fast a kill switch reaches everyone (issue 12): three vault processes on one PostgreSQL, and
 * 1,000 simulated capture agents on the SSE change feed, spread over the three. Each round pauses
 * the program through one instance, then measures from the pause's instant (the database clock in
 * the pause's transaction, just before its commit; the same host clock as this process):
 *  - until each instance answers ingest with 503 program_paused (probed every 5 ms);
 *  - until each agent has the `program_pause` event.
 * The baseline, alternating with it: a bare NOTIFY committed on PostgreSQL until three LISTENing
 * connections have it (what any propagation over LISTEN/NOTIFY costs at least).
 * Aim: p99 < 1 s for both. Median of 5 rounds, with min and max.
 */
import { randomUUID } from 'node:crypto';
import fs from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import pg from 'pg';
import { loadDevSigningKey, type Role } from '../src/auth/index.js';
import { loadConfig } from '../src/config/index.js';
import { migrateDatabase, openDatabase } from '../src/db/index.js';
import { openVault } from '../src/main.js';
import { scratchPostgresDatabase } from '../test/support/database.js';
import { startServerProcess, type ServerProcess } from '../test/support/server-process.js';
import { BENCH_ACTOR, benchServerUrl, median, printTable } from './support.js';

const INSTANCES = 3;
const AGENTS = Number(process.env.BENCH_AGENTS ?? 1000);
const ROUNDS = Math.max(1, Number(process.env.BENCH_ROUNDS ?? 5));
const PROBE_MS = 5;

const percentile = (values: readonly number[], p: number) => [...values].sort((a, b) => a - b)[Math.min(values.length - 1, Math.ceil((p / 100) * values.length) - 1)]!;

interface Agent {
  readonly received: Map<string, number>;
  close(): void;
}

/** One agent: an SSE connection that notes when each event type first arrives. */
async function connectAgent(url: string, token: string): Promise<Agent> {
  const controller = new AbortController();
  const received = new Map<string, number>();
  const response = await fetch(`${url}/v1/collection/events`, { headers: { authorization: `Bearer ${token}` }, signal: controller.signal });
  if (response.status !== 200) throw new Error(`agent feed answered ${response.status}`);
  const reader = (response.body as ReadableStream<Uint8Array>).getReader();
  const decoder = new TextDecoder();
  let connected: () => void = () => {};
  const ready = new Promise<void>((resolve) => (connected = resolve));
  void (async () => {
    let buffer = '';
    try {
      for (;;) {
        const { done, value } = await reader.read();
        if (done) return;
        const at = Date.now();
        buffer += decoder.decode(value, { stream: true });
        for (let end = buffer.indexOf('\n\n'); end >= 0; end = buffer.indexOf('\n\n')) {
          const frame = buffer.slice(0, end);
          buffer = buffer.slice(end + 2);
          if (frame.includes(': connected')) connected();
          const type = /^event: (.+)$/m.exec(frame)?.[1];
          if (type && !received.has(type)) received.set(type, at);
        }
      }
    } catch {
      // closed by the bench
    }
  })();
  await ready;
  return { received, close: () => controller.abort() };
}

async function post(url: string, token: string, body: unknown): Promise<Response> {
  return fetch(url, { method: 'POST', headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json' }, body: JSON.stringify(body) });
}

/** Probes one instance's ingest until it answers program_paused; returns when (ms since epoch). */
async function firstRefusal(url: string, token: string, employee: string): Promise<number> {
  for (;;) {
    const record = { event_id: randomUUID(), employee_id: employee, captured_at: new Date().toISOString(), kind: 'click', payload: { x: 1 } };
    const response = await post(`${url}/v1/records`, token, { records: [record] });
    const at = Date.now();
    const body = await response.text();
    if (response.status === 503 && body.includes('program_paused')) return at;
    await new Promise((r) => setTimeout(r, PROBE_MS));
  }
}

interface Round {
  readonly refusalMs: number[];
  readonly agentMs: number[];
}

async function pauseRound(servers: readonly ServerProcess[], agents: readonly Agent[], tokens: Record<'admin' | 'agent', string>, round: number): Promise<Round> {
  for (const a of agents) a.received.clear();
  const probes = servers.map((s, i) => firstRefusal(s.url, tokens.agent, `prop-${i}`));
  const paused = await post(`${servers[round % servers.length]!.url}/v1/program/pause`, tokens.admin, { reason: `propagation round ${round}` });
  if (paused.status !== 200) throw new Error(`pause answered ${paused.status}: ${await paused.text()}`);
  const since = Date.parse(((await paused.json()) as { collection: { since: string } }).collection.since);
  const refusals = await Promise.all(probes);
  const deadline = Date.now() + 30_000;
  while (agents.some((a) => !a.received.has('program_pause'))) {
    if (Date.now() > deadline) throw new Error(`${agents.filter((a) => !a.received.has('program_pause')).length} agents never got the pause`);
    await new Promise((r) => setTimeout(r, 10));
  }
  const agentMs = agents.map((a) => a.received.get('program_pause')! - since);
  const resumed = await post(`${servers[0]!.url}/v1/program/resume`, tokens.admin, { reason: `propagation round ${round} over` });
  if (resumed.status !== 200) throw new Error(`resume answered ${resumed.status}`);
  while (agents.some((a) => !a.received.has('program_resume'))) await new Promise((r) => setTimeout(r, 10));
  return { refusalMs: refusals.map((at) => at - since), agentMs };
}

/** The floor: one NOTIFY committed, until three LISTENing connections have it. */
async function notifyRound(url: string): Promise<number[]> {
  const channel = 'bench_propagation';
  const listeners = await Promise.all(
    Array.from({ length: INSTANCES }, async () => {
      const client = new pg.Client({ connectionString: url });
      await client.connect();
      await client.query(`LISTEN ${channel}`);
      return client;
    }),
  );
  const sender = new pg.Client({ connectionString: url });
  await sender.connect();
  try {
    const got = listeners.map((c) => new Promise<number>((resolve) => c.once('notification', () => resolve(Date.now()))));
    const { rows } = await sender.query<{ at: Date }>(`select clock_timestamp() as at, pg_notify('${channel}', 'x')`);
    const at = rows[0]!.at.getTime();
    return (await Promise.all(got)).map((t) => t - at);
  } finally {
    await sender.end();
    await Promise.all(listeners.map((c) => c.end()));
  }
}

async function main(): Promise<void> {
  const scratch = await scratchPostgresDatabase(benchServerUrl(), 'vault_bench');
  const dataDir = await fs.mkdtemp(path.join(os.tmpdir(), 'vault-bench-'));
  const env = { VAULT_DATA_DIR: dataDir, VAULT_DATABASE_URL: scratch.url };
  const servers: ServerProcess[] = [];
  const agents: Agent[] = [];
  try {
    const database = await openDatabase({ url: scratch.url });
    await migrateDatabase(database);
    const setup = await openVault(loadConfig(env), { database });
    await setup.services.roster.upsert(BENCH_ACTOR, { employees: Array.from({ length: INSTANCES }, (_, i) => ({ employee_id: `prop-${i}`, org_unit: 'bench', region: 'eu', enrolled: true })) });
    await setup.close();
    await database.close();
    for (let i = 0; i < INSTANCES; i++) servers.push(await startServerProcess(env));
    const dev = await loadDevSigningKey(dataDir);
    const config = loadConfig(env);
    const token = (sub: string, role: Role) => dev.sign({ sub, roles: [role], issuer: config.jwt.issuer, audience: config.jwt.audience, ttlSeconds: 3600 });
    const tokens = { admin: await token('bench-admin', 'security-admin'), agent: await token('bench-agent', 'ingest-agent') };
    for (let i = 0; i < AGENTS; i += 50) {
      agents.push(...(await Promise.all(Array.from({ length: Math.min(50, AGENTS - i) }, (_, k) => connectAgent(servers[(i + k) % INSTANCES]!.url, tokens.agent)))));
    }
    console.log(`\npropagation: ${INSTANCES} vault processes on one PostgreSQL, ${AGENTS} agents on the SSE feed (${Math.ceil(AGENTS / INSTANCES)} per instance), ${ROUNDS} rounds alternating with the bare NOTIFY baseline\n`);

    const rounds: Round[] = [];
    const floors: number[][] = [];
    await notifyRound(scratch.url);
    for (let r = 0; r < ROUNDS; r++) {
      floors.push(await notifyRound(scratch.url));
      rounds.push(await pauseRound(servers, agents, tokens, r));
    }
    const row = (label: string, perRound: number[][], aim: string) => {
      const stat = (p: number | 'max') => perRound.map((values) => (p === 'max' ? Math.max(...values) : percentile(values, p)));
      const cell = (values: number[]) => `${median(values)} (${Math.min(...values)}-${Math.max(...values)})`;
      return [label, String(perRound[0]!.length), cell(stat(50)), cell(stat(99)), cell(stat('max')), aim];
    };
    printTable(
      ['from the pause commit (ms), median of rounds (min-max)', 'n per round', 'p50', 'p99', 'max', 'aim'],
      [
        row('bare NOTIFY to 3 LISTEN connections (baseline)', floors, ''),
        row('until each instance refuses ingest (503 program_paused)', rounds.map((r) => r.refusalMs), 'p99 < 1000'),
        row('until each agent has the event (SSE)', rounds.map((r) => r.agentMs), 'p99 < 1000'),
      ],
    );
    const worst = Math.max(...rounds.map((r) => Math.max(percentile(r.refusalMs, 99), percentile(r.agentMs, 99))));
    console.log(`\nworst p99 of any round: ${worst} ms (aim: under 1000 ms, ${worst < 1000 ? 'met' : 'NOT met'}); ingest probes every ${PROBE_MS} ms`);
  } finally {
    for (const a of agents) a.close();
    await Promise.all(servers.map((s) => s.stop()));
    await scratch.drop();
    await fs.rm(dataDir, { recursive: true, force: true });
  }
}

await main();
