import { PGlite } from '@electric-sql/pglite';
import { Kysely, sql } from 'kysely';
import fs from 'node:fs';
import path from 'node:path';
import pg from 'pg';
import { VaultError } from '../errors/index.js';
import { pgDialect, pgliteDialect } from './drivers.js';
import { migrateToLatest } from './migrate.js';
import type { VaultSchema } from './schema.js';

export type Db = Kysely<VaultSchema>;

export interface VaultDatabase {
  readonly kind: 'postgres' | 'embedded';
  readonly db: Db;
  /** PostgreSQL's connection string, for a worker thread's own pool; undefined for the embedded store, which lives in this thread. */
  readonly url?: string | undefined;
  /** True when the store answers a trivial query. */
  ping(): Promise<boolean>;
  /**
   * Calls `onNotify` for each NOTIFY on `channel` (a dedicated connection on PostgreSQL; PGlite's
   * own listener in-process). Returns the function that stops listening.
   */
  listen(channel: string, onNotify: (payload: string) => void): Promise<() => Promise<void>>;
  close(): Promise<void>;
}

export interface OpenDatabaseOptions {
  /** PostgreSQL connection string; without it the embedded database is used. */
  readonly url?: string | undefined;
  /** Directory of the embedded database (`<dataDir>/pgdata`); required without `url` or `pglite`. */
  readonly dataDir?: string | undefined;
  /** An already open PGlite (tests clone a migrated template); the caller keeps ownership. */
  readonly pglite?: PGlite | undefined;
  readonly poolSize?: number | undefined;
  /** How the connections name themselves to PostgreSQL (`pg_stat_activity.application_name`). */
  readonly applicationName?: string | undefined;
}

type Listen = VaultDatabase['listen'];

function wrap(kind: VaultDatabase['kind'], db: Db, listen: Listen, onClose: () => Promise<void> = async () => {}): VaultDatabase {
  return {
    kind,
    db,
    listen,
    async ping() {
      try {
        await sql`select 1`.execute(db);
        return true;
      } catch {
        return false;
      }
    },
    async close() {
      await db.destroy();
      await onClose();
    },
  };
}

const CHANNEL = /^[a-z_][a-z0-9_]{0,62}$/;

function pgListener(url: string): Listen {
  return async (channel, onNotify) => {
    if (!CHANNEL.test(channel)) throw new TypeError('bad channel name');
    const client = new pg.Client({ connectionString: url });
    client.on('error', () => {
      /* the caller's poll covers a lost listener */
    });
    await client.connect();
    client.on('notification', (n) => n.channel === channel && onNotify(n.payload ?? ''));
    await client.query(`LISTEN ${channel}`);
    return async () => {
      await client.end().catch(() => {});
    };
  };
}

function pgliteListener(pglite: PGlite): Listen {
  return async (channel, onNotify) => {
    if (!CHANNEL.test(channel)) throw new TypeError('bad channel name');
    const unlisten = await pglite.listen(channel, onNotify);
    return async () => {
      await unlisten().catch(() => {});
    };
  };
}

/** One process at a time may open an embedded data directory; a second one would corrupt it. */
function lockDataDir(dir: string): () => void {
  const lockFile = path.join(dir, 'vault.pid');
  for (let attempt = 0; attempt < 2; attempt++) {
    try {
      fs.writeFileSync(lockFile, String(process.pid), { flag: 'wx', mode: 0o600 });
      return () => fs.rmSync(lockFile, { force: true });
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw err;
      const holder = Number(fs.readFileSync(lockFile, 'utf8'));
      let alive = false;
      try {
        alive = Number.isInteger(holder) && holder > 0 && process.kill(holder, 0);
      } catch {
        alive = false;
      }
      if (alive && holder !== process.pid) {
        throw new VaultError('ERR_UNAVAILABLE', `the embedded database in ${dir} is in use by process ${holder}; stop it first`);
      }
      fs.rmSync(lockFile, { force: true });
    }
  }
  throw new VaultError('ERR_UNAVAILABLE', `cannot lock the embedded database in ${dir}`);
}

/** Opens PostgreSQL (`url`) or the embedded PGlite store. Does not migrate. */
export async function openDatabase(options: OpenDatabaseOptions): Promise<VaultDatabase> {
  if (options.url) {
    const pool = new pg.Pool({ connectionString: options.url, max: options.poolSize ?? 10, ...(options.applicationName ? { application_name: options.applicationName } : {}) });
    pool.on('error', () => {
      /* an idle client lost its server; the next checkout reconnects and /readyz reports it */
    });
    return { ...wrap('postgres', new Kysely<VaultSchema>({ dialect: pgDialect(pool) }), pgListener(options.url)), url: options.url };
  }
  if (options.pglite) {
    return wrap('embedded', new Kysely<VaultSchema>({ dialect: pgliteDialect(options.pglite, false) }), pgliteListener(options.pglite));
  }
  if (!options.dataDir) throw new TypeError('openDatabase needs url, pglite or dataDir');
  fs.mkdirSync(options.dataDir, { recursive: true, mode: 0o700 });
  const unlock = lockDataDir(options.dataDir);
  try {
    const pglite = await PGlite.create({ dataDir: path.join(options.dataDir, 'pgdata') });
    return wrap('embedded', new Kysely<VaultSchema>({ dialect: pgliteDialect(pglite, true) }), pgliteListener(pglite), async () => unlock());
  } catch (err) {
    unlock();
    throw err;
  }
}

/** Migrates to the latest schema or throws `ERR_UNAVAILABLE` naming the migration that failed. */
export async function migrateDatabase(database: VaultDatabase): Promise<string[]> {
  const { error, results = [] } = await migrateToLatest(database.db);
  if (error) {
    const failed = results.find((r) => r.status === 'Error')?.migrationName ?? 'unknown';
    throw new VaultError('ERR_UNAVAILABLE', `migration ${failed} failed: ${error instanceof Error ? error.message : String(error)}`, { cause: error });
  }
  return results.filter((r) => r.status === 'Success').map((r) => r.migrationName);
}
