import fs from 'node:fs/promises';
import path from 'node:path';
import { VaultError } from '../errors/index.js';
import { checkpointStatement } from './chain.js';
import type { Checkpoint } from './log.js';

/** The file a witness directory holds. */
export const WITNESS_FILE = 'checkpoints.jsonl';
// Enough for a few hundred lines: the newest checkpoint is always among them.
const TAIL_BYTES = 64 * 1024;
const HASH_HEX = /^[0-9a-f]{64}$/;

/** Where the database and its witness disagree: the first sequence concerned, and why. */
export interface WitnessBreach {
  readonly at: number;
  readonly reason: string;
}

/** What `findWitnessBreach` needs to know of the database. */
export interface LogState {
  /** The last sequence number of the verified chain. */
  readonly end: number;
  /** Hex hash of event `seq` as the database holds it. */
  eventHash(seq: number): string | undefined;
  /** Hex hash that the database's checkpoint at `seq` signs; undefined when there is none. */
  checkpointHash(seq: number): string | undefined;
}

/**
 * Compares every witnessed checkpoint with the database, lowest sequence first. A log rewound past
 * a witnessed checkpoint (newest events and their checkpoints deleted, an old head put back) is
 * reported at the first missing sequence, like a deletion the head's MAC catches.
 */
export function findWitnessBreach(witnessed: readonly Checkpoint[], log: LogState, signedByThisLog: (cp: Checkpoint) => boolean): WitnessBreach | undefined {
  for (const cp of [...witnessed].sort((a, b) => a.seq - b.seq)) {
    if (!signedByThisLog(cp)) return { at: cp.seq, reason: 'a witnessed checkpoint is not signed by this log' };
    if (cp.seq > log.end) return { at: log.end + 1, reason: 'the log was rewound: events covered by a witnessed checkpoint are missing' };
    if (log.eventHash(cp.seq) !== cp.hash) return { at: cp.seq, reason: 'event differs from its witnessed checkpoint' };
    if (log.checkpointHash(cp.seq) !== cp.hash) return { at: cp.seq, reason: 'a witnessed checkpoint is missing from the database' };
  }
  return undefined;
}

function unavailable(message: string, alarm: string, cause?: unknown): VaultError {
  return new VaultError('ERR_UNAVAILABLE', message, { cause, internal: { alarm } });
}

function entryOf(line: string): Checkpoint | undefined {
  let parsed: unknown;
  try {
    parsed = JSON.parse(line);
  } catch {
    // A line cut short by a crash mid-write; `open` ends it so the next entry stands on its own line.
    return undefined;
  }
  const e = parsed as Partial<Record<keyof Checkpoint, unknown>>;
  if (
    typeof e !== 'object' || e === null ||
    !Number.isSafeInteger(e.seq) || (e.seq as number) < 1 ||
    typeof e.hash !== 'string' || !HASH_HEX.test(e.hash) ||
    typeof e.signed_at !== 'string' || typeof e.key_id !== 'string' || typeof e.signature !== 'string'
  ) {
    throw unavailable('the audit witness holds an entry that is not a checkpoint', 'audit_witness_unreadable');
  }
  return { seq: e.seq as number, hash: e.hash, signed_at: e.signed_at, key_id: e.key_id, signature: e.signature };
}

function entriesOf(text: string): Checkpoint[] {
  return text
    .split('\n')
    .filter((line) => line.trim() !== '')
    .flatMap((line) => entryOf(line) ?? []);
}

/** A directory (holding `checkpoints.jsonl`) or a `.jsonl` file; a missing path ending in `.jsonl` is a file. */
async function witnessFile(location: string): Promise<string> {
  const stat = await fs.stat(location).catch(() => undefined);
  if (stat?.isDirectory() || (!stat && !location.endsWith('.jsonl'))) {
    await fs.mkdir(location, { recursive: true, mode: 0o700 });
    return path.join(location, WITNESS_FILE);
  }
  await fs.mkdir(path.dirname(location), { recursive: true, mode: 0o700 });
  return location;
}

/**
 * Signed audit checkpoints kept outside the database, one JSON line each, appended with O_APPEND
 * and fsync. A superuser who rewinds the database cannot rewind this file, so `verify` and the
 * readiness check compare the two. Lines hold sequence, hash and the signed statement only.
 *
 * @example
 * const witness = await FileWitness.open('/var/lib/vault-witness');
 * await witness.append(checkpoint);
 * const newest = await witness.newest();
 */
export class FileWitness {
  readonly file: string;

  private constructor(file: string) {
    this.file = file;
  }

  /** Opens the witness, creating it if needed. Throws `ERR_CONFIG` when it cannot be appended to: no witness, no start. */
  static async open(location: string): Promise<FileWitness> {
    try {
      const file = await witnessFile(location);
      const handle = await fs.open(file, 'a+', 0o600);
      try {
        const { size } = await handle.stat();
        const last = Buffer.alloc(1);
        if (size > 0 && (await handle.read(last, 0, 1, size - 1)).bytesRead === 1 && last[0] !== 0x0a) {
          await handle.appendFile('\n');
        }
        await handle.sync();
      } finally {
        await handle.close();
      }
      await syncDirectory(path.dirname(file));
      return new FileWitness(file);
    } catch (cause) {
      throw new VaultError('ERR_CONFIG', `VAULT_AUDIT_WITNESS: cannot append to the audit witness at ${location}`, { cause });
    }
  }

  /** Appends one checkpoint and waits until it is on disk. Throws `ERR_UNAVAILABLE` when it cannot. */
  async append(cp: Checkpoint): Promise<void> {
    const statement = checkpointStatement(cp.seq, cp.hash, cp.signed_at, cp.key_id).toString('utf8');
    const line = `${JSON.stringify({ v: 1, seq: cp.seq, hash: cp.hash, signed_at: cp.signed_at, key_id: cp.key_id, signature: cp.signature, statement })}\n`;
    try {
      const handle = await fs.open(this.file, 'a', 0o600);
      try {
        await handle.appendFile(line);
        await handle.sync();
      } finally {
        await handle.close();
      }
    } catch (cause) {
      throw unavailable('the audit witness cannot be written', 'audit_witness_unavailable', cause);
    }
  }

  /** Every witnessed checkpoint, in the order written. */
  async entries(): Promise<Checkpoint[]> {
    let text: string;
    try {
      text = await fs.readFile(this.file, 'utf8');
    } catch (cause) {
      throw unavailable('the audit witness cannot be read', 'audit_witness_unreadable', cause);
    }
    return entriesOf(text);
  }

  /** The witnessed checkpoint with the highest sequence, read from the file's tail only. */
  async newest(): Promise<Checkpoint | undefined> {
    let text: string;
    try {
      const handle = await fs.open(this.file, 'r');
      try {
        const { size } = await handle.stat();
        const start = Math.max(0, size - TAIL_BYTES);
        const { buffer, bytesRead } = await handle.read(Buffer.alloc(size - start), 0, size - start, start);
        text = buffer.subarray(0, bytesRead).toString('utf8');
        // The tail may begin mid-line.
        if (start > 0) text = text.slice(text.indexOf('\n') + 1);
      } finally {
        await handle.close();
      }
    } catch (cause) {
      throw unavailable('the audit witness cannot be read', 'audit_witness_unreadable', cause);
    }
    return entriesOf(text).reduce<Checkpoint | undefined>((best, cp) => (!best || cp.seq > best.seq ? cp : best), undefined);
  }
}

async function syncDirectory(dir: string): Promise<void> {
  const handle = await fs.open(dir, 'r');
  try {
    await handle.sync();
  } finally {
    await handle.close();
  }
}
