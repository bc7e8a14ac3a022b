import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import { promisify } from 'node:util';
import { after, before, describe, it } from 'node:test';
import { loadDevSigningKey, type Role } from '../../src/auth/index.js';
import { migrateDatabase, openDatabase } from '../../src/db/index.js';
import { STORE } from '../support/database.js';
import { DATASET_REQUEST } from '../support/policies.js';
import { freePort, startServerProcess, streamDataset, type ServerProcess, type StreamedLine } from '../support/server-process.js';
import { tempDir } from '../support/vault.js';

const run = promisify(execFile);
const RECORDS = 40_000;
const BATCH = 5_000;
const PRE_OUTAGE = 100;
/** How long PostgreSQL stays down; every request in it must be answered 503 within REQUEST_TIMEOUT_MS. */
const OUTAGE_MS = 6_000;
const REQUEST_TIMEOUT_MS = 10_000;
const RECOVERY_LIMIT_MS = 15_000;

/**
 * A throwaway PostgreSQL cluster of its own, so stopping it touches no other test's server.
 * The binaries refuse to run as root: as root, they run as the `postgres` OS user.
 */
class PrivateCluster {
  private constructor(
    readonly dir: string,
    readonly port: number,
    private readonly bin: string,
  ) {}

  static async create(): Promise<PrivateCluster> {
    const versions = fs.readdirSync('/usr/lib/postgresql').sort((a, b) => Number(b) - Number(a));
    const bin = path.join('/usr/lib/postgresql', versions[0]!, 'bin');
    // Under /tmp whatever TMPDIR says: the postgres user must be able to reach it.
    const dir = fs.mkdtempSync('/tmp/vault-pg-restart-');
    if (process.getuid?.() === 0) await run('chown', ['postgres:postgres', dir]);
    const cluster = new PrivateCluster(dir, await freePort(), bin);
    await cluster.as('initdb', ['-D', cluster.data, '-U', 'postgres', '--auth=trust', '-E', 'UTF8', '--no-sync']);
    await cluster.start();
    await cluster.psql("create role vault login password 'vault' createdb createrole");
    await cluster.psql('create database vault owner vault');
    return cluster;
  }

  get data(): string {
    return path.join(this.dir, 'data');
  }

  get url(): string {
    return `postgres://vault:vault@127.0.0.1:${this.port}/vault`;
  }

  async start(): Promise<void> {
    await this.as('pg_ctl', ['-D', this.data, '-l', path.join(this.dir, 'server.log'), '-w', '-o', `-p ${this.port} -k ${this.dir} -c listen_addresses=127.0.0.1`, 'start']);
  }

  /** `fast`: open sessions are terminated (57P01) and the server stops after a checkpoint. */
  async stop(mode: 'fast' | 'immediate' = 'fast'): Promise<void> {
    await this.as('pg_ctl', ['-D', this.data, '-m', mode, '-w', 'stop']);
  }

  async destroy(): Promise<void> {
    await this.stop('immediate').catch(() => {});
    fs.rmSync(this.dir, { recursive: true, force: true });
  }

  private psql(statement: string): Promise<unknown> {
    return this.as('psql', ['-h', this.dir, '-p', String(this.port), '-U', 'postgres', '-v', 'ON_ERROR_STOP=1', '-qAt', '-c', statement]);
  }

  private as(tool: string, args: string[]): Promise<unknown> {
    const command = path.join(this.bin, tool);
    return process.getuid?.() === 0 ? run('runuser', ['-u', 'postgres', '--', command, ...args], { cwd: '/' }) : run(command, args);
  }
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** A request bounded in time: a hang shows as status 0 with the time it took. */
async function bounded(url: string, init: RequestInit = {}): Promise<{ status: number; ms: number; body: string }> {
  const started = performance.now();
  try {
    const response = await fetch(url, { ...init, signal: AbortSignal.timeout(REQUEST_TIMEOUT_MS) });
    return { status: response.status, body: await response.text(), ms: performance.now() - started };
  } catch (err) {
    return { status: 0, body: String((err as Error).message), ms: performance.now() - started };
  }
}

function recordsOf(count: number, day: string, tagPrefix: string) {
  const base = Date.parse(`${day}T00:00:00Z`);
  return Array.from({ length: count }, (_, i) => ({
    event_id: randomUUID(),
    employee_id: `pg${i % 20}`,
    captured_at: new Date(base + (i % 86_400) * 1000).toISOString(),
    kind: 'keystroke',
    payload: { tag: `${tagPrefix}${i}`, text: `edited a file in the editor, line ${i}` },
  }));
}

describe('PostgreSQL restarted mid-stream: 503 while it is down, recovery without a restart, resume without loss', {
  skip: STORE === 'postgres' ? false : 'runs in the PostgreSQL leg only (VAULT_DATABASE_URL set), on a private cluster of its own',
  timeout: 5 * 60_000,
}, () => {
  let cluster: PrivateCluster | undefined;
  let server: ServerProcess | undefined;
  let dataDir: string | undefined;
  let token: (role: Role, claims?: { sub?: string; teams?: string[]; purpose?: string }) => Promise<string>;

  before(async () => {
    cluster = await PrivateCluster.create();
    const database = await openDatabase({ url: cluster.url });
    await migrateDatabase(database).finally(() => database.close());
    dataDir = await tempDir('vault-pg-restart-data-');
    server = await startServerProcess({ VAULT_DATA_DIR: dataDir, VAULT_DATABASE_URL: cluster.url, VAULT_MAX_SCOPE_FRACTION: '1' });
    const dev = await loadDevSigningKey(dataDir);
    token = (role, claims = {}) =>
      dev.sign({ sub: claims.sub ?? `${role}-pg`, roles: [role], teams: claims.teams ?? [], ...(claims.purpose ? { purpose: claims.purpose } : {}), issuer: 'activity-vault', audience: 'activity-vault', ttlSeconds: 3600 });
  });

  after(async () => {
    await server?.stop();
    await cluster?.destroy();
    if (dataDir) fs.rmSync(dataDir, { recursive: true, force: true });
  });

  it('answers 503 and not ready while PostgreSQL is down, recovers by itself, and the stream resumes with every record exactly once', async (t) => {
    const { url, child } = server!;
    const json = (value: string) => ({ authorization: `Bearer ${value}`, 'content-type': 'application/json' });
    const [officer, agent, auditor] = [await token('privacy-officer'), await token('ingest-agent'), await token('auditor')];
    const job = await token('training-job', { sub: 'job-pg', teams: ['team-autocomplete'], purpose: 'autocomplete-model' });
    const employees = Array.from({ length: 20 }, (_, i) => ({ employee_id: `pg${i}`, org_unit: 'engineering', region: 'eu', enrolled: true }));
    const roster = await bounded(`${url}/v1/employees`, { method: 'PUT', headers: json(officer), body: JSON.stringify({ employees }) });
    assert.equal(roster.status, 200, roster.body);

    const post = (records: unknown[]) => bounded(`${url}/v1/records`, { method: 'POST', headers: json(agent), body: JSON.stringify({ records }) });
    const sent = recordsOf(RECORDS, '2026-11-03', 'r');
    for (let i = 0; i < RECORDS; i += BATCH) {
      const answer = await post(sent.slice(i, i + BATCH));
      assert.equal(answer.status, 200, answer.body);
      assert.equal(JSON.parse(answer.body).accepted, BATCH);
    }
    const requestBody = JSON.stringify(DATASET_REQUEST);
    const granted = await bounded(`${url}/v1/datasets`, { method: 'POST', headers: json(job), body: requestBody });
    assert.equal(granted.status, 201, granted.body);
    const lease = JSON.parse(granted.body) as { dataset_id: string; record_count: number };
    assert.equal(lease.record_count, RECORDS);

    // Acknowledged just before the outage, on a day outside the dataset: it must be there after.
    const preOutage = recordsOf(PRE_OUTAGE, '2026-11-09', 'pre');
    const preAnswer = await post(preOutage);
    assert.equal(preAnswer.status, 200, preAnswer.body);
    assert.equal(JSON.parse(preAnswer.body).accepted, PRE_OUTAGE);

    // The stream reads its first lines, then waits while PostgreSQL goes down under it.
    let resumeReading!: () => void;
    const outageStarted = new Promise<void>((r) => (resumeReading = r));
    const firstPart = streamDataset(url, job, lease.dataset_id, { pauseAt: { lines: 1, until: outageStarted } });
    await sleep(500);
    const stopStarted = performance.now();
    await cluster!.stop('fast');
    const down = performance.now();
    resumeReading();
    const cut = await firstPart;
    assert.equal(cut.status, 200);
    assert.ok(cut.lines.length > 0 && cut.lines.length < RECORDS, `the outage landed mid-stream (${cut.lines.length} of ${RECORDS} lines)`);
    assert.equal(cut.complete, false, 'the stream does not pretend to have ended');

    const duringOutage: Array<{ what: string; status: number; ms: number; body: string }> = [];
    const cursor = cut.lines.at(-1)!.cursor;
    while (performance.now() - down < OUTAGE_MS) {
      const probes = await Promise.all([
        bounded(`${url}/readyz`).then((r) => ({ what: 'readyz', ...r })),
        post(recordsOf(10, '2026-11-10', `down${duringOutage.length}-`)).then((r) => ({ what: 'ingest', ...r })),
        bounded(`${url}/v1/datasets`, { method: 'POST', headers: json(job), body: requestBody }).then((r) => ({ what: 'dataset', ...r })),
        bounded(`${url}/v1/datasets/${lease.dataset_id}/records?after=${encodeURIComponent(cursor)}`, { headers: json(job) }).then((r) => ({ what: 'stream', ...r })),
        bounded(`${url}/v1/audit/events?limit=5`, { headers: json(auditor) }).then((r) => ({ what: 'audit', ...r })),
      ]);
      duringOutage.push(...probes);
      await sleep(250);
    }
    assert.equal(child.exitCode ?? child.signalCode, null, `the vault outlives the outage; it exited with:\n${server!.stderr()}`);
    const unexpected = duringOutage.filter((p) => p.status !== 503);
    assert.deepEqual(unexpected.map((p) => `${p.what} ${p.status} ${p.body.slice(0, 200)}`), [], `every request while PostgreSQL is down is a 503; server errors:\n${server!.errorLines.join('\n')}`);
    const readyz = duringOutage.find((p) => p.what === 'readyz')!;
    assert.equal(JSON.parse(readyz.body).ready, false, 'readyz reports not ready');
    assert.equal(JSON.parse(readyz.body).checks.database.ok, false);
    const slowest = Math.max(...duringOutage.map((p) => p.ms));

    const restartAt = performance.now();
    await cluster!.start();
    const up = performance.now();
    let ready = false;
    while (!ready && performance.now() - up < RECOVERY_LIMIT_MS) {
      ready = (await bounded(`${url}/readyz`)).status === 200;
      if (!ready) await sleep(100);
    }
    const recovered = performance.now();
    assert.ok(ready, `readyz is ok again within ${RECOVERY_LIMIT_MS / 1000} s of PostgreSQL's start`);
    assert.equal(child.exitCode, null, 'the vault recovered without a restart');
    assert.equal(child.signalCode, null);

    const rest = await streamDataset(url, job, lease.dataset_id, { after: cursor });
    assert.equal(rest.status, 200, rest.body);
    assert.equal(rest.complete, true, String(rest.error));
    const delivered: StreamedLine[] = [...cut.lines, ...rest.lines];
    const tags = delivered.map((l) => l.tag);
    assert.equal(tags.length, lease.record_count, 'no record lost or repeated across the outage');
    assert.equal(new Set(tags).size, tags.length, 'no duplicates');
    assert.deepEqual(new Set(tags), new Set(sent.map((r) => r.payload.tag)), 'exactly the records of the dataset');
    assert.equal(new Set(delivered.map((l) => l.cursor)).size, delivered.length, 'each cursor once');

    const laterJob = await token('training-job', { sub: 'job-pg-after', teams: ['team-autocomplete'], purpose: 'autocomplete-model' });
    const afterRequest = { ...DATASET_REQUEST, from: '2026-11-09T00:00:00.000Z', to: '2026-11-10T00:00:00.000Z' };
    const afterGrant = await bounded(`${url}/v1/datasets`, { method: 'POST', headers: json(laterJob), body: JSON.stringify(afterRequest) });
    assert.equal(afterGrant.status, 201, afterGrant.body);
    const afterLease = JSON.parse(afterGrant.body) as { dataset_id: string; record_count: number };
    assert.equal(afterLease.record_count, PRE_OUTAGE, 'the batch acknowledged before the outage is stored');
    const afterStream = await streamDataset(url, laterJob, afterLease.dataset_id);
    assert.deepEqual(new Set(afterStream.lines.map((l) => l.tag)), new Set(preOutage.map((r) => r.payload.tag)));

    const ingestAfter = await post(recordsOf(10, '2026-11-11', 'after'));
    assert.equal(ingestAfter.status, 200, ingestAfter.body);
    const verify = await bounded(`${url}/v1/audit/verify`, { headers: json(auditor) });
    assert.equal(verify.status, 200, verify.body);
    assert.equal(JSON.parse(verify.body).ok, true, `the audit chain verifies across the outage: ${verify.body}`);

    const counts = new Map<string, number>();
    for (const p of duringOutage) counts.set(p.what, (counts.get(p.what) ?? 0) + 1);
    t.diagnostic(
      `pg restart: stop took ${((down - stopStarted) / 1000).toFixed(1)} s; stream cut after ${cut.lines.length} of ${RECORDS} lines; ` +
        `down ${((restartAt - down) / 1000).toFixed(1)} s, ${duringOutage.length} requests all 503 (${[...counts].map(([w, n]) => `${w} ${n}`).join(', ')}), slowest ${slowest.toFixed(0)} ms; ` +
        `start took ${((up - restartAt) / 1000).toFixed(1)} s, readyz ok ${((recovered - up) / 1000).toFixed(2)} s after; resumed ${rest.lines.length} lines, ${tags.length} in all, no duplicates`,
    );
  });
});
