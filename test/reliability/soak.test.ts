import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import fs from 'node:fs';
import { after, before, describe, it } from 'node:test';
import pg from 'pg';
import { loadDevSigningKey, type Role } from '../../src/auth/index.js';
import { freshDatabase, STORE, type FreshDatabase } from '../support/database.js';
import { buildTestBundle, newSigningKey, trustedKeysFile } from '../support/policies.js';
import { residentKiB, startServerProcess, streamDataset, type ServerProcess } from '../support/server-process.js';
import { tempDir } from '../support/vault.js';

const SECONDS = Number(process.env.VAULT_SOAK_SECONDS ?? '60');
const INGESTERS = 2;
const EXPORTERS = 8;
const ACTIVATION_EVERY_MS = 10_000;
const BATCH = 200;
const DAYS = 10;
const BASE = Date.parse('2026-11-01T00:00:00Z');
/** RSS of the last third of the run may be at most this multiple of the first third's (after warm-up). */
const RSS_GROWTH_LIMIT = 1.5;

const TEAM = 'team-soak';
const PURPOSE = 'soak-model';
const UNITS = ['soak-a', 'soak-b'];
const SOAK_GRANT = { org_units: UNITS, kinds: ['keystroke'], max_sensitivity: 2, purposes: [PURPOSE] };
// The second bundle also grants another team: activating it is growth (a second admin approves),
// going back is not. Both grant the exporters' team the same, so no lease is ever revoked.
const BUNDLES = {
  'soak-a': { grants: { [TEAM]: SOAK_GRANT } },
  'soak-b': { grants: { [TEAM]: SOAK_GRANT, 'team-other': { org_units: ['soak-c'], kinds: ['click'], max_sensitivity: 1, purposes: ['other-model'] } } },
};

type Kind = 'ingest' | 'dataset' | 'stream' | 'stage' | 'approve' | 'activate';

class Tally {
  readonly statuses = new Map<Kind, Map<number, number>>();
  readonly latencies = new Map<Kind, number[]>();
  readonly failures: string[] = [];

  note(kind: Kind, status: number, ms: number): void {
    const byStatus = this.statuses.get(kind) ?? new Map<number, number>();
    byStatus.set(status, (byStatus.get(status) ?? 0) + 1);
    this.statuses.set(kind, byStatus);
    this.latencies.set(kind, [...(this.latencies.get(kind) ?? []), ms]);
  }

  fail(message: string): void {
    if (this.failures.length < 20) this.failures.push(message);
  }

  /** Statuses of 500 and above; 0 stands for a request that got no answer at all. */
  serverErrors(): string[] {
    const out: string[] = [];
    for (const [kind, byStatus] of this.statuses) for (const [status, n] of byStatus) if (status >= 500 || status === 0) out.push(`${kind} ${status} x${n}`);
    return out;
  }

  summary(): string {
    const parts = [...this.statuses].map(([kind, byStatus]) => {
      const counts = [...byStatus].map(([s, n]) => `${s}:${n}`).join('/');
      return `${kind} ${counts} p50 ${median(this.latencies.get(kind) ?? []).toFixed(0)}ms`;
    });
    return parts.join(', ');
  }
}

function median(values: number[]): number {
  if (values.length === 0) return NaN;
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.floor(sorted.length / 2)]!;
}

describe(`soak: ${EXPORTERS} exporters, ${INGESTERS} ingesters and a policy activation every 10 s against one vault (${STORE})`, {
  skip: STORE === 'postgres' ? false : 'needs VAULT_DATABASE_URL: the soak runs against one vault on PostgreSQL',
  timeout: (SECONDS + 300) * 1000,
}, () => {
  let fresh: FreshDatabase | undefined;
  let dataDir: string;
  let server: ServerProcess | undefined;
  let token: (role: Role, claims?: { sub?: string; teams?: string[]; purpose?: string }) => Promise<string>;
  const archives = new Map<string, Buffer>();

  before(async () => {
    dataDir = await tempDir('vault-soak-');
    fresh = await freshDatabase();
    await fresh.database.close();
    const key = await newSigningKey();
    for (const [revision, data] of Object.entries(BUNDLES)) archives.set(revision, await buildTestBundle({ key, revision, data }));
    server = await startServerProcess({
      VAULT_DATA_DIR: dataDir,
      VAULT_DATABASE_URL: fresh.url!,
      VAULT_BUNDLE_KEYS_FILE: await trustedKeysFile(key),
      VAULT_MAX_SCOPE_FRACTION: '1',
    });
    const dev = await loadDevSigningKey(dataDir);
    token = (role, claims = {}) =>
      dev.sign({ sub: claims.sub ?? `${role}-soak`, roles: [role], teams: claims.teams ?? [], ...(claims.purpose ? { purpose: claims.purpose } : {}), issuer: 'activity-vault', audience: 'activity-vault', ttlSeconds: 3600 });
  });

  after(async () => {
    await server?.stop();
    // The server's pool may still be closing: drop() waits out its last connections.
    await fresh?.drop().catch(() => {});
    fs.rmSync(dataDir, { recursive: true, force: true });
  });

  it('answers no 5xx, streams exactly what each dataset counted, keeps exactly the acknowledged records, and holds its memory', async (t) => {
    const { url } = server!;
    const tally = new Tally();
    const timed = async (kind: Kind, request: () => Promise<Response>): Promise<Response | undefined> => {
      const started = performance.now();
      try {
        const response = await request();
        tally.note(kind, response.status, performance.now() - started);
        return response;
      } catch (err) {
        tally.note(kind, 0, performance.now() - started);
        tally.fail(`${kind}: no answer (${(err as Error).message})`);
        return undefined;
      }
    };
    const json = (tokenValue: string, contentType = 'application/json') => ({ authorization: `Bearer ${tokenValue}`, 'content-type': contentType });

    const employees = [
      ...Array.from({ length: 20 }, (_, i) => ({ employee_id: `soak${i}`, org_unit: UNITS[i % 2]!, region: 'eu', enrolled: true })),
      ...Array.from({ length: 10 }, (_, i) => ({ employee_id: `other${i}`, org_unit: 'soak-c', region: 'eu', enrolled: true })),
    ];
    const roster = await fetch(`${url}/v1/employees`, { method: 'PUT', headers: json(await token('privacy-officer')), body: JSON.stringify({ employees }) });
    assert.equal(roster.status, 200, await roster.text());

    const [alice, bob] = [await token('security-admin', { sub: 'alice' }), await token('security-admin', { sub: 'bob' })];
    /** Milliseconds of each whole cycle: stage, approve when needed, activate. */
    const activations: number[] = [];
    const activate = async (revision: string): Promise<void> => {
      const started = performance.now();
      const staged = await timed('stage', () => fetch(`${url}/v1/policy/bundles`, { method: 'POST', headers: json(alice, 'application/gzip'), body: archives.get(revision)! }));
      if (staged?.status !== 201) return tally.fail(`staging ${revision}: ${staged?.status} ${await staged?.text()}`);
      const { diff } = (await staged.json()) as { diff: { access: { growth: string[] } } };
      if (diff.access.growth.length > 0) {
        const approved = await timed('approve', () => fetch(`${url}/v1/policy/bundles/${revision}/approve`, { method: 'POST', headers: { authorization: `Bearer ${bob}` } }));
        if (approved?.status !== 200) return tally.fail(`approving ${revision}: ${approved?.status} ${await approved?.text()}`);
      }
      const activated = await timed('activate', () => fetch(`${url}/v1/policy/bundles/${revision}/activate`, { method: 'POST', headers: { authorization: `Bearer ${alice}` } }));
      if (activated?.status !== 200) return tally.fail(`activating ${revision}: ${activated?.status} ${await activated?.text()}`);
      activations.push(performance.now() - started);
    };
    await activate('soak-a');
    assert.deepEqual(tally.failures, [], 'the first bundle installs');

    const acknowledged = new Set<string>();
    const agent = await token('ingest-agent');
    let running = true;
    let batchNo = 0;
    const ingester = async (who: number) => {
      while (running) {
        const n = batchNo++;
        const records = Array.from({ length: BATCH }, (_, k) => ({
          event_id: randomUUID(),
          employee_id: `soak${(n * BATCH + k) % 20}`,
          captured_at: new Date(BASE + Math.floor(Math.random() * DAYS * 86_400) * 1000).toISOString(),
          kind: 'keystroke',
          payload: { tag: `${who}-${n}-${k}`, text: `edited a file in the editor, line ${k}` },
        }));
        const response = await timed('ingest', () => fetch(`${url}/v1/records`, { method: 'POST', headers: json(agent), body: JSON.stringify({ records }) }));
        if (response?.status !== 200) {
          tally.fail(`ingest: ${response?.status} ${await response?.text()}`);
          continue;
        }
        const result = (await response.json()) as { accepted: number; duplicates: number };
        if (result.accepted !== BATCH) tally.fail(`ingest accepted ${result.accepted} of ${BATCH}: ${JSON.stringify(result)}`);
        for (const r of records) acknowledged.add(r.payload.tag);
      }
    };

    let datasetsChecked = 0;
    let recordsChecked = 0;
    let resumes = 0;
    const exporter = async (who: number) => {
      const job = await token('training-job', { sub: `soak-job-${who}`, teams: [TEAM], purpose: PURPOSE });
      while (running) {
        const day = Math.floor(Math.random() * DAYS);
        const body = { purpose: PURPOSE, kinds: ['keystroke'], org_units: UNITS, from: new Date(BASE + day * 86_400_000).toISOString(), to: new Date(BASE + (day + 1) * 86_400_000).toISOString() };
        const granted = await timed('dataset', () => fetch(`${url}/v1/datasets`, { method: 'POST', headers: json(job), body: JSON.stringify(body) }));
        if (granted?.status !== 201) {
          tally.fail(`dataset request: ${granted?.status} ${await granted?.text()}`);
          continue;
        }
        const lease = (await granted.json()) as { dataset_id: string; record_count: number };
        const tags: string[] = [];
        let cursor: string | undefined;
        // A third of the streams are cut partway and resumed from the last cursor received.
        let cutAfter = Math.random() < 1 / 3 && lease.record_count > 1 ? 1 + Math.floor(Math.random() * (lease.record_count - 1)) : undefined;
        for (let attempt = 0; attempt < 3; attempt++) {
          const started = performance.now();
          const part = await streamDataset(url, job, lease.dataset_id, { ...(cursor === undefined ? {} : { after: cursor }), ...(cutAfter === undefined ? {} : { cutAfter }) });
          tally.note('stream', part.status, performance.now() - started);
          if (part.status !== 200) {
            tally.fail(`stream: ${part.status} ${part.body ?? ''}`);
            break;
          }
          tags.push(...part.lines.map((l) => l.tag));
          cursor = part.lines.at(-1)?.cursor ?? cursor;
          if (part.complete) break;
          if (cutAfter === undefined) {
            tally.fail(`stream cut by the server after ${tags.length} of ${lease.record_count}: ${String(part.error)}`);
            break;
          }
          cutAfter = undefined;
          resumes++;
        }
        if (tags.length !== lease.record_count) tally.fail(`dataset ${lease.dataset_id} counted ${lease.record_count} records and streamed ${tags.length}`);
        else if (new Set(tags).size !== tags.length) tally.fail(`dataset ${lease.dataset_id} streamed a record twice`);
        datasetsChecked++;
        recordsChecked += tags.length;
      }
    };

    const rss: Array<{ at: number; kib: number }> = [];
    const pid = server!.child.pid!;
    const startedAt = performance.now();
    const sampler = setInterval(() => {
      const kib = residentKiB(pid);
      if (kib !== undefined) rss.push({ at: (performance.now() - startedAt) / 1000, kib });
    }, 1000);
    let next: 'soak-a' | 'soak-b' = 'soak-b';
    let activating = Promise.resolve();
    const activator = setInterval(() => {
      const revision = next;
      next = next === 'soak-a' ? 'soak-b' : 'soak-a';
      activating = activating.then(() => activate(revision));
    }, ACTIVATION_EVERY_MS);
    const workers = [...Array.from({ length: INGESTERS }, (_, i) => ingester(i)), ...Array.from({ length: EXPORTERS }, (_, i) => exporter(i))];
    await new Promise((r) => setTimeout(r, SECONDS * 1000));
    running = false;
    clearInterval(activator);
    await Promise.all([...workers, activating]);
    clearInterval(sampler);
    const elapsed = (performance.now() - startedAt) / 1000;

    // The store holds exactly what was acknowledged: counted by the database, and exported whole.
    const client = new pg.Client({ connectionString: fresh!.url });
    await client.connect();
    const stored = await client.query<{ n: number }>('select count(*)::int as n from activity_records').finally(() => client.end());
    const job = await token('training-job', { sub: 'soak-final', teams: [TEAM], purpose: PURPOSE });
    const everything = { purpose: PURPOSE, kinds: ['keystroke'], org_units: UNITS, from: new Date(BASE).toISOString(), to: new Date(BASE + DAYS * 86_400_000).toISOString() };
    const finalGrant = await fetch(`${url}/v1/datasets`, { method: 'POST', headers: json(job), body: JSON.stringify(everything) });
    if (finalGrant.status !== 201) assert.fail(`the final dataset: ${finalGrant.status} ${await finalGrant.text()}`);
    const finalLease = (await finalGrant.json()) as { dataset_id: string; record_count: number };
    const finalStream = await streamDataset(url, job, finalLease.dataset_id, { timeoutMs: 300_000 });
    const exported = new Set(finalStream.lines.map((l) => l.tag));

    const kib = (from: number, to: number) => Math.max(...rss.filter((s) => s.at >= from && s.at <= to).map((s) => s.kib));
    const warmUp = SECONDS / 6;
    const third = SECONDS / 3;
    const firstMax = kib(warmUp, warmUp + third);
    const lastMax = kib(elapsed - third, elapsed);
    t.diagnostic(
      `soak ${elapsed.toFixed(1)} s: ${tally.summary()}; activation cycles ${activations.length} p50 ${median(activations).toFixed(0)}ms; ` +
        `datasets checked ${datasetsChecked} (${recordsChecked} records, ${resumes} resumed); acknowledged ${acknowledged.size}, stored ${stored.rows[0]!.n}, exported ${finalStream.lines.length}; ` +
        `RSS MiB first ${(rss[0]!.kib / 1024).toFixed(0)}, max of ${warmUp.toFixed(0)}-${(warmUp + third).toFixed(0)} s ${(firstMax / 1024).toFixed(0)}, ` +
        `max of last ${third.toFixed(0)} s ${(lastMax / 1024).toFixed(0)}, last ${(rss.at(-1)!.kib / 1024).toFixed(0)}`,
    );

    assert.deepEqual(tally.serverErrors(), [], `no 5xx and no request left unanswered; server errors:\n${server!.errorLines.join('\n')}`);
    assert.deepEqual(tally.failures, [], 'every request answered as expected and every stream exact');
    assert.ok(activations.length >= Math.floor((SECONDS * 1000) / ACTIVATION_EVERY_MS), `an activation every 10 s (${activations.length})`);
    assert.ok(datasetsChecked >= EXPORTERS, `each exporter finished datasets (${datasetsChecked})`);
    assert.ok(acknowledged.size > 0);
    assert.equal(stored.rows[0]!.n, acknowledged.size, 'the store holds exactly the acknowledged records');
    assert.equal(finalLease.record_count, acknowledged.size, 'a dataset of everything counts every acknowledged record');
    assert.equal(finalStream.complete, true, String(finalStream.error));
    assert.equal(finalStream.lines.length, acknowledged.size, 'and streams each once');
    assert.ok([...acknowledged].every((tag) => exported.has(tag)), 'every acknowledged record is exported');
    assert.ok(lastMax <= firstMax * RSS_GROWTH_LIMIT, `RSS bounded: max ${lastMax} KiB in the last ${third} s against ${firstMax} KiB after warm-up`);
  });
});
