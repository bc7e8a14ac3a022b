import { PGlite } from '@electric-sql/pglite';
import { randomBytes } from 'node:crypto';
import pg from 'pg';
import { migrateDatabase, openDatabase, type VaultDatabase } from '../../src/db/index.js';

/** Which store this run tests: CI runs the whole suite once per store. */
export const STORE = process.env.VAULT_DATABASE_URL ? 'postgres' : 'embedded';

export interface FreshDatabase {
  readonly database: VaultDatabase;
  /** Connection string of the fresh PostgreSQL database; undefined on the embedded store. */
  readonly url: string | undefined;
  /** The PGlite instance on the embedded store. */
  readonly pglite: PGlite | undefined;
  drop(): Promise<void>;
}

/** A new, migrated, empty database: its own PostgreSQL database, or its own in-memory PGlite. */
export async function freshDatabase(): Promise<FreshDatabase> {
  const adminUrl = process.env.VAULT_DATABASE_URL;
  if (!adminUrl) {
    const pglite = await PGlite.create({});
    const database = await openDatabase({ pglite });
    await migrateDatabase(database);
    return {
      database,
      url: undefined,
      pglite,
      async drop() {
        await database.close();
        await pglite.close();
      },
    };
  }
  const name = `vault_test_${randomBytes(6).toString('hex')}`;
  const admin = new pg.Client({ connectionString: adminUrl });
  await admin.connect();
  await admin.query(`create database ${name}`);
  await admin.end();
  const url = new URL(adminUrl);
  url.pathname = `/${name}`;
  const database = await openDatabase({ url: url.toString() });
  await migrateDatabase(database);
  return {
    database,
    url: url.toString(),
    pglite: undefined,
    async drop() {
      await database.close();
      const client = new pg.Client({ connectionString: adminUrl });
      await client.connect();
      await client.query(`drop database if exists ${name} with (force)`);
      await client.end();
    },
  };
}
