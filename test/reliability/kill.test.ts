import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import fs from 'node:fs';
import { after, before, describe, it } from 'node:test';
import { sql } from 'kysely';
import { loadDevSigningKey, type Role } from '../../src/auth/index.js';
import { loadConfig } from '../../src/config/index.js';
import { openVault } from '../../src/main.js';
import { freshDatabase, STORE, type FreshDatabase } from '../support/database.js';
import { exited, startServerProcess } from '../support/server-process.js';
import { tempDir } from '../support/vault.js';

const EMPLOYEES = 40;
const BATCH = 100;
const INGESTERS = 4;

interface Batch {
  readonly ids: string[];
  readonly body: string;
  /** The server answered 200 and counted every record as accepted or as a duplicate of a stored one. */
  acknowledged: boolean;
}

function makeBatch(n: number): Batch {
  const base = Date.parse('2026-11-10T00:00:00Z') + n * BATCH * 1000;
  const records = Array.from({ length: BATCH }, (_, k) => ({
    event_id: randomUUID(),
    employee_id: `k${(n * BATCH + k) % EMPLOYEES}`,
    captured_at: new Date(base + k * 1000).toISOString(),
    kind: 'keystroke',
    payload: { text: `refactored module ${n}.${k}` },
  }));
  return { ids: records.map((r) => r.event_id), body: JSON.stringify({ records }), acknowledged: false };
}

describe(`kill -9 of the server during ingest (${STORE})`, { timeout: 5 * 60_000 }, () => {
  let fresh: FreshDatabase | undefined;
  let dataDir: string;
  let env: Record<string, string>;
  let token: (role: Role) => Promise<string>;

  before(async () => {
    dataDir = await tempDir();
    fresh = STORE === 'postgres' ? await freshDatabase() : undefined;
    await fresh?.database.close();
    env = { VAULT_DATA_DIR: dataDir, ...(fresh?.url ? { VAULT_DATABASE_URL: fresh.url } : {}) };
    const dev = await loadDevSigningKey(dataDir);
    token = (role) => dev.sign({ sub: `${role}-kill`, roles: [role], issuer: 'activity-vault', audience: 'activity-vault', ttlSeconds: 3600 });
  });

  after(async () => {
    await fresh?.drop().catch(() => {});
    fs.rmSync(dataDir, { recursive: true, force: true });
  });

  it('keeps every acknowledged record exactly once, no batch half-written, and a chain that verifies', async () => {
    let server = await startServerProcess(env);
    const officer = await token('privacy-officer');
    const agent = await token('ingest-agent');
    const employees = Array.from({ length: EMPLOYEES }, (_, i) => ({ employee_id: `k${i}`, org_unit: `unit-${i % 5}`, region: 'eu', enrolled: true }));
    const roster = await fetch(`${server.url}/v1/employees`, {
      method: 'PUT',
      headers: { authorization: `Bearer ${officer}`, 'content-type': 'application/json' },
      body: JSON.stringify({ employees }),
    });
    assert.equal(roster.status, 200, await roster.text());

    const batches: Batch[] = [];
    const post = async (url: string, batch: Batch): Promise<void> => {
      try {
        const response = await fetch(`${url}/v1/records`, { method: 'POST', headers: { authorization: `Bearer ${agent}`, 'content-type': 'application/json' }, body: batch.body });
        if (response.status !== 200) return;
        const result = (await response.json()) as { accepted: number; duplicates: number };
        batch.acknowledged = result.accepted + result.duplicates === BATCH;
      } catch {
        // the connection died with the server: not acknowledged
      }
    };
    let killed = false;
    const ingester = async () => {
      while (!killed) {
        const batch = makeBatch(batches.length);
        batches.push(batch);
        await post(server.url, batch);
      }
    };
    const running = Array.from({ length: INGESTERS }, ingester);
    await new Promise((r) => setTimeout(r, 1500 + Math.random() * 1500));
    server.child.kill('SIGKILL');
    killed = true;
    await Promise.all(running);
    await exited(server.child);
    const acknowledgedBefore = batches.filter((b) => b.acknowledged).length;
    assert.ok(acknowledgedBefore > 0, 'some batches were acknowledged before the kill');
    assert.ok(acknowledgedBefore < batches.length, 'the kill landed while batches were in flight');

    // Recovery first: the store as the crash left it, opened again.
    const snapshot = await storedIds(env, batches);
    for (const batch of batches) {
      const stored = batch.ids.filter((id) => snapshot.ids.has(id)).length;
      if (batch.acknowledged) assert.equal(stored, BATCH, 'an acknowledged batch is stored whole');
      else assert.ok(stored === 0 || stored === BATCH, `an unacknowledged batch was half-written: ${stored} of ${BATCH}`);
    }
    assert.equal(snapshot.verified, true, 'the chain verifies after the crash');

    // The agents' retry: unacknowledged batches are sent again, acknowledged ones too (an agent may
    // not have seen the answer), and the restarted server takes each record exactly once.
    server = await startServerProcess(env);
    try {
      const ready = await fetch(`${server.url}/readyz`);
      assert.equal(ready.status, 200, await ready.text());
      for (const batch of batches) {
        batch.acknowledged = false;
        await post(server.url, batch);
        assert.ok(batch.acknowledged, 'a retried batch is acknowledged');
      }
    } finally {
      server.child.kill('SIGTERM');
      await exited(server.child);
    }

    const vault = await openVault(loadConfig(env));
    try {
      const counts = await sql<{ event_id: string; n: number }>`
        select event_id::text, count(*)::int as n from activity_records group by event_id`.execute(vault.database.db);
      const stored = new Map(counts.rows.map((r) => [r.event_id, r.n]));
      const all = batches.flatMap((b) => b.ids);
      assert.equal(stored.size, all.length, 'every record of every batch, after the retries');
      assert.ok(all.every((id) => stored.get(id) === 1), 'each exactly once');
      const verified = await vault.audit.verify();
      assert.equal(verified.ok, true, JSON.stringify(verified));
    } finally {
      await vault.close();
    }
  });
});

/** The event ids of `batches` the store holds, and whether its audit chain verifies, read in this process. */
async function storedIds(env: Record<string, string>, batches: readonly Batch[]): Promise<{ ids: Set<string>; verified: boolean }> {
  const vault = await openVault(loadConfig(env));
  try {
    const ids = batches.flatMap((b) => b.ids);
    const rows = await sql<{ event_id: string }>`select event_id::text from activity_records where event_id = any(${ids}::uuid[])`.execute(vault.database.db);
    return { ids: new Set(rows.rows.map((r) => r.event_id)), verified: (await vault.audit.verify()).ok };
  } finally {
    await vault.close();
  }
}
