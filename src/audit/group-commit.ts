import { enqueueAuditEvents, type QueuedAuditRow, type VaultDatabase } from '../db/index.js';

interface Waiting {
  readonly row: QueuedAuditRow;
  readonly resolve: () => void;
  readonly reject: (err: unknown) => void;
}

const MAX_BATCH = 500;

/**
 * Queues events that have no other write to commit with (a refused token, a read of the log):
 * while one insert is in flight, the events arriving meanwhile wait and go in the next one, so
 * concurrent callers share a commit and each is answered once its own event is durable.
 */
export class GroupCommit {
  readonly #database: VaultDatabase;
  #waiting: Waiting[] = [];
  #writing = false;

  constructor(database: VaultDatabase) {
    this.#database = database;
  }

  /** Resolves once `row` is committed to the queue. */
  write(row: QueuedAuditRow): Promise<void> {
    return new Promise((resolve, reject) => {
      this.#waiting.push({ row, resolve, reject });
      if (!this.#writing) void this.#writeAll();
    });
  }

  async #writeAll(): Promise<void> {
    this.#writing = true;
    try {
      while (this.#waiting.length > 0) {
        const batch = this.#waiting.splice(0, MAX_BATCH);
        try {
          await enqueueAuditEvents(this.#database.db, batch.map((w) => w.row));
          for (const w of batch) w.resolve();
        } catch (err) {
          if (batch.length === 1) batch[0]!.reject(err);
          // One event the database refuses must not cost the others theirs: each is tried alone.
          else for (const w of batch) await enqueueAuditEvents(this.#database.db, [w.row]).then(w.resolve, w.reject);
        }
      }
    } finally {
      this.#writing = false;
    }
  }
}
