import { randomUUID } from 'node:crypto';
import type { AuditLog } from '../audit/index.js';
import type { Principal } from '../auth/index.js';
import type { KeyRing, Month, RatchetAnchorStore } from '../crypto/index.js';
import {
  appendCollectionEvent,
  countDataKeys,
  countRotationProgress,
  dataKeysNotUnder,
  dataKeysPerKek,
  finishKekRotation,
  inTransaction,
  lastKekRotation,
  leaseSecretsNotUnder,
  openKekRotation,
  replaceLeaseSecret,
  replaceVaultSecret,
  replaceWrappedKeys,
  startKekRotation,
  vaultSecretsNotUnder,
  withRetentionLock,
  type KekRotationRow,
  type VaultDatabase,
} from '../db/index.js';
import { VaultError } from '../errors/index.js';

export interface RotationView {
  readonly rotation_id: string;
  readonly to_kek: string;
  readonly from_keks: string[];
  readonly started_at: string;
  readonly started_by: string;
  readonly keys_rewrapped: number;
  readonly secrets_rewrapped: number;
  readonly finished_at: string | null;
}

/** `keys status`: the KEKs, what each wraps, and the rotation running or last run. */
export interface KeyStatus {
  readonly kek_id: string;
  readonly keks_held: string[];
  readonly aead: string;
  readonly employees: number;
  readonly live_keys: number;
  readonly destroyed_keys: number;
  readonly live_keys_by_kek: Record<string, number>;
  /** Months before this have expired: their keys can no longer be derived. */
  readonly month_keys_from: Month;
  readonly rotation: (RotationView & { readonly keys_remaining: number }) | null;
}

export interface RotationReport extends RotationView {
  readonly leases_rewrapped: number;
  readonly duration_ms: number;
}

export interface RotationDeps {
  readonly database: VaultDatabase;
  readonly keyRing: KeyRing;
  readonly audit: AuditLog;
  /** The month ratchet's anchor: a rotation catches up with a move made elsewhere before it rewraps the ratchet. */
  readonly anchors: RatchetAnchorStore;
  /** Keys rewrapped per transaction. */
  readonly batchSize?: number;
  /** How long other instances get to hear of a new KEK before the last sweep and the retirement (ms). */
  readonly graceMs?: number;
}

const viewOf = (r: KekRotationRow): RotationView => ({
  rotation_id: r.rotationId,
  to_kek: r.toKek,
  from_keks: r.fromKeks,
  started_at: r.startedAt.toISOString(),
  started_by: r.startedBy,
  keys_rewrapped: r.keysRewrapped,
  secrets_rewrapped: r.secretsRewrapped,
  finished_at: r.finishedAt?.toISOString() ?? null,
});

/**
 * KEK rotation while the vault serves: a new KEK is made active, every data key, vault secret,
 * lease secret and the month ratchet are rewrapped under it a batch per transaction, and the old
 * KEK is retired once nothing references it. Progress is in the database, so a rotation killed at
 * any point resumes where it stopped when `rotate` runs again. Each step is audited.
 */
export class KekRotation {
  readonly #deps: RotationDeps;
  #running: Promise<RotationReport> | undefined;

  constructor(deps: RotationDeps) {
    this.#deps = deps;
  }

  /** The key status, for `actor` (audited: who looked at the key hierarchy, and when). */
  async status(actor: Principal): Promise<KeyStatus> {
    const { database, keyRing, audit } = this.#deps;
    const [counts, byKek, rotation] = await Promise.all([countDataKeys(database.db), dataKeysPerKek(database.db), lastKekRotation(database.db)]);
    const remaining = rotation && !rotation.finishedAt ? Object.entries(byKek).reduce((n, [kek, c]) => (kek === rotation.toKek ? n : n + c), 0) : 0;
    await audit.appendAlone({ action: 'keys.status', decision: 'allow', actor, recordCount: 0, details: { kek_id: keyRing.kekId, rotation_open: Boolean(rotation && !rotation.finishedAt) } });
    return {
      kek_id: keyRing.kekId,
      keks_held: keyRing.kekIds(),
      aead: keyRing.aeadName,
      employees: counts.employees,
      live_keys: counts.liveKeys,
      destroyed_keys: counts.destroyedKeys,
      live_keys_by_kek: byKek,
      month_keys_from: keyRing.months.base,
      rotation: rotation ? { ...viewOf(rotation), keys_remaining: remaining } : null,
    };
  }

  /** Starts a rotation, or resumes the one running, and takes it to the end (a call while this instance rotates joins it). */
  rotate(actor: Principal, onProgress?: (keysRewrapped: number) => void): Promise<RotationReport> {
    this.#running ??= this.#rotate(actor, onProgress ?? (() => {}))
      .catch(async (err: unknown) => {
        // A rotation that stops is on the record too (it resumes when run again).
        await this.#deps.audit
          .appendAlone({ action: 'keys.rotate', decision: 'error', severity: 'high', actor, details: { step: 'failed', error: err instanceof VaultError ? err.code : 'ERR_INTERNAL' } })
          .catch(() => undefined);
        throw err;
      })
      .finally(() => {
      this.#running = undefined;
    });
    return this.#running;
  }

  /** Whether this instance is rotating now. */
  get rotating(): boolean {
    return this.#running !== undefined;
  }

  async #rotate(actor: Principal, onProgress: (keysRewrapped: number) => void): Promise<RotationReport> {
    const { database, keyRing, audit } = this.#deps;
    const started = Date.now();
    let rotation = await openKekRotation(database.db);
    if (rotation) {
      await keyRing.refreshKeks();
      if (keyRing.kekId !== rotation.toKek) {
        throw new VaultError('ERR_KEY_UNAVAILABLE', `the rotation running targets ${rotation.toKek}, which this instance's key provider does not hold as its active KEK`);
      }
      await audit.appendAlone({ action: 'keys.rotate', decision: 'info', severity: 'high', actor, details: { step: 'resumed', rotation_id: rotation.rotationId, to_kek: rotation.toKek, keys_rewrapped: rotation.keysRewrapped } });
    } else {
      const to = await keyRing.createKek();
      const from = keyRing.kekIds().filter((id) => id !== to);
      rotation = await inTransaction(database, async (trx) => {
        const row = await startKekRotation(trx, { rotationId: randomUUID(), toKek: to, fromKeks: from, startedBy: actor.sub });
        await appendCollectionEvent(trx, 'kek_rotation', null, { to_kek: row.toKek });
        await audit.append(trx, { action: 'keys.rotate', decision: 'info', severity: 'high', actor, details: { step: 'started', rotation_id: row.rotationId, to_kek: row.toKek, from_keks: row.fromKeks } });
        return row;
      });
    }
    const { rotationId, toKek } = rotation;
    let keys = 0;
    let secrets = 0;
    let leases = 0;
    // Passes until one finds nothing left. The grace after the first lets every instance hear of
    // the new KEK; a later pass catches what one wrapped under an old KEK before it heard (the
    // database refuses such writes once the rotation is recorded, so this ends).
    for (let pass = 0; ; pass++) {
      const [k, s, l] = [await this.#rewrapDataKeys(rotationId, toKek, (n) => onProgress(keys + n)), await this.#rewrapSecrets(rotationId, toKek), await this.#rewrapLeases(toKek)];
      keys += k;
      secrets += s;
      leases += l;
      if (pass === 0) await new Promise((resolve) => setTimeout(resolve, this.#deps.graceMs ?? 1500));
      else if (k + s + l === 0) break;
      if (pass >= 10) throw new VaultError('ERR_UNAVAILABLE', 'keys under an old KEK keep appearing: an instance does not hear of the rotation');
    }
    await this.#rewrapRatchet(toKek);
    // Nothing may reference a KEK when it is destroyed: count again, now that the ratchet is done.
    const left = [await dataKeysNotUnder(database.db, toKek, 1), await vaultSecretsNotUnder(database.db, toKek), await leaseSecretsNotUnder(database.db, toKek)];
    if (left.some((rows) => rows.length > 0)) throw new VaultError('ERR_UNAVAILABLE', 'keys under an old KEK appeared after the last sweep; run the rotation again');
    for (const old of keyRing.kekIds().filter((id) => id !== toKek)) await keyRing.retireKek(old);
    const finished = await inTransaction(database, async (trx) => {
      await finishKekRotation(trx, rotationId);
      await appendCollectionEvent(trx, 'kek_retired', null, { kek: toKek });
      await audit.append(trx, {
        action: 'keys.rotate',
        decision: 'info',
        severity: 'high',
        actor,
        recordCount: keys,
        details: { step: 'finished', rotation_id: rotationId, to_kek: toKek, retired: rotation.fromKeks, keys_rewrapped: keys, secrets_rewrapped: secrets, leases_rewrapped: leases },
      });
      return (await lastKekRotation(trx))!;
    });
    return { ...viewOf(finished), leases_rewrapped: leases, duration_ms: Date.now() - started };
  }

  async #rewrapDataKeys(rotationId: string, toKek: string, onProgress: (rewrapped: number) => void): Promise<number> {
    const { database, keyRing } = this.#deps;
    let total = 0;
    for (;;) {
      const batch = await dataKeysNotUnder(database.db, toKek, this.#deps.batchSize ?? 1000);
      if (batch.length === 0) return total;
      const rewrapped = await Promise.all(batch.map(async (k) => ({ employeeId: k.employeeId, dekVersion: k.dekVersion, before: k.wrappedKey, after: (await keyRing.rewrapDataKey(k)).wrappedKey })));
      const n = await inTransaction(database, async (trx) => {
        const replaced = await replaceWrappedKeys(trx, toKek, rewrapped);
        await countRotationProgress(trx, rotationId, replaced, 0);
        return replaced;
      });
      total += n;
      onProgress(total);
      // Nothing replaced: the rows changed under us (erased, or rewrapped by another rotation); the next pass reads them again.
      if (n === 0) return total;
    }
  }

  async #rewrapSecrets(rotationId: string, toKek: string): Promise<number> {
    const { database, keyRing } = this.#deps;
    let total = 0;
    for (const s of await vaultSecretsNotUnder(database.db, toKek)) {
      const { wrapped } = await keyRing.rewrapVaultSecret(s.name, s.wrapped);
      total += await inTransaction(database, async (trx) => {
        const n = await replaceVaultSecret(trx, s.name, s.wrapped, wrapped, toKek);
        await countRotationProgress(trx, rotationId, 0, n);
        return n;
      });
    }
    return total;
  }

  async #rewrapLeases(toKek: string): Promise<number> {
    const { database, keyRing } = this.#deps;
    let total = 0;
    for (const lease of await leaseSecretsNotUnder(database.db, toKek)) {
      const { wrapped } = await keyRing.rewrapVaultSecret(`dataset:${lease.datasetId}`, lease.wrapped);
      total += await replaceLeaseSecret(database.db, lease.datasetId, lease.wrapped, wrapped, toKek);
    }
    return total;
  }

  /**
   * Rewraps the month ratchet under the new KEK while holding the retention lock (no expiry moves
   * it meanwhile), after catching up with any move made elsewhere; then reads it back and checks
   * which KEK wraps it.
   */
  async #rewrapRatchet(toKek: string): Promise<void> {
    const { database, keyRing, anchors } = this.#deps;
    for (let attempt = 0; ; attempt++) {
      const done = await withRetentionLock(database, async () => {
        await keyRing.months.reload(anchors);
        await keyRing.months.rewrap();
        return true;
      });
      if (done && (await keyRing.ratchetKek()) === toKek) return;
      if (attempt >= 20) throw new VaultError('ERR_UNAVAILABLE', 'the month ratchet could not be rewrapped under the new KEK (the retention lock stays held); run the rotation again');
      await new Promise((resolve) => setTimeout(resolve, 500));
    }
  }
}
