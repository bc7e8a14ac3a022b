import { sql } from 'kysely';
import type { Db, VaultDatabase } from './database.js';

/**
 * Runs `work` in one transaction: everything it writes, and the audit event it appends last,
 * commits together or not at all. The one way a transaction is opened outside `src/db`.
 *
 * @example
 * await inTransaction(database, async (trx) => {
 *   await insertLease(trx, lease);
 *   await audit.append(trx, event);
 * });
 */
export function inTransaction<T>(database: VaultDatabase | Db, work: (trx: Db) => Promise<T>): Promise<T> {
  const db = 'ping' in database ? database.db : database;
  return db.transaction().execute(work);
}

/** Serialises policy activations across every instance until the transaction ends. */
export async function lockPolicyActivation(trx: Db): Promise<void> {
  await sql`select pg_advisory_xact_lock(hashtext('vault_policy_activation'))`.execute(trx);
}

/** Serialises the install of the default bundle across instances starting together. */
export async function lockDefaultPolicyInstall(trx: Db): Promise<void> {
  await sql`select pg_advisory_xact_lock(hashtext('vault_policy_default'))`.execute(trx);
}

/** Stored record rows whose envelope contains `bytes` (a plaintext-leak probe: it must find none). */
export async function countEnvelopesContaining(db: Db, bytes: Uint8Array): Promise<number> {
  const rows = await sql<{ n: number }>`select count(*)::int as n from activity_records where position(${bytes} in envelope) > 0`.execute(db);
  return rows.rows[0]!.n;
}

/**
 * Bounds a sequencer pass: a session holding the head's lock (a frozen instance, or someone
 * holding it on purpose) makes the pass fail within seconds, and the log refuse appends, instead
 * of the pass waiting while actions go on unchained.
 */
export async function boundSequencerPass(trx: Db): Promise<void> {
  await sql`select pg_catalog.set_config('lock_timeout', '2s', true), pg_catalog.set_config('statement_timeout', '30s', true)`.execute(trx);
}

/** Runs `work` in one read-only transaction that sees a single snapshot of the database. */
export function inReadOnlySnapshot<T>(database: VaultDatabase, work: (trx: Db) => Promise<T>): Promise<T> {
  return database.db.transaction().setIsolationLevel('repeatable read').setAccessMode('read only').execute(work);
}
