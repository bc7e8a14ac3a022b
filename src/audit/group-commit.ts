import { enqueueAuditEvents, type QueuedAuditRow, type VaultDatabase } from '../db/index.js';

interface Waiting {
  readonly row: QueuedAuditRow;
  readonly resolve: () => void;
  readonly reject: (err: unknown) => void;
}

const MAX_BATCH = 500;
/**
 * Inserts in flight at once. One would make every caller wait for the previous commit's fsync;
 * a few let the database's own group commit overlap them, while each still carries many events.
 */
const MAX_IN_FLIGHT = 4;

/**
 * Queues events that have no other write to commit with (a refused token, a read of the log):
 * while inserts are in flight, the events arriving meanwhile wait and go together in the next
 * one, so concurrent callers share a commit and each is answered once its own event is durable.
 */
export class GroupCommit {
  readonly #database: VaultDatabase;
  #waiting: Waiting[] = [];
  #inFlight = 0;

  constructor(database: VaultDatabase) {
    this.#database = database;
  }

  /** Resolves once `row` is committed to the queue. */
  write(row: QueuedAuditRow): Promise<void> {
    return new Promise((resolve, reject) => {
      this.#waiting.push({ row, resolve, reject });
      if (this.#inFlight < MAX_IN_FLIGHT) void this.#writeAll();
    });
  }

  async #writeAll(): Promise<void> {
    this.#inFlight++;
    try {
      while (this.#waiting.length > 0) {
        const batch = this.#waiting.splice(0, MAX_BATCH);
        try {
          await enqueueAuditEvents(this.#database.db, batch.map((w) => w.row));
          for (const w of batch) w.resolve();
        } catch (err) {
          // One event the database refuses (bad data) must not cost the others theirs: each is
          // tried alone. Any other failure (a lost connection, whose commit may or may not have
          // happened) fails them all: retrying could queue an event twice.
          if (batch.length === 1 || !refusedForItsData(err)) for (const w of batch) w.reject(err);
          else for (const w of batch) await enqueueAuditEvents(this.#database.db, [w.row]).then(w.resolve, w.reject);
        }
      }
    } finally {
      this.#inFlight--;
    }
  }
}

/** SQLSTATE class 22 (data exception) or 23 (integrity constraint): the rows, not the database. */
function refusedForItsData(err: unknown): boolean {
  const code = (err as { code?: unknown } | null)?.code;
  return typeof code === 'string' && /^2[23]/.test(code);
}
