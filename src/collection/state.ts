import {
  lockCollectionControls,
  collectionEventsAfter,
  COLLECTION_CHANNEL,
  lastCollectionEventId,
  latestManifest,
  manifestVersion,
  openProgramPauses,
  type CollectionEventRow,
  type Db,
  type ProgramPauseRow,
  type ProgramScope,
  type StoredManifest,
  type VaultDatabase,
} from '../db/index.js';
import { VaultError } from '../errors/index.js';
import { exportsFrozenError } from './ingest-gate.js';
import { parseStoredManifest } from './manifest.js';
import { CompiledManifest } from './rules.js';

export type ChangeListener = (events: readonly CollectionEventRow[]) => void;

const POLL_MS = 250;
const EVENT_PAGE = 1000;

/**
 * What this instance knows of the collection controls: the manifest in force, the program's open
 * pauses, and the newest change. Learned from NOTIFY on PostgreSQL (PGlite: in-process) within
 * milliseconds, with a poll every 250 ms as the backstop when a notification is lost. Listeners
 * (the agents' event streams, open dataset streams) hear every change in order.
 */
export class ControlState {
  readonly #database: VaultDatabase;
  readonly #manifests = new Map<number, CompiledManifest>();
  readonly #listeners = new Set<ChangeListener>();
  #inForce: CompiledManifest | undefined;
  #inForceStored: StoredManifest | undefined;
  #programPauses: ReadonlyMap<ProgramScope, ProgramPauseRow> = new Map();
  #lastEventId = 0;
  #refresh: Promise<void> = Promise.resolve();
  #pending: Promise<void> | undefined;
  #timer: NodeJS.Timeout | undefined;
  #unlisten: (() => Promise<void>) | undefined;
  #failing: string | undefined = 'not loaded yet';

  constructor(database: VaultDatabase) {
    this.#database = database;
  }

  async start(): Promise<void> {
    this.#lastEventId = await lastCollectionEventId(this.#database.db);
    await this.#load();
    this.#unlisten = await this.#database.listen(COLLECTION_CHANNEL, () => void this.refresh()).catch(() => undefined);
    this.#timer = setInterval(() => void this.refresh(), POLL_MS);
    this.#timer.unref();
  }

  async stop(): Promise<void> {
    clearInterval(this.#timer);
    await this.#unlisten?.();
    await this.#refresh;
    this.#listeners.clear();
  }

  /**
   * Reads changes since the last one seen. Calls are serialised, and calls made while one waits
   * share it: a slow database gets one pass at a time, not a queue of them.
   */
  refresh(): Promise<void> {
    if (this.#pending) return this.#pending;
    const run = this.#refresh
      .then(() => {
        this.#pending = undefined;
        return this.#catchUp();
      })
      .catch(() => {
        this.#failing = 'the collection controls cannot be read from the database';
      });
    this.#pending = run;
    this.#refresh = run;
    return run;
  }

  async #catchUp(): Promise<void> {
    for (;;) {
      const events = await collectionEventsAfter(this.#database.db, this.#lastEventId, EVENT_PAGE);
      if (events.length === 0) {
        if (this.#failing) await this.#load();
        return;
      }
      await this.#load();
      this.#lastEventId = events.at(-1)!.id;
      for (const listener of this.#listeners) {
        try {
          listener(events);
        } catch {
          // One listener's failure (a closed socket) must not keep the change from the others.
        }
      }
      if (events.length < EVENT_PAGE) return;
    }
  }

  async #load(): Promise<void> {
    const [stored, pauses] = await Promise.all([latestManifest(this.#database.db), openProgramPauses(this.#database.db)]);
    if (stored && stored.version !== this.#inForce?.version) {
      this.#inForce = await this.manifest(stored.version);
      this.#inForceStored = stored;
    }
    this.#programPauses = new Map(pauses.map((p) => [p.scope, p]));
    this.#failing = undefined;
  }

  /** A manifest version, compiled once and kept: versions never change. */
  async manifest(version: number, db: Db = this.#database.db): Promise<CompiledManifest> {
    let compiled = this.#manifests.get(version);
    if (!compiled) {
      const stored = await manifestVersion(db, version);
      if (!stored) throw new VaultError('ERR_NOT_FOUND', `no collection manifest version ${version}`);
      compiled = new CompiledManifest(version, parseStoredManifest(stored.document));
      this.#manifests.set(version, compiled);
    }
    return compiled;
  }

  /** The manifest in force as this instance last read it; `ERR_UNAVAILABLE` before any is. */
  inForce(): CompiledManifest {
    if (!this.#inForce) throw new VaultError('ERR_UNAVAILABLE', 'the collection manifest is not loaded');
    return this.#inForce;
  }

  /** Who stored the manifest in force, and when. */
  storedInForce(): Pick<StoredManifest, 'createdAt' | 'createdBy'> {
    if (!this.#inForceStored) throw new VaultError('ERR_UNAVAILABLE', 'the collection manifest is not loaded');
    return this.#inForceStored;
  }

  programPause(scope: ProgramScope): ProgramPauseRow | undefined {
    return this.#programPauses.get(scope);
  }

  get lastEventId(): number {
    return this.#lastEventId;
  }

  readiness(): { ok: boolean; reason?: string } {
    return this.#failing === undefined && this.#inForce ? { ok: true } : { ok: false, reason: this.#failing ?? 'no collection manifest' };
  }

  /** Exports are frozen (as this instance last read). */
  frozen(): boolean {
    return this.#programPauses.has('exports');
  }

  /**
   * Throws `ERR_EXPORTS_FROZEN` when exports are frozen as `trx` reads it, under the shared controls
   * lock: a grant committed after a freeze saw it, whatever this instance has cached.
   */
  async assertExportsOpen(trx: Db): Promise<void> {
    await lockCollectionControls(trx, 'share');
    if ((await openProgramPauses(trx)).some((p) => p.scope === 'exports')) throw exportsFrozenError('granted');
  }

  /** Calls `listener` when an export freeze is learned of. */
  onFreeze(listener: () => void): () => void {
    return this.subscribe((events) => {
      if (events.some((e) => e.type === 'exports_freeze')) listener();
    });
  }

  subscribe(listener: ChangeListener): () => void {
    this.#listeners.add(listener);
    return () => this.#listeners.delete(listener);
  }
}
