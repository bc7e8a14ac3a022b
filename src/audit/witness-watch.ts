import { auditEventsAfter, listCheckpoints, readAuditHead, type VaultDatabase } from '../db/index.js';
import { hex } from './chain.js';
import type { Checkpoint } from './log.js';
import { findWitnessBreach, type FileWitness, type WitnessBreach } from './witness.js';

/** Whether the database still agrees with the witness, as the readiness probe sees it. */
export interface WitnessStatus {
  readonly ok: boolean;
  readonly reason?: string;
}

/**
 * What the vault knows of its witness (ADR 0005): the newest checkpoint written there, whether the
 * last write failed, and whether the database was ever seen to disagree with it. Without a witness
 * every check passes.
 */
export class WitnessWatch {
  readonly #witness: FileWitness | undefined;
  readonly #database: VaultDatabase;
  readonly #signedHere: (cp: Checkpoint) => boolean;
  readonly #log: (event: Record<string, unknown>, message: string) => void;
  /** The newest checkpoint known to be in the witness. */
  #witnessed: Checkpoint | undefined;
  #writeFailed = false;
  /** Set once the database is seen to disagree with the witness; only a restart re-examines it. */
  #mismatch: WitnessBreach | undefined;

  constructor(witness: FileWitness | undefined, database: VaultDatabase, signedHere: (cp: Checkpoint) => boolean, log: (event: Record<string, unknown>, message: string) => void) {
    this.#witness = witness;
    this.#database = database;
    this.#signedHere = signedHere;
    this.#log = log;
  }

  get mismatch(): WitnessBreach | undefined {
    return this.#mismatch;
  }

  /** Every witnessed checkpoint, for a full comparison in `verify`. */
  async entries(): Promise<Checkpoint[]> {
    return (await this.#witness?.entries()) ?? [];
  }

  /** Records a disagreement: alarmed once, kept until a restart. */
  mismatchFound(breach: WitnessBreach): void {
    if (!this.#mismatch) this.#log({ alarm: 'audit_witness_mismatch', at: breach.at, reason: breach.reason }, 'the audit log disagrees with its witness');
    this.#mismatch ??= breach;
  }

  /**
   * Compares the witness's newest checkpoint with the database in a few indexed reads: the head
   * must have reached it, the event there must carry its hash, and the database's newest
   * checkpoint must not be behind it. `readWitness` re-reads the witness's newest line first.
   */
  async compare(readWitness = false): Promise<void> {
    if (!this.#witness) return;
    if (readWitness) {
      try {
        this.#witnessed = await this.#witness.newest();
      } catch (err) {
        this.mismatchFound({ at: 0, reason: 'the audit witness cannot be read' });
        throw err;
      }
    }
    const newest = this.#witnessed;
    if (!newest || this.#mismatch) return;
    const { db } = this.#database;
    const head = await readAuditHead(db);
    const [event] = await auditEventsAfter(db, newest.seq - 1, 1);
    const [stored] = await listCheckpoints(db, 1);
    const breach = findWitnessBreach(
      [newest],
      {
        end: head?.seq ?? 0,
        eventHash: (seq) => (event?.seq === seq ? hex(event.hash) : undefined),
        // A newer stored checkpoint stands in for the one at `seq`: looking that one up is verify's job.
        checkpointHash: (seq) => (stored && stored.seq > seq ? newest.hash : stored?.seq === seq ? hex(stored.hash) : undefined),
      },
      this.#signedHere,
    );
    if (breach) this.mismatchFound(breach);
  }

  /**
   * For the readiness probe, in one read of the head: not ready once the witness could not be
   * written or the database was seen to disagree with it (at start, at a checkpoint, in a verify),
   * or when the head is now behind the newest witnessed checkpoint (a rewind).
   */
  async status(): Promise<WitnessStatus> {
    if (!this.#witness) return { ok: true };
    if (this.#mismatch) return { ok: false, reason: 'the audit log disagrees with its witness' };
    if (this.#writeFailed) return { ok: false, reason: 'the audit witness cannot be written' };
    const newest = this.#witnessed;
    if (!newest) return { ok: true };
    const head = await readAuditHead(this.#database.db).catch(() => undefined);
    if (!head) return { ok: false, reason: 'the audit log head cannot be read' };
    if (head.seq < newest.seq) {
      this.mismatchFound({ at: head.seq + 1, reason: 'the log was rewound: events covered by a witnessed checkpoint are missing' });
      return { ok: false, reason: 'the audit log disagrees with its witness' };
    }
    return { ok: true };
  }

  /** Appends a committed checkpoint to the witness unless it already holds a newer one; throws when it cannot. */
  async record(checkpoint: Checkpoint): Promise<void> {
    if (!this.#witness || (this.#witnessed && this.#witnessed.seq >= checkpoint.seq)) return;
    try {
      await this.#witness.append(checkpoint);
    } catch (err) {
      this.#writeFailed = true;
      this.#log({ alarm: 'audit_witness_unavailable', seq: checkpoint.seq, error: ((err as Error).cause as Error | undefined)?.message ?? (err as Error).message }, 'audit checkpoint not witnessed');
      throw err;
    }
    this.#witnessed = checkpoint;
    this.#writeFailed = false;
  }
}
