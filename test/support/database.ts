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
  const scratch = await scratchPostgresDatabase(adminUrl, 'vault_test');
  const database = await openDatabase({ url: scratch.url });
  await migrateDatabase(database);
  return {
    database,
    url: scratch.url,
    pglite: undefined,
    async drop() {
      await database.close();
      await scratch.drop();
    },
  };
}

/** A new, empty database on the server of `serverUrl` (a role that may create databases). */
export async function scratchPostgresDatabase(serverUrl: string, prefix: string): Promise<{ url: string; drop(): Promise<void> }> {
  const name = `${prefix}_${randomBytes(6).toString('hex')}`;
  const admin = async (statement: string) => {
    const client = new pg.Client({ connectionString: serverUrl });
    await client.connect();
    try {
      await client.query(statement);
    } finally {
      await client.end();
    }
  };
  await admin(`create database ${name}`);
  const url = new URL(serverUrl);
  url.pathname = `/${name}`;
  const drop = async (): Promise<void> => {
    // WITH (FORCE) refuses while an autovacuum worker (which has no role) is in the database
    // (42501); the worker is short-lived, so wait for it rather than fail the suite.
    for (let attempt = 1; ; attempt++) {
      try {
        return await admin(`drop database if exists ${name} with (force)`);
      } catch (err) {
        if ((err as { code?: string }).code !== '42501' || attempt >= 20) throw err;
        await new Promise((resolve) => setTimeout(resolve, 250));
      }
    }
  };
  return { url: url.toString(), drop };
}
