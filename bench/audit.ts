/*
 * The access log on PostgreSQL against plain PostgreSQL in the same run, alternating, median of
 * BENCH_ROUNDS (default 5) rounds with min and max:
 *   - appends: 16 writers for BENCH_AUDIT_SECONDS (default 3) each, every append acknowledged once
 *     durable; "chained" counts the run until the sequencer has chained every event. Baseline: the
 *     same rows INSERTed into a plain table, one autocommit statement each.
 *   - verify: walking BENCH_VERIFY_EVENTS (default 100,000) events; baseline: reading the same rows.
 * VAULT_DATABASE_URL, else the local server scripts/postgres-up.sh provisions.
 */
import fs from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { sql } from 'kysely';
import type { AuditEventInput } from '../src/audit/index.js';
import { loadConfig } from '../src/config/index.js';
import { auditEventsAfter, inTransaction, migrateDatabase, openDatabase, type Db } from '../src/db/index.js';
import { openVault, type Vault } from '../src/main.js';
import { scratchPostgresDatabase } from '../test/support/database.js';
import { benchServerUrl, fmt, printTable, median } from './support.js';

const SECONDS = Number(process.env.BENCH_AUDIT_SECONDS ?? 3);
const ROUNDS = Number(process.env.BENCH_ROUNDS ?? 5);
const VERIFY_EVENTS = Number(process.env.BENCH_VERIFY_EVENTS ?? 100_000);
const WRITERS = 16;

const event = (writer: number, n: number): AuditEventInput => ({
  action: 'policy.decision',
  decision: n % 3 === 0 ? 'deny' : 'allow',
  actor: { sub: `job-${writer}`, roles: ['training-job'], teams: [`team-${writer % 4}`], purpose: 'autocomplete-model' },
  employeeId: `emp-${n % 1000}`,
  policyRevision: 'src-bench',
  recordCount: n,
  decisionId: '00000000-0000-4000-8000-000000000000',
  details: { request: { org_units: ['engineering'], kinds: ['keystroke'] }, reasons: ['granted_by:team-0'] },
});

/** Runs `writers` loops of `once` for SECONDS; returns operations per second. */
async function rate(writers: number, once: (writer: number, n: number) => Promise<unknown>): Promise<number> {
  const deadline = performance.now() + SECONDS * 1000;
  const counts = await Promise.all(
    Array.from({ length: writers }, async (_, w) => {
      let n = 0;
      while (performance.now() < deadline) await once(w, n++);
      return n;
    }),
  );
  return counts.reduce((a, b) => a + b, 0) / SECONDS;
}

/** Acknowledged appends per second, and events per second counting until all are chained. */
async function appendRate(vault: Vault, once: (writer: number, n: number) => Promise<unknown>): Promise<{ acked: number; chained: number }> {
  const started = performance.now();
  const acked = await rate(WRITERS, once);
  await vault.audit.sequenced();
  return { acked, chained: (acked * SECONDS) / ((performance.now() - started) / 1000) };
}

async function plainInsertRate(db: Db): Promise<number> {
  return rate(WRITERS, async (w, n) => {
    const e = event(w, n);
    await sql`insert into bench_plain_events (event_id, occurred_at, action, decision, severity, actor, actor_roles, teams, purpose, employee_ref, policy_revision, record_count, decision_id, details)
      values (gen_random_uuid(), now(), ${e.action}, ${e.decision}, 'info', ${e.actor!.sub}, ${e.actor!.roles}, ${e.actor!.teams}, ${e.actor!.purpose}, ${e.employeeId}, ${e.policyRevision}, ${e.recordCount}, ${e.decisionId}::uuid, ${JSON.stringify(e.details)})`.execute(db);
  });
}

async function readAll(db: Db): Promise<number> {
  let after = 0;
  for (;;) {
    const page = await auditEventsAfter(db, after, 5000);
    if (page.length === 0) return after;
    after = page.at(-1)!.seq;
  }
}

const row = (label: string, values: number[], unit: string) => [label, `${fmt(median(values))} ${unit}`, fmt(Math.min(...values)), fmt(Math.max(...values))];

const scratch = await scratchPostgresDatabase(benchServerUrl(), 'vault_bench');
const dataDir = await fs.mkdtemp(path.join(os.tmpdir(), 'vault-bench-audit-'));
const database = await openDatabase({ url: scratch.url, poolSize: WRITERS + 4 });
await migrateDatabase(database);
await sql`create table bench_plain_events (like audit_queue including all)`.execute(database.db);
await sql`alter table bench_plain_events drop column mac`.execute(database.db);
const vault = await openVault(loadConfig({ VAULT_DATA_DIR: dataDir }), { database });
const results = { plain: [] as number[], alone: [] as number[], aloneChained: [] as number[], inTrx: [] as number[], inTrxChained: [] as number[], read: [] as number[], verify: [] as number[] };
try {
  for (let round = 0; round < ROUNDS; round++) {
    results.plain.push(await plainInsertRate(database.db));
    const alone = await appendRate(vault, (w, n) => vault.audit.appendAlone(event(w, n)));
    results.alone.push(alone.acked);
    results.aloneChained.push(alone.chained);
    const inTrx = await appendRate(vault, (w, n) => inTransaction(database, (trx) => vault.audit.append(trx, event(w, n))));
    results.inTrx.push(inTrx.acked);
    results.inTrxChained.push(inTrx.chained);
  }
  let have = (await vault.audit.verify()).checked;
  for (; have < VERIFY_EVENTS; have += 5000) {
    const batch = Array.from({ length: Math.min(5000, VERIFY_EVENTS - have) }, (_, i) => event(i % 10, have + i));
    await inTransaction(database, (trx) => vault.audit.appendMany(trx, batch));
  }
  await vault.audit.sequenced();
  let checked = 0;
  for (let round = 0; round < ROUNDS; round++) {
    let started = performance.now();
    const read = await readAll(database.db);
    results.read.push(read / ((performance.now() - started) / 1000));
    started = performance.now();
    const result = await vault.audit.verify();
    if (!result.ok) throw new Error(`chain broken: ${JSON.stringify(result)}`);
    checked = result.checked;
    results.verify.push(result.checked / ((performance.now() - started) / 1000));
  }
  const version = (await sql<{ v: string }>`select current_setting('server_version') as v`.execute(database.db)).rows[0]!.v;
  console.log(`\naudit: PostgreSQL ${version}, ${ROUNDS} alternating rounds, ${SECONDS} s per append run, ${WRITERS} writers, verify over ${fmt(checked)} events, ${os.cpus().length} cores\n`);
  printTable(
    ['measure', 'median', 'min', 'max'],
    [
      row('baseline: plain INSERT, one autocommit statement each', results.plain, 'rows/s'),
      row('appendAlone, acknowledged durable', results.alone, 'events/s'),
      row('appendAlone, until chained', results.aloneChained, 'events/s'),
      row("append in the action's transaction, acknowledged", results.inTrx, 'events/s'),
      row("append in the action's transaction, until chained", results.inTrxChained, 'events/s'),
      row('baseline: reading the chain (no hashing)', results.read, 'events/s'),
      row('verify', results.verify, 'events/s'),
    ],
  );
} finally {
  await vault.close();
  await database.close();
  await scratch.drop();
  await fs.rm(dataDir, { recursive: true, force: true });
}
