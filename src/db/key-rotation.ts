import { sql } from 'kysely';
import type { Db } from './database.js';

export interface KekRotationRow {
  readonly rotationId: string;
  readonly toKek: string;
  readonly fromKeks: string[];
  readonly startedAt: Date;
  readonly startedBy: string;
  readonly keysRewrapped: number;
  readonly secretsRewrapped: number;
  readonly finishedAt: Date | null;
}

function rotationOf(r: {
  rotation_id: string;
  to_kek: string;
  from_keks: string[];
  started_at: Date;
  started_by: string;
  keys_rewrapped: string | number;
  secrets_rewrapped: string | number;
  finished_at: Date | null;
}): KekRotationRow {
  return {
    rotationId: r.rotation_id,
    toKek: r.to_kek,
    fromKeks: r.from_keks,
    startedAt: r.started_at,
    startedBy: r.started_by,
    keysRewrapped: Number(r.keys_rewrapped),
    secretsRewrapped: Number(r.secrets_rewrapped),
    finishedAt: r.finished_at,
  };
}

/** The rotation still running, if any. */
export async function openKekRotation(db: Db): Promise<KekRotationRow | undefined> {
  const row = await db.selectFrom('kek_rotations').selectAll().where('finished_at', 'is', null).executeTakeFirst();
  return row && rotationOf(row);
}

export async function lastKekRotation(db: Db): Promise<KekRotationRow | undefined> {
  const row = await db.selectFrom('kek_rotations').selectAll().orderBy('started_at', 'desc').limit(1).executeTakeFirst();
  return row && rotationOf(row);
}

/** Records a rotation's start unless one is open; returns the open one. */
export async function startKekRotation(db: Db, r: { rotationId: string; toKek: string; fromKeks: readonly string[]; startedBy: string }): Promise<KekRotationRow> {
  await sql`insert into kek_rotations (rotation_id, to_kek, from_keks, started_by)
            values (${r.rotationId}, ${r.toKek}, ${[...r.fromKeks]}::text[], ${r.startedBy}) on conflict do nothing`.execute(db);
  return (await openKekRotation(db))!;
}

export async function finishKekRotation(db: Db, rotationId: string): Promise<void> {
  await db.updateTable('kek_rotations').set({ finished_at: sql<Date>`now()` }).where('rotation_id', '=', rotationId).execute();
}

export async function countRotationProgress(db: Db, rotationId: string, keys: number, secrets: number): Promise<void> {
  await db
    .updateTable('kek_rotations')
    .set((eb) => ({ keys_rewrapped: eb('keys_rewrapped', '+', keys), secrets_rewrapped: eb('secrets_rewrapped', '+', secrets) }))
    .where('rotation_id', '=', rotationId)
    .execute();
}

/** Live data keys not yet wrapped under `kekId`, a batch at a time. */
export async function dataKeysNotUnder(db: Db, kekId: string, limit: number) {
  const rows = await db
    .selectFrom('employee_data_keys')
    .select(['employee_id', 'dek_version', 'wrapped_key', 'key_month'])
    .where('wrapped_key', 'is not', null)
    .where('kek_id', '<>', kekId)
    .limit(limit)
    .execute();
  return rows.map((r) => ({ employeeId: r.employee_id, dekVersion: r.dek_version, wrappedKey: r.wrapped_key!, month: r.key_month }));
}

/**
 * Replaces wrapped keys with their rewraps, each only if it is still the blob that was read (an
 * erasure in between wins: its NULL stays). Returns how many were replaced.
 */
export async function replaceWrappedKeys(
  db: Db,
  kekId: string,
  keys: ReadonlyArray<{ employeeId: string; dekVersion: number; before: Uint8Array; after: Uint8Array }>,
): Promise<number> {
  if (keys.length === 0) return 0;
  const result = await sql`
    update employee_data_keys k set wrapped_key = n.after, kek_id = ${kekId}
      from unnest(${keys.map((k) => k.employeeId)}::text[], ${keys.map((k) => k.dekVersion)}::int[],
                  ${keys.map((k) => Buffer.from(k.before))}::bytea[], ${keys.map((k) => Buffer.from(k.after))}::bytea[]) as n(employee_id, dek_version, before, after)
     where k.employee_id = n.employee_id and k.dek_version = n.dek_version and k.wrapped_key = n.before`.execute(db);
  return Number(result.numAffectedRows ?? 0);
}

export async function vaultSecretsNotUnder(db: Db, kekId: string) {
  return db.selectFrom('vault_secrets').select(['name', 'wrapped']).where('kek_id', '<>', kekId).execute();
}

export async function replaceVaultSecret(db: Db, name: string, before: Uint8Array, after: Uint8Array, kekId: string): Promise<number> {
  const result = await db.updateTable('vault_secrets').set({ wrapped: after, kek_id: kekId }).where('name', '=', name).where('wrapped', '=', before).executeTakeFirst();
  return Number(result.numUpdatedRows);
}

/** Leases whose pseudonym secret is not known to be wrapped under `kekId` (leases are few: one per granted dataset). */
export async function leaseSecretsNotUnder(db: Db, kekId: string): Promise<Array<{ datasetId: string; wrapped: Uint8Array }>> {
  const rows = await db
    .selectFrom('dataset_leases')
    .select(['dataset_id', 'pseudonym_key'])
    .where((eb) => eb.or([eb('pseudonym_kek', 'is', null), eb('pseudonym_kek', '<>', kekId)]))
    .execute();
  return rows.map((r) => ({ datasetId: r.dataset_id, wrapped: r.pseudonym_key }));
}

export async function replaceLeaseSecret(db: Db, datasetId: string, before: Uint8Array, after: Uint8Array, kekId: string): Promise<number> {
  const result = await db
    .updateTable('dataset_leases')
    .set({ pseudonym_key: after, pseudonym_kek: kekId })
    .where('dataset_id', '=', datasetId)
    .where('pseudonym_key', '=', before)
    .executeTakeFirst();
  return Number(result.numUpdatedRows);
}

/** Live data keys per KEK. */
export async function dataKeysPerKek(db: Db): Promise<Record<string, number>> {
  const rows = await db
    .selectFrom('employee_data_keys')
    .select(['kek_id', sql<number>`count(*)::float8`.as('n')])
    .where('wrapped_key', 'is not', null)
    .groupBy('kek_id')
    .execute();
  return Object.fromEntries(rows.map((r) => [r.kek_id, r.n]));
}
