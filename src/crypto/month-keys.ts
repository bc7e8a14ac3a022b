import { createHmac, randomFillSync } from 'node:crypto';
import { VaultError } from '../errors/index.js';
import { KEY_BYTES, type Aead } from './aead.js';
import { KEK_FINGERPRINT_BYTES, openEnvelope, sealEnvelope } from './envelope.js';
import type { DataKeyContext, KeyProvider } from './key-provider.js';

/** A calendar month in UTC, `YYYY-MM`. */
export type Month = string;

const MONTH = /^(\d{4})-(0[1-9]|1[0-2])$/;
const RATCHET_SECRET = 'month-ratchet';

/** Months since year 0: consecutive months differ by one. */
function monthIndex(month: Month): number {
  const m = MONTH.exec(month);
  if (!m) throw new TypeError(`not a month: ${month}`);
  return Number(m[1]) * 12 + Number(m[2]) - 1;
}

function monthOfIndex(index: number): Month {
  const month = (index % 12) + 1;
  return `${Math.floor(index / 12)}-${month < 10 ? '0' : ''}${month}`;
}

/** The month after `month`. */
export function nextMonth(month: Month): Month {
  return monthOfIndex(monthIndex(month) + 1);
}

export function compareMonths(a: Month, b: Month): number {
  return monthIndex(a) - monthIndex(b);
}

const hmac = (key: Uint8Array, label: string): Buffer => createHmac('sha256', key).update(label).digest();
const step = (seed: Uint8Array): Buffer => hmac(seed, 'activity-vault/month-ratchet/next/v1');

/** What the database keeps of the ratchet: where it starts and a check value, never the seed. */
export interface RatchetAnchor {
  readonly base: Month;
  /** HMAC of the base under its seed: proves a ratchet is the one the store was sealed under. */
  readonly check: string;
}

/** Where the anchor lives (the database): the ratchet itself never goes there. */
export interface RatchetAnchorStore {
  read(): Promise<RatchetAnchor | undefined>;
  /** Stores `anchor` unless one exists; returns the one stored. */
  claim(anchor: RatchetAnchor): Promise<RatchetAnchor>;
  /** Moves the anchor forward (called before the ratchet itself moves, so a crash between is repaired forward). */
  advance(anchor: RatchetAnchor): Promise<void>;
}

function checkOf(base: Month, seed: Uint8Array): string {
  return hmac(seed, `activity-vault/month-ratchet/check/v1|${base}`).subarray(0, 16).toString('hex');
}

function encodeState(base: Month, seed: Uint8Array): Buffer {
  return Buffer.concat([Buffer.from(base, 'ascii'), seed]);
}

/**
 * Month keys for data keys: every data key of a calendar month is sealed under that month's key
 * before the KEK wraps it, and month keys come from a one-way ratchet (seed of a month = HMAC of
 * the previous month's seed) whose state is kept outside the database, by the key provider. Moving
 * the ratchet's start past a month forgets every seed up to it: from then on that month's key
 * cannot be derived by anyone, so its data keys cannot be opened even from a backup of the
 * database taken before, with the KEK in hand.
 */
export class MonthKeys {
  readonly #aead: Aead;
  readonly #provider: KeyProvider;
  #base: Month;
  #seed: Buffer;
  /** Seeds of months at or after the base, derived on demand. */
  readonly #seeds = new Map<number, Buffer>();
  readonly #keys = new Map<number, Buffer>();

  private constructor(aead: Aead, provider: KeyProvider, base: Month, seed: Buffer) {
    this.#aead = aead;
    this.#provider = provider;
    this.#base = base;
    this.#seed = seed;
  }

  /**
   * Loads the ratchet from the provider and checks it against the anchor in the database; on a
   * store that has none, creates both. Fails closed (`ERR_KEY_UNAVAILABLE`) when the ratchet is
   * missing or is not the one the store was sealed under.
   */
  static async open(aead: Aead, provider: KeyProvider, anchors: RatchetAnchorStore, firstMonth: Month): Promise<MonthKeys> {
    const loaded = await MonthKeys.#load(provider);
    let anchor = await anchors.read();
    if (!anchor) {
      const state = loaded ?? (await MonthKeys.#create(provider, firstMonth));
      anchor = await anchors.claim({ base: state.base, check: checkOf(state.base, state.seed) });
      if (!loaded && anchor.check !== checkOf(state.base, state.seed)) {
        // Another instance claimed the store first with its own ratchet: use that one.
        state.seed.fill(0);
        return MonthKeys.open(aead, provider, anchors, firstMonth);
      }
      return MonthKeys.#checked(aead, provider, state, anchor);
    }
    if (!loaded) throw new VaultError('ERR_KEY_UNAVAILABLE', `the month-key ratchet is missing (this store's starts at ${anchor.base}): restore it beside the KEK, or no data key can be opened`);
    return MonthKeys.#checked(aead, provider, loaded, anchor);
  }

  static async #load(provider: KeyProvider): Promise<{ base: Month; seed: Buffer } | undefined> {
    const stored = await provider.readMonthRatchet();
    if (!stored) return undefined;
    const state = await provider.unwrapSecret(RATCHET_SECRET, stored);
    if (state.length !== 7 + KEY_BYTES || !MONTH.test(state.subarray(0, 7).toString('ascii'))) throw new VaultError('ERR_KEY_UNAVAILABLE', 'the month-key ratchet is malformed');
    return { base: state.subarray(0, 7).toString('ascii'), seed: Buffer.from(state.subarray(7)) };
  }

  static async #create(provider: KeyProvider, base: Month): Promise<{ base: Month; seed: Buffer }> {
    const seed = randomFillSync(Buffer.alloc(KEY_BYTES));
    await provider.writeMonthRatchet(await provider.wrapSecret(RATCHET_SECRET, encodeState(base, seed)));
    return { base, seed };
  }

  /** The ratchet behind the anchor is moved forward to it (a crash between the two writes); ahead of it, or another ratchet, fails closed. */
  static async #checked(aead: Aead, provider: KeyProvider, state: { base: Month; seed: Buffer }, anchor: RatchetAnchor): Promise<MonthKeys> {
    const keys = new MonthKeys(aead, provider, state.base, state.seed);
    if (compareMonths(state.base, anchor.base) < 0) await keys.#moveTo(anchor.base);
    if (keys.#base !== anchor.base || checkOf(keys.#base, keys.#seed) !== anchor.check) {
      keys.close();
      throw new VaultError('ERR_KEY_UNAVAILABLE', `the month-key ratchet beside the KEK is not the one this store was sealed under (store: from ${anchor.base})`);
    }
    return keys;
  }

  /** The first month whose key can still be derived. */
  get base(): Month {
    return this.#base;
  }

  /** Whether `month`'s key can still be derived. */
  holds(month: Month): boolean {
    return compareMonths(month, this.#base) >= 0;
  }

  #key(month: Month): Buffer {
    const index = monthIndex(month);
    const cached = this.#keys.get(index);
    if (cached) return cached;
    if (!this.holds(month)) throw new VaultError('ERR_KEY_UNAVAILABLE', `the keys of ${month} were destroyed when it expired`);
    const baseIndex = monthIndex(this.#base);
    let at = index;
    while (at > baseIndex && !this.#seeds.has(at)) at--;
    let seed = at === baseIndex ? this.#seed : this.#seeds.get(at)!;
    for (; at < index; at++) {
      seed = step(seed);
      this.#seeds.set(at + 1, seed);
    }
    const key = hmac(seed, `activity-vault/month-key/v1|${month}`);
    this.#keys.set(index, key);
    return key;
  }

  /** Seals a data key under its month's key (the inner layer; the KEK wraps the result). */
  seal(month: Month, context: DataKeyContext, dek: Uint8Array): Buffer {
    return sealEnvelope(this.#aead, this.#key(month), Buffer.alloc(KEK_FINGERPRINT_BYTES), context.dekVersion, contextOf(month, context), dek);
  }

  open(month: Month, context: DataKeyContext, sealed: Uint8Array): Buffer {
    return openEnvelope(this.#aead, this.#key(month), sealed, contextOf(month, context), context.dekVersion);
  }

  /**
   * Forgets every month before `month`: the anchor moves first, then the ratchet beside the KEK,
   * then this instance's seeds and keys are zeroed. Returns whether anything moved.
   */
  async expireBefore(month: Month, anchors: RatchetAnchorStore): Promise<boolean> {
    if (compareMonths(month, this.#base) <= 0) return false;
    const seed = this.#seedOf(month);
    await anchors.advance({ base: month, check: checkOf(month, seed) });
    await this.#moveTo(month);
    return true;
  }

  /** Another instance moved the ratchet: reload it (and move it forward to the anchor if it lags). */
  async reload(anchors: RatchetAnchorStore): Promise<void> {
    const anchor = await anchors.read();
    if (!anchor || compareMonths(anchor.base, this.#base) <= 0) return;
    const loaded = await MonthKeys.#load(this.#provider);
    if (loaded && compareMonths(loaded.base, this.#base) > 0) {
      this.#replace(loaded.base, loaded.seed);
    }
    if (compareMonths(this.#base, anchor.base) < 0) await this.#moveTo(anchor.base);
  }

  #seedOf(month: Month): Buffer {
    let seed = this.#seed;
    for (let i = monthIndex(this.#base); i < monthIndex(month); i++) seed = step(seed);
    return seed;
  }

  async #moveTo(month: Month): Promise<void> {
    const seed = Buffer.from(this.#seedOf(month));
    await this.#provider.writeMonthRatchet(await this.#provider.wrapSecret(RATCHET_SECRET, encodeState(month, seed)));
    this.#replace(month, seed);
  }

  #replace(base: Month, seed: Buffer): void {
    this.#forgetDerived();
    this.#seed.fill(0);
    this.#base = base;
    this.#seed = seed;
  }

  #forgetDerived(): void {
    for (const s of this.#seeds.values()) s.fill(0);
    for (const k of this.#keys.values()) k.fill(0);
    this.#seeds.clear();
    this.#keys.clear();
  }

  /** Rewraps the ratchet's state under the provider's active KEK (KEK rotation). */
  async rewrap(): Promise<void> {
    await this.#provider.writeMonthRatchet(await this.#provider.wrapSecret(RATCHET_SECRET, encodeState(this.#base, this.#seed)));
  }

  close(): void {
    this.#forgetDerived();
    this.#seed.fill(0);
  }
}

function contextOf(month: Month, context: DataKeyContext): string {
  return JSON.stringify(['activity-vault/dek-month/v1', context.employeeId, context.dekVersion, month]);
}
