import { execFileSync, fork, type ChildProcess } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import fs from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { sql } from 'kysely';
import { DEFAULT_RECORD_KINDS, loadConfig, type VaultConfig } from '../src/config/index.js';
import { migrateDatabase, openDatabase, type VaultDatabase } from '../src/db/index.js';
import { openVault, type Vault } from '../src/main.js';
import { scratchPostgresDatabase } from '../test/support/database.js';

/** The PostgreSQL to measure against: VAULT_DATABASE_URL, else the local server the project script provisions. */
export function benchServerUrl(): string {
  return process.env.VAULT_DATABASE_URL ?? execFileSync('bash', ['scripts/postgres-up.sh'], { encoding: 'utf8' }).trim();
}

const WORDS = ['the', 'build', 'failed', 'again', 'review', 'merge', 'deploy', 'query', 'latency', 'budget', 'draft', 'email'];

/**
 * Capture-agent records with ~256-byte payloads spread over `employees` and one month, shaped as
 * they arrive from JSON.parse (flat strings, not concatenation ropes, which cost more to serialise).
 */
export function syntheticRecords(count: number, employees: string[], kinds: string[] = ['keystroke', 'click', 'prompt', 'mouse_move']) {
  return JSON.parse(JSON.stringify(buildRecords(count, employees, kinds))) as ReturnType<typeof buildRecords>;
}

function buildRecords(count: number, employees: string[], kinds: string[]) {
  const base = Date.parse('2026-11-02T08:00:00Z');
  return Array.from({ length: count }, (_, i) => {
    let text = '';
    while (text.length < 200) text += `${WORDS[(i * 7 + text.length) % WORDS.length]} `;
    return {
      event_id: randomUUID(),
      employee_id: employees[i % employees.length]!,
      captured_at: new Date(base + i * 37).toISOString(),
      kind: kinds[i % kinds.length]!,
      payload: { app: 'editor', window: 'main.ts', text },
    };
  });
}

export function printTable(headers: string[], rows: Array<Array<string | number>>): void {
  const cells = [headers, ...rows.map((r) => r.map(String))];
  const widths = headers.map((_, c) => Math.max(...cells.map((r) => r[c]!.length)));
  const line = (r: string[]) => `| ${r.map((v, c) => v.padEnd(widths[c]!)).join(' | ')} |`;
  console.log(line(headers));
  console.log(`| ${widths.map((w) => '-'.repeat(w)).join(' | ')} |`);
  for (const r of cells.slice(1)) console.log(line(r));
}

export const fmt = (n: number) => Math.round(n).toLocaleString('en-US');

/** The middle value of an odd count (the upper middle of an even one). */
export const median = (values: readonly number[]): number => [...values].sort((a, b) => a - b)[Math.floor(values.length / 2)]!;

/** The baseline rows: the same records with the payload in clear as the "envelope", for a plain binary COPY. */
export function plainCopyRows(records: ReturnType<typeof syntheticRecords>) {
  return records.map((r, i) => ({
    eventId: r.event_id,
    capturedAt: new Date(r.captured_at),
    employeeId: r.employee_id,
    orgUnit: `unit-${i % 10}`,
    kind: r.kind,
    sensitivity: 1,
    dekVersion: 1,
    envelope: Buffer.from(JSON.stringify(r.payload)),
    categories: [] as string[],
  }));
}

export const BENCH_ACTOR = { sub: 'bench', roles: ['ingest-agent', 'privacy-officer'], teams: [], purpose: undefined, jti: undefined };
export const BENCH_EMPLOYEES = Array.from({ length: 1000 }, (_, i) => `emp-${i}`);

export interface BenchVault {
  readonly vault: Vault;
  readonly config: VaultConfig;
  readonly database: VaultDatabase;
  /** Another instance on the same store and keys, with `env` over the first one's settings; closed with the bench. */
  another(env: Record<string, string>): Promise<Vault>;
  close(): Promise<void>;
}

/** A vault on a scratch PostgreSQL database with BENCH_EMPLOYEES enrolled in 10 units. */
export async function openBenchVault(): Promise<BenchVault> {
  const scratch = await scratchPostgresDatabase(benchServerUrl(), 'vault_bench');
  const dataDir = await fs.mkdtemp(path.join(os.tmpdir(), 'vault-bench-'));
  const database = await openDatabase({ url: scratch.url });
  await migrateDatabase(database);
  // The key provider comes from the environment (VAULT_KEY_PROVIDER, VAULT_PKCS11_*); records are
  // kept ten years so the fixed dates of synthetic records never expire.
  const providerEnv = Object.fromEntries(Object.entries(process.env).filter(([k]) => k === 'VAULT_KEY_PROVIDER' || k.startsWith('VAULT_PKCS11_')));
  const kinds = DEFAULT_RECORD_KINDS.split(',').map((k) => `${k}:3650`).join(',');
  const env = { VAULT_DATA_DIR: dataDir, VAULT_LOG_LEVEL: 'warn', VAULT_RECORD_KINDS: kinds, VAULT_MAINTENANCE_SECONDS: '86400', ...providerEnv };
  const config = loadConfig(env);
  const vault = await openVault(config, { database });
  const others: Vault[] = [];
  await vault.services.roster.upsert(BENCH_ACTOR, { employees: BENCH_EMPLOYEES.map((id, i) => ({ employee_id: id, org_unit: `unit-${i % 10}`, region: 'eu', enrolled: true })) });
  return {
    vault,
    config,
    database,
    async another(extra) {
      const other = await openVault(loadConfig({ ...env, ...extra }), { database });
      others.push(other);
      return other;
    },
    async close() {
      for (const other of others) await other.close();
      await vault.close();
      await database.close();
      await scratch.drop();
      await fs.rm(dataDir, { recursive: true, force: true });
    },
  };
}

export async function emptyRecords(database: VaultDatabase): Promise<void> {
  await sql`truncate activity_records`.execute(database.db);
  await sql`vacuum analyze activity_records`.execute(database.db).catch(() => {});
}

/**
 * Runs `phase`, and when BENCH_CPU_PROFILE names a directory, records a CPU profile of this process
 * for the phase alone (not the load before it) as `<dir>/<name>.cpuprofile`, for `node --cpu-prof`'s
 * readers (Chrome DevTools, speedscope). BENCH_ALLOC_PROFILE (a directory) records where the phase
 * allocated instead, objects the collector already freed included, as `<dir>/<name>.heapprofile`.
 */
export async function profiled<T>(name: string, phase: () => Promise<T>): Promise<T> {
  const cpuDir = process.env.BENCH_CPU_PROFILE;
  const allocDir = process.env.BENCH_ALLOC_PROFILE;
  if (!cpuDir && !allocDir) return phase();
  const { Session } = await import('node:inspector/promises');
  const session = new Session();
  session.connect();
  if (cpuDir) {
    await session.post('Profiler.enable');
    await session.post('Profiler.setSamplingInterval', { interval: 200 });
    await session.post('Profiler.start');
  } else {
    await session.post('HeapProfiler.enable');
    await session.post('HeapProfiler.startSampling', { samplingInterval: 4096, includeObjectsCollectedByMajorGC: true, includeObjectsCollectedByMinorGC: true });
  }
  try {
    return await phase();
  } finally {
    const [dir, file, profile] = cpuDir
      ? [cpuDir, `${name}.cpuprofile`, (await session.post('Profiler.stop')).profile]
      : [allocDir!, `${name}.heapprofile`, (await session.post('HeapProfiler.stopSampling')).profile];
    await fs.mkdir(dir, { recursive: true });
    await fs.writeFile(path.join(dir, file), JSON.stringify(profile));
    session.disconnect();
  }
}

/**
 * A bench helper in a process of its own, called over IPC: each call carries an id, and the child
 * answers it with the same id. A child that exits fails the calls waiting on it rather than hang the bench.
 */
class ChildCalls<R extends { status: number; error?: string }> {
  readonly #child: ChildProcess;
  readonly #waiting = new Map<number, (result: R | { status: 0; error: string }) => void>();
  #next = 0;

  constructor(script: string, serialization: 'json' | 'advanced' = 'json') {
    this.#child = fork(fileURLToPath(new URL(script, import.meta.url)), { stdio: ['ignore', 'inherit', 'inherit', 'ipc'], serialization });
    this.#child.on('message', (message: R & { id: number }) => {
      this.#waiting.get(message.id)?.(message);
      this.#waiting.delete(message.id);
    });
    this.#child.on('exit', (code, signal) => {
      for (const settle of this.#waiting.values()) settle({ status: 0, error: `${script} exited (${code ?? signal})` });
      this.#waiting.clear();
    });
  }

  call(message: object): Promise<R | { status: 0; error: string }> {
    const id = this.#next++;
    return new Promise((resolve) => {
      this.#waiting.set(id, resolve);
      this.#child.send({ id, ...message });
    });
  }

  close(): void {
    this.#child.disconnect();
  }
}

/**
 * Capture agents in a process of their own (bench/agent.mjs), as in production: the batches they
 * post are built and serialised there ahead of the clock, so the vault's process holds none of them.
 */
export class RemoteAgents {
  readonly #calls = new ChildCalls<{ status: number; error?: string }>('./agent.mjs', 'advanced');

  /** Hands the agents the request bodies they will post. */
  async load(bodies: string[]): Promise<void> {
    const result = await this.#calls.call({ load: bodies });
    if (result.status !== 200) throw new Error(`the agents took no bodies: ${result.error ?? ''}`);
  }

  /** Posts every loaded body, `connections` at a time; throws unless each answers 200 with `expect` accepted. */
  async postAll(url: string, headers: Record<string, string>, connections: number, expect: number): Promise<void> {
    const result = await this.#calls.call({ url, headers, connections, expect });
    if (result.status !== 200) throw new Error(`HTTP ingest failed: ${result.status} ${result.error ?? ''}`);
  }

  close(): void {
    this.#calls.close();
  }
}

/**
 * A training job's reader in a process of its own (bench/reader.mjs): the vault's process then
 * spends its time on the vault alone, as in production, where the job runs elsewhere.
 */
export class RemoteReader {
  readonly #calls = new ChildCalls<{ status: number; records: number; bytes: number; error?: string }>('./reader.mjs');

  /** Lines and body bytes of a 200 NDJSON answer; anything else throws with its body. */
  async drain(url: string, headers: Record<string, string>): Promise<{ records: number; bytes: number }> {
    const result = await this.#calls.call({ url, headers });
    if (result.status !== 200 || !('records' in result)) throw new Error(`stream refused: ${result.status} ${result.error ?? ''}`);
    return { records: result.records, bytes: result.bytes };
  }

  close(): void {
    this.#calls.close();
  }
}
