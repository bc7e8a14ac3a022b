import type { PGlite } from '@electric-sql/pglite';
import {
  CompiledQuery,
  PostgresAdapter,
  PostgresIntrospector,
  PostgresQueryCompiler,
  type DatabaseConnection,
  type Dialect,
  type Driver,
  type Kysely,
  type QueryResult,
  type TransactionSettings,
} from 'kysely';
import type pg from 'pg';
import Cursor from 'pg-cursor';
import { from as copyFrom, to as copyTo } from 'pg-copy-streams';
import { pipeline } from 'node:stream/promises';
import { Readable } from 'node:stream';
import { VaultError } from '../errors/index.js';

/**
 * What the vault needs of a connection beyond Kysely's: multi-statement scripts (migrations) and
 * binary COPY (bulk ingest). Both stores implement it, so one encoder serves both.
 */
export interface VaultConnection extends DatabaseConnection {
  execScript(sql: string): Promise<void>;
  /** Streams COPY data; the iterable is pulled as the server takes data, so producing it overlaps the write. */
  copyIn(copySql: string, data: AsyncIterable<Buffer>): Promise<number>;
  /**
   * The whole output of a `COPY ... TO STDOUT`, where the store can send it to this process
   * (PostgreSQL; PGlite writes COPY output only to a file, which a confined role may not).
   * Output past `maxBytes` is read and dropped, and the copy refused with a `RangeError`.
   */
  readonly copyOut?: (copySql: string, maxBytes: number) => Promise<Buffer>;
}

const MUTATIONS = new Set(['INSERT', 'UPDATE', 'DELETE', 'MERGE']);
const NETWORK_ERRORS = new Set(['ECONNREFUSED', 'ECONNRESET', 'ETIMEDOUT', 'EPIPE', 'ENOTFOUND', 'EHOSTUNREACH']);

/**
 * A lost or refused server is "unavailable" (503), not an internal error: connection exceptions
 * (class 08), admin shutdown (57P01-57P03), too many connections (53300), network errors.
 */
function asUnavailable(err: unknown): unknown {
  const e = err as { code?: unknown; message?: unknown } | null;
  const code = typeof e?.code === 'string' ? e.code : '';
  // "not queryable": pg's answer on a client whose connection died while it was checked out.
  const lost = code.startsWith('08') || /^57P0[123]$/.test(code) || code === '53300' || NETWORK_ERRORS.has(code) || /Connection terminated|is not queryable/i.test(String(e?.message ?? ''));
  return lost ? new VaultError('ERR_UNAVAILABLE', 'the database is unavailable', { cause: err }) : err;
}

/**
 * pg-pool listens for a client's `error` only while the client is idle; a connection lost while
 * checked out (a database restart) would be an unhandled `error` event and kill the process. The
 * query in flight fails on its own (a 503), and the pool discards a client that is no longer
 * queryable when it is released.
 */
function ignoreLostConnection(): void {}

class PgConnection implements VaultConnection {
  constructor(readonly client: pg.PoolClient) {
    client.on('error', ignoreLostConnection);
  }

  async executeQuery<R>(query: CompiledQuery): Promise<QueryResult<R>> {
    const result = await this.client.query<R & object>({ text: query.sql, values: [...query.parameters] }).catch((err: unknown) => {
      throw asUnavailable(err);
    });
    return {
      rows: result.rows,
      numAffectedRows: MUTATIONS.has(result.command) && result.rowCount != null ? BigInt(result.rowCount) : undefined,
    };
  }

  async *streamQuery<R>(query: CompiledQuery, chunkSize = 1000): AsyncIterableIterator<QueryResult<R>> {
    const cursor = this.client.query(new Cursor<R>(query.sql, [...query.parameters]));
    try {
      for (;;) {
        const rows = await cursor.read(chunkSize);
        if (rows.length === 0) return;
        yield { rows };
      }
    } finally {
      await cursor.close();
    }
  }

  async execScript(sql: string): Promise<void> {
    await this.client.query(sql);
  }

  async copyIn(copySql: string, data: AsyncIterable<Buffer>): Promise<number> {
    const stream = this.client.query(copyFrom(copySql));
    await pipeline(Readable.from(data, { objectMode: false, highWaterMark: 256 * 1024 }), stream).catch((err: unknown) => {
      throw asUnavailable(err);
    });
    return stream.rowCount ?? 0;
  }

  readonly copyOut = async (copySql: string, maxBytes: number): Promise<Buffer> => {
    const chunks: Buffer[] = [];
    let bytes = 0;
    try {
      // Drained to its end even past the limit: the connection is only reusable once PostgreSQL has sent it all.
      for await (const chunk of this.client.query(copyTo(copySql))) {
        bytes += (chunk as Buffer).length;
        if (bytes <= maxBytes) chunks.push(chunk as Buffer);
        else chunks.length = 0;
      }
    } catch (err) {
      throw asUnavailable(err);
    }
    if (bytes > maxBytes) throw new RangeError(`binary COPY output over ${maxBytes} bytes`);
    return Buffer.concat(chunks, bytes);
  };
}

class PgDriver implements Driver {
  constructor(private readonly pool: pg.Pool) {}
  async init(): Promise<void> {}
  async acquireConnection(): Promise<DatabaseConnection> {
    return new PgConnection(
      await this.pool.connect().catch((err: unknown) => {
        throw asUnavailable(err);
      }),
    );
  }
  async beginTransaction(conn: DatabaseConnection, settings: TransactionSettings): Promise<void> {
    const isolation = settings.isolationLevel ? ` isolation level ${settings.isolationLevel}` : '';
    const mode = settings.accessMode ? ` ${settings.accessMode}` : '';
    await conn.executeQuery(CompiledQuery.raw(`begin${isolation}${mode}`));
  }
  async commitTransaction(conn: DatabaseConnection): Promise<void> {
    await conn.executeQuery(CompiledQuery.raw('commit'));
  }
  async rollbackTransaction(conn: DatabaseConnection): Promise<void> {
    await conn.executeQuery(CompiledQuery.raw('rollback'));
  }
  async releaseConnection(conn: DatabaseConnection): Promise<void> {
    const { client } = conn as PgConnection;
    client.off('error', ignoreLostConnection);
    client.release();
  }
  async destroy(): Promise<void> {
    await this.pool.end();
  }
}

class PgliteConnection implements VaultConnection {
  constructor(private readonly db: PGlite) {}

  async executeQuery<R>(query: CompiledQuery): Promise<QueryResult<R>> {
    if (this.db.closed) throw new VaultError('ERR_UNAVAILABLE', 'the embedded database is closed');
    const result = await this.db.query<R>(query.sql, [...query.parameters]);
    return {
      rows: result.rows,
      numAffectedRows: result.affectedRows === undefined ? undefined : BigInt(result.affectedRows),
    };
  }

  async *streamQuery<R>(query: CompiledQuery, chunkSize = 1000): AsyncIterableIterator<QueryResult<R>> {
    const { rows } = await this.executeQuery<R>(query);
    for (let i = 0; i < rows.length; i += chunkSize) yield { rows: rows.slice(i, i + chunkSize) };
  }

  async execScript(sql: string): Promise<void> {
    await this.db.exec(sql);
  }

  async copyIn(copySql: string, data: AsyncIterable<Buffer>): Promise<number> {
    const copyFromBlob = copySql.replace(/from\s+stdin/i, "from '/dev/blob'");
    const parts: Buffer[] = [];
    for await (const part of data) parts.push(part);
    const result = await this.db.query(copyFromBlob, [], { blob: new Blob(parts) });
    return result.affectedRows ?? 0;
  }
}

/**
 * PGlite has one session. Kysely's connection model is mapped onto it with a mutex, so a
 * transaction owns the session until it ends and nothing interleaves with it.
 */
class PgliteDriver implements Driver {
  #queue: Promise<void> = Promise.resolve();
  #release: (() => void) | undefined;
  readonly #connection: PgliteConnection;

  constructor(private readonly db: PGlite, private readonly ownsDb: boolean) {
    this.#connection = new PgliteConnection(db);
  }
  async init(): Promise<void> {}
  async acquireConnection(): Promise<DatabaseConnection> {
    const previous = this.#queue;
    let release!: () => void;
    this.#queue = new Promise<void>((resolve) => (release = resolve));
    await previous;
    this.#release = release;
    return this.#connection;
  }
  async beginTransaction(conn: DatabaseConnection, settings: TransactionSettings): Promise<void> {
    const isolation = settings.isolationLevel ? ` isolation level ${settings.isolationLevel}` : '';
    await conn.executeQuery(CompiledQuery.raw(`begin${isolation}`));
  }
  async commitTransaction(conn: DatabaseConnection): Promise<void> {
    await conn.executeQuery(CompiledQuery.raw('commit'));
  }
  async rollbackTransaction(conn: DatabaseConnection): Promise<void> {
    await conn.executeQuery(CompiledQuery.raw('rollback'));
  }
  async releaseConnection(): Promise<void> {
    const release = this.#release;
    this.#release = undefined;
    release?.();
  }
  async destroy(): Promise<void> {
    if (this.ownsDb) await this.db.close();
  }
}

function dialectWith(createDriver: () => Driver): Dialect {
  return {
    createDriver,
    createQueryCompiler: () => new PostgresQueryCompiler(),
    createAdapter: () => new PostgresAdapter(),
    createIntrospector: (db: Kysely<any>) => new PostgresIntrospector(db),
  };
}

export function pgDialect(pool: pg.Pool): Dialect {
  return dialectWith(() => new PgDriver(pool));
}

export function pgliteDialect(db: PGlite, ownsDb: boolean): Dialect {
  return dialectWith(() => new PgliteDriver(db, ownsDb));
}
