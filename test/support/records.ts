import { sql } from 'kysely';
import type { RecordBinding } from '../../src/crypto/index.js';
import type { Db } from '../../src/db/index.js';
import type { Vault } from '../../src/main.js';

/** Every table and partition of the vault's schema, dumped as text (bytea shows as hex). */
export async function dumpAllTablesAsText(db: Db): Promise<string> {
  const tables = await sql<{ name: string }>`select quote_ident(tablename) as name from pg_tables where schemaname = 'public'`.execute(db);
  let dump = '';
  for (const { name } of tables.rows) {
    const rows = await sql<{ dump: string | null }>`select string_agg(t::text, E'\n') as dump from ${sql.raw(name)} t`.execute(db);
    dump += `${name}\n${rows.rows[0]?.dump ?? ''}\n`;
  }
  return dump;
}

/** Reads stored rows back through the real key hierarchy; each entry is the plaintext or the error. */
export async function decryptStored(vault: Vault, eventIds: string[]): Promise<Map<string, string | Error>> {
  const rows = await vault.database.db
    .selectFrom('activity_records as r')
    .innerJoin('employee_data_keys as k', (j) => j.onRef('k.employee_id', '=', 'r.employee_id').onRef('k.dek_version', '=', 'r.dek_version'))
    .select(['r.event_id', 'r.employee_id', 'r.org_unit', 'r.kind', 'r.captured_at', 'r.sensitivity', 'r.dek_version', 'r.envelope', 'r.categories', 'k.wrapped_key', 'k.key_month'])
    .where('r.event_id', 'in', eventIds)
    .execute();
  const out = new Map<string, string | Error>();
  for (const r of rows) {
    const binding: RecordBinding = {
      eventId: r.event_id,
      employeeId: r.employee_id,
      orgUnit: r.org_unit,
      kind: r.kind,
      capturedAt: r.captured_at,
      sensitivity: r.sensitivity,
      dekVersion: r.dek_version,
      categories: r.categories,
    };
    try {
      const key = await vault.keyRing.unwrapDataKey({ employeeId: r.employee_id, dekVersion: r.dek_version, wrappedKey: r.wrapped_key!, month: r.key_month });
      out.set(r.event_id, vault.keyRing.decryptRecord(key, binding, r.envelope).toString());
    } catch (err) {
      out.set(r.event_id, err as Error);
    }
  }
  return out;
}

export async function countRows(db: Db): Promise<{ records: number; employees: number; keys: number }> {
  const one = async (table: string) =>
    (await sql<{ n: number }>`select count(*)::int as n from ${sql.raw(table)}`.execute(db)).rows[0]!.n;
  return { records: await one('activity_records'), employees: await one('employees'), keys: await one('employee_data_keys') };
}
