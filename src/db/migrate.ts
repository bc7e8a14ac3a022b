import fs from 'node:fs/promises';
import path from 'node:path';
import type { Kysely } from 'kysely';
import { Migrator, type Migration, type MigrationProvider, type MigrationResultSet } from 'kysely/migration';
import { packageRoot } from '../config/paths.js';
import type { VaultConnection } from './drivers.js';

/** Forward-only SQL files named `<timestamp>_<what>.sql`, applied in name order. */
class SqlFileMigrationProvider implements MigrationProvider {
  constructor(private readonly dir: string) {}

  async getMigrations(): Promise<Record<string, Migration>> {
    const migrations: Record<string, Migration> = {};
    for (const file of (await fs.readdir(this.dir)).filter((f) => f.endsWith('.sql')).sort()) {
      const script = await fs.readFile(path.join(this.dir, file), 'utf8');
      migrations[file.replace(/\.sql$/, '')] = {
        up: (db: Kysely<any>) =>
          db.getExecutor().provideConnection((conn) => (conn as VaultConnection).execScript(script)),
      };
    }
    return migrations;
  }
}

export function migrationsDir(): string {
  return path.join(packageRoot(), 'migrations');
}

function migrator(db: Kysely<any>, dir: string): Migrator {
  return new Migrator({
    db,
    provider: new SqlFileMigrationProvider(dir),
    migrationTableName: 'vault_migration',
    migrationLockTableName: 'vault_migration_lock',
  });
}

/** Applies pending migrations; the result set says which ran and which failed (it does not throw). */
export function migrateToLatest(db: Kysely<any>, dir: string = migrationsDir()): Promise<MigrationResultSet> {
  return migrator(db, dir).migrateToLatest();
}

/** Names of the migrations not yet applied. */
export async function pendingMigrations(db: Kysely<any>, dir: string = migrationsDir()): Promise<string[]> {
  const all = await migrator(db, dir).getMigrations();
  return all.filter((m) => m.executedAt === undefined).map((m) => m.name);
}
