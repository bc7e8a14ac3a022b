import { controlWindows, lockCollectionControls, manifestVersionNow, type ConsentState, type ControlWindow, type Db } from '../db/index.js';
import { VaultError } from '../errors/index.js';
import { ContextReader, type CompiledManifest, type ControlDrop } from './rules.js';
import type { ControlState } from './state.js';

/** A record as the collection controls judge it. */
export interface ControlledRecord {
  readonly index: number;
  readonly employeeId: string;
  readonly capturedAt: Date;
  readonly kind: string;
  readonly payload: unknown;
}

export const RETRY_AFTER_PAUSED_SECONDS = 60;

export function programPausedError(): VaultError {
  return new VaultError('ERR_PROGRAM_PAUSED', 'the capture program is paused; nothing is accepted until it resumes', { details: { retry_after_seconds: RETRY_AFTER_PAUSED_SECONDS } });
}

/** Refused while exports are frozen: no dataset is `granted` or `streamed`. */
export function exportsFrozenError(what: 'granted' | 'streamed'): VaultError {
  return new VaultError('ERR_EXPORTS_FROZEN', `exports are frozen; no dataset is ${what} until they resume`, { details: { retry_after_seconds: RETRY_AFTER_PAUSED_SECONDS } });
}

/** Past its kind's retention on arrival: the retention job would delete it at once. */
function expiredAt(manifest: CompiledManifest, r: ControlledRecord, now: Date): boolean {
  const days = manifest.document.kinds[r.kind]?.retention_days;
  return days !== undefined && r.capturedAt.getTime() <= now.getTime() - days * 86_400_000;
}

const inWindow = (w: ControlWindow, at: Date) => w.startsAt <= at && (w.endsAt === null || at < w.endsAt);

/**
 * The window of `kind` (any, when undefined) among `windows` that holds a record captured `at`: it
 * holds at its capture, or, for a record stamped later than it arrived, at `now`.
 */
function holding(windows: readonly ControlWindow[], kind: ControlWindow['kind'] | undefined, at: Date, now: Date): boolean {
  for (const w of windows) {
    if (kind !== undefined && w.kind !== kind) continue;
    if (inWindow(w, at) || (at > now && inWindow(w, now))) return true;
  }
  return false;
}

/**
 * What ingest asks of the collection controls. Inside the write's transaction it shares the
 * controls lock, then reads the windows and the manifest in force: a pause committed before the
 * write is seen by it, and one committed after waited for it. Records are judged by their
 * `captured_at`, never their arrival, so a record buffered offline through a pause is dropped.
 */
export class IngestGate {
  readonly #state: ControlState;

  constructor(state: ControlState) {
    this.#state = state;
  }

  /** Refuses at once, before any work, while this instance knows the program is paused. */
  assertCollecting(): void {
    if (this.#state.programPause('collection')) throw programPausedError();
  }

  /** Takes the controls lock for the write; first in its transaction, before any row lock. */
  lock(trx: Db): Promise<void> {
    return lockCollectionControls(trx, 'share');
  }

  /**
   * Why each record the controls refuse is dropped, by index. Throws `ERR_PROGRAM_PAUSED` when the
   * program is paused now. `lock` must have been taken in `trx`.
   */
  async judge(trx: Db, records: readonly ControlledRecord[], consent: ReadonlyMap<string, ConsentState>): Promise<Map<number, ControlDrop>> {
    const drops = new Map<number, ControlDrop>();
    if (records.length === 0) return drops;
    let [from, to] = [records[0]!.capturedAt, records[0]!.capturedAt];
    for (const r of records) {
      if (r.capturedAt < from) from = r.capturedAt;
      if (r.capturedAt > to) to = r.capturedAt;
    }
    const { version, now } = await manifestVersionNow(trx);
    // A record stamped later than it arrived is also judged at its arrival: a pause open now holds
    // for it, so a clock running fast (or a forged stamp) cannot step over a pause.
    if (now < from) from = now;
    if (now > to) to = now;
    const windows = await controlWindows(trx, [...new Set(records.map((r) => r.employeeId))], from, to);
    if (windows.some((w) => w.kind === 'program' && w.endsAt === null)) throw programPausedError();
    if (version === 0) throw new VaultError('ERR_UNAVAILABLE', 'no collection manifest is installed: nothing is accepted');
    const manifest = await this.#state.manifest(version, trx);
    const consentedTo = new Map<number, Awaited<ReturnType<ControlState['manifest']>>>();
    for (const state of consent.values()) {
      const v = state.consentedVersion;
      if (v !== null && !consentedTo.has(v)) consentedTo.set(v, await this.#state.manifest(v, trx));
    }
    const byEmployee = new Map<string | null, ControlWindow[]>();
    for (const w of windows) byEmployee.set(w.employeeId, [...(byEmployee.get(w.employeeId) ?? []), w]);
    const program = byEmployee.get(null) ?? [];
    const none: readonly ControlWindow[] = [];
    const contexts = new ContextReader();
    for (const r of records) {
      const own = byEmployee.get(r.employeeId) ?? none;
      const state = consent.get(r.employeeId);
      let reason: ControlDrop | undefined;
      if (holding(program, undefined, r.capturedAt, now)) reason = 'program_paused';
      else if (holding(own, 'opt_out', r.capturedAt, now)) reason = 'opted_out';
      else if (holding(own, 'pause', r.capturedAt, now)) reason = 'paused';
      else if (expiredAt(manifest, r, now)) reason = 'expired';
      else if (state) {
        const consented = state.consentedVersion === null ? undefined : consentedTo.get(state.consentedVersion);
        reason = manifest.judge(r.kind, state.region, r.payload, consented, contexts);
      }
      if (reason) drops.set(r.index, reason);
    }
    return drops;
  }
}
