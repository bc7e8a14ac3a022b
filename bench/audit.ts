/*
 * The access log: appends/s through the real append path (one writer, then 10 concurrent ones,
 * each append its own transaction), and the time to verify the chain per 100,000 events.
 *   BENCH_AUDIT_SECONDS (default 5 per run), BENCH_VERIFY_EVENTS (default 100000), VAULT_DATABASE_URL
 */
import fs from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import type { AuditEventInput } from '../src/audit/index.js';
import { loadConfig } from '../src/config/index.js';
import { migrateDatabase, openDatabase, type VaultDatabase } from '../src/db/index.js';
import { openVault, type Vault } from '../src/main.js';
import { scratchPostgresDatabase } from '../test/support/database.js';
import { benchServerUrl, fmt, printTable } from './support.js';

const SECONDS = Number(process.env.BENCH_AUDIT_SECONDS ?? 5);
const VERIFY_EVENTS = Number(process.env.BENCH_VERIFY_EVENTS ?? 100_000);

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

async function appendRate(vault: Vault, writers: number): Promise<number> {
  const deadline = performance.now() + SECONDS * 1000;
  const counts = await Promise.all(
    Array.from({ length: writers }, async (_, w) => {
      let n = 0;
      while (performance.now() < deadline) await vault.audit.appendAlone(event(w, n++));
      return n;
    }),
  );
  return counts.reduce((a, b) => a + b, 0) / SECONDS;
}

async function measure(label: string, database: VaultDatabase, dataDir: string): Promise<Array<Array<string | number>>> {
  const vault = await openVault(loadConfig({ VAULT_DATA_DIR: dataDir }), { database });
  try {
    const one = await appendRate(vault, 1);
    const ten = await appendRate(vault, 10);
    const have = (await vault.audit.verify()).checked;
    for (let k = have; k < VERIFY_EVENTS; k += 5000) {
      const batch = Array.from({ length: Math.min(5000, VERIFY_EVENTS - k) }, (_, i) => event(i % 10, k + i));
      await database.db.transaction().execute((trx) => vault.audit.appendMany(trx, batch));
    }
    const started = performance.now();
    const result = await vault.audit.verify();
    const seconds = (performance.now() - started) / 1000;
    if (!result.ok) throw new Error(`chain broken: ${JSON.stringify(result)}`);
    return [
      [label, 'append, 1 writer (own transaction each)', `${fmt(one)} /s`],
      [label, 'append, 10 writers', `${fmt(ten)} /s`],
      [label, `verify ${fmt(result.checked)} events`, `${seconds.toFixed(2)} s (${((seconds * 100_000) / result.checked).toFixed(2)} s per 100k)`],
    ];
  } finally {
    await vault.close();
  }
}

const rows: Array<Array<string | number>> = [];
const scratch = await scratchPostgresDatabase(benchServerUrl(), 'vault_bench');
const pgDir = await fs.mkdtemp(path.join(os.tmpdir(), 'vault-bench-audit-'));
const pg = await openDatabase({ url: scratch.url, poolSize: 12 });
await migrateDatabase(pg);
try {
  rows.push(...(await measure('PostgreSQL', pg, pgDir)));
} finally {
  await pg.close();
  await scratch.drop();
}
const embeddedDir = await fs.mkdtemp(path.join(os.tmpdir(), 'vault-bench-audit-'));
const embedded = await openDatabase({ dataDir: embeddedDir });
await migrateDatabase(embedded);
try {
  rows.push(...(await measure('embedded (PGlite)', embedded, embeddedDir)));
} finally {
  await embedded.close();
}
console.log(`\naudit: ${SECONDS} s per append run, ${os.cpus().length} cores\n`);
printTable(['store', 'operation', 'rate'], rows);
await fs.rm(pgDir, { recursive: true, force: true });
await fs.rm(embeddedDir, { recursive: true, force: true });
