/**
 * The key lifecycle on PostgreSQL (issue 13), with the key provider the environment configures
 * (VAULT_KEY_PROVIDER: the local KEK file by default, or pkcs11 with SoftHSM2):
 *  - erasure of one employee holding 1,000, 10,000 and 100,000 records over 10 months (10 data
 *    keys), through the vault (keys destroyed, receipt signed, change event, audit) against the
 *    baseline of a bare UPDATE that destroys the same employee's keys. Aim: < 50 ms, flat in records.
 *  - KEK rotation of 100,000 data keys while nothing else runs, against the baseline of the same
 *    provider rewrapping the same 100,000 blobs in memory (no database). Aim: < 30 s.
 * Median of 5 alternating rounds, with min and max.
 */
import { randomUUID } from 'node:crypto';
import os from 'node:os';
import { sql } from 'kysely';
import { BENCH_ACTOR, fmt, median, openBenchVault, printTable, type BenchVault } from './support.js';

const ROUNDS = Math.max(1, Number(process.env.BENCH_ROUNDS ?? 5));
const SIZES = (process.env.BENCH_ERASURE_SIZES ?? '1000,10000,100000').split(',').map(Number).filter((n) => n > 0);
const ROTATION_KEYS = Number(process.env.BENCH_ROTATION_KEYS ?? 100_000);
const MONTHS = 10;
const BATCH = 1000;
const OFFICER = { ...BENCH_ACTOR, sub: 'bench-officer', roles: ['privacy-officer'] };

/** `count` records of one employee spread over MONTHS months (so MONTHS data keys). */
async function seedEmployee(b: BenchVault, employeeId: string, count: number): Promise<void> {
  await b.vault.services.roster.upsert(OFFICER, { employees: [{ employee_id: employeeId, org_unit: 'unit-bench', region: 'eu', enrolled: true }] });
  const base = Date.UTC(2026, 1, 1);
  for (let start = 0; start < count; start += BATCH) {
    const records = Array.from({ length: Math.min(BATCH, count - start) }, (_, k) => {
      const i = start + k;
      const month = i % MONTHS;
      return {
        event_id: randomUUID(),
        employee_id: employeeId,
        captured_at: new Date(base + month * 31 * 86_400_000 + (i % 86_400) * 1000).toISOString(),
        kind: 'keystroke',
        payload: { app: 'editor', text: `line ${i} of the refactoring notes, nothing sensitive here` },
      };
    });
    const result = await b.vault.services.ingest.ingest(records, BENCH_ACTOR);
    if (result.accepted !== records.length) throw new Error(`seed: ${JSON.stringify(result).slice(0, 300)}`);
  }
}

const time = async (work: () => Promise<unknown>): Promise<number> => {
  const started = process.hrtime.bigint();
  await work();
  return Number(process.hrtime.bigint() - started) / 1e6;
};

async function eraseBench(b: BenchVault): Promise<Array<Array<string | number>>> {
  const rows: Array<Array<string | number>> = [];
  for (const size of SIZES) {
    const vault: number[] = [];
    const bare: number[] = [];
    for (let round = 0; round < ROUNDS; round++) {
      const [v, k] = [`erase-v-${size}-${round}`, `erase-b-${size}-${round}`];
      await seedEmployee(b, v, size);
      await seedEmployee(b, k, size);
      await b.vault.audit.sequenced();
      const pair: Array<[number[], () => Promise<unknown>]> = [
        [bare, () => b.database.db.transaction().execute((trx) => sql`update employee_data_keys set wrapped_key = null, destroyed_at = now() where employee_id = ${k} and wrapped_key is not null`.execute(trx))],
        [vault, () => b.vault.services.subjectRights.erase(OFFICER, v)],
      ];
      // Alternate which goes first.
      for (const [into, work] of round % 2 ? pair.reverse() : pair) into.push(await time(work));
    }
    rows.push([`vault erase (keys destroyed, receipt signed, audited), ${fmt(size)} records`, median(vault).toFixed(1), Math.min(...vault).toFixed(1), Math.max(...vault).toFixed(1), '< 50 ms']);
    rows.push([`baseline: bare UPDATE destroying the same ${MONTHS} keys, ${fmt(size)} records`, median(bare).toFixed(1), Math.min(...bare).toFixed(1), Math.max(...bare).toFixed(1), '']);
  }
  return rows;
}

async function rotationBench(b: BenchVault): Promise<Array<Array<string | number>>> {
  // ROTATION_KEYS data keys: one record for each employee and month.
  const employees = Math.ceil(ROTATION_KEYS / MONTHS);
  const ids = Array.from({ length: employees }, (_, i) => `rot-${i}`);
  for (let start = 0; start < ids.length; start += 5000) {
    await b.vault.services.roster.upsert(OFFICER, { employees: ids.slice(start, start + 5000).map((id) => ({ employee_id: id, org_unit: `unit-${start % 10}`, region: 'eu', enrolled: true })) });
  }
  const records = ids.flatMap((id) => Array.from({ length: MONTHS }, (_, m) => ({ event_id: randomUUID(), employee_id: id, captured_at: new Date(Date.UTC(2026, 1 + m, 3)).toISOString(), kind: 'click', payload: { x: m } })));
  for (let start = 0; start < records.length; start += 5000) await b.vault.services.ingest.ingest(records.slice(start, start + 5000), BENCH_ACTOR);
  const live = Number((await sql<{ n: number }>`select count(*)::int as n from employee_data_keys where wrapped_key is not null`.execute(b.database.db)).rows[0]!.n);
  const rotation: number[] = [];
  const memory: number[] = [];
  const readBlobs = () => b.database.db.selectFrom('employee_data_keys').select(['employee_id', 'dek_version', 'wrapped_key', 'key_month']).where('wrapped_key', 'is not', null).execute();
  for (let round = 0; round < ROUNDS; round++) {
    const inMemory = async () => {
      // Read outside the timing: the blobs as they are after the previous rotation.
      const blobs = await readBlobs();
      memory.push(
        await time(async () => {
          for (let i = 0; i < blobs.length; i += 1000) {
            await Promise.all(blobs.slice(i, i + 1000).map((k) => b.vault.keyRing.rewrapDataKey({ employeeId: k.employee_id, dekVersion: k.dek_version, wrappedKey: k.wrapped_key!, month: k.key_month })));
          }
        }),
      );
    };
    const rotate = async () => void rotation.push(await time(() => b.vault.services.keys.rotate({ ...BENCH_ACTOR, sub: 'bench-admin', roles: ['security-admin'] })));
    for (const step of round % 2 ? [rotate, inMemory] : [inMemory, rotate]) await step();
  }
  const s = (v: number[]) => [(median(v) / 1000).toFixed(2), (Math.min(...v) / 1000).toFixed(2), (Math.max(...v) / 1000).toFixed(2)];
  return [
    [`vault keys rotate: ${fmt(live)} data keys rewrapped in the database, old KEK retired (1.5 s grace included)`, ...s(rotation), '< 30 s'],
    [`baseline: the same ${fmt(live)} blobs rewrapped by the provider in memory`, ...s(memory), ''],
  ];
}

async function main(): Promise<void> {
  const b = await openBenchVault();
  try {
    const version = (await sql<{ v: string }>`select version() as v`.execute(b.database.db)).rows[0]!.v.split(' on ')[0];
    console.log(`\nkeys: ${version}, key provider ${b.config.keyProvider.kind} (${b.vault.keyRing.kekId}), ${os.cpus().length} cores, median of ${ROUNDS} alternating rounds with min and max\n`);
    if (SIZES.length > 0) {
      printTable(['erasure of one employee', 'ms (median)', 'min', 'max', 'aim'], await eraseBench(b));
      console.log('');
    }
    if (ROTATION_KEYS > 0) printTable(['KEK rotation', 's (median)', 'min', 'max', 'aim'], await rotationBench(b));
  } finally {
    await b.close();
  }
}

await main();
