import { createHmac, randomFillSync } from 'node:crypto';
import { VaultError } from '../errors/index.js';
import { KEY_BYTES, type Aead } from './aead.js';
import { KEK_FINGERPRINT_BYTES, openEnvelope, sealEnvelope } from './envelope.js';
import type { DataKeyContext, KeyProvider } from './key-provider.js';

/** A calendar month in UTC, `YYYY-MM`. */
export type Month = string;

const MONTH = /^(\d{4})-(0[1-9]|1[0-2])$/;
const RATCHET_SECRET = 'month-ratchet';
/** How long (in 100 ms steps) an instance waits for the ratchet of the instance whose claim won. */
const CLAIM_WAITS = 50;

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
  /**
   * Replaces `expected` with `next` only while no data key sealed under a month key exists (the
   * instance that claimed the store died before writing its ratchet); returns whether it did.
   */
  replaceIfUnused(expected: RatchetAnchor, next: RatchetAnchor): Promise<boolean>;
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
  #writes: Promise<void> = Promise.resolve();

  private constructor(aead: Aead, provider: KeyProvider, base: Month, seed: Buffer) {
    this.#aead = aead;
    this.#provider = provider;
    this.#base = base;
    this.#seed = seed;
  }

  /**
   * Loads the ratchet from the provider and checks it against the anchor in the database; on a
   * store that has none, creates both. The anchor decides between instances starting together:
   * only the one whose claim wins writes its ratchet, the others wait for it. Fails closed
   * (`ERR_KEY_UNAVAILABLE`) when the ratchet is missing or is not the one the store was sealed under.
   */
  static async open(aead: Aead, provider: KeyProvider, anchors: RatchetAnchorStore, firstMonth: Month): Promise<MonthKeys> {
    for (let attempt = 0; ; attempt++) {
      const loaded = await MonthKeys.#load(provider);
      const anchor = await anchors.read();
      if (anchor && loaded) return MonthKeys.#checked(aead, provider, loaded, anchor);
      if (anchor) {
        // Another instance claimed the store and is writing its ratchet, or died before it did.
        if (attempt < CLAIM_WAITS) {
          await new Promise((resolve) => setTimeout(resolve, 100));
          continue;
        }
        const fresh = MonthKeys.#fresh(firstMonth);
        if (!(await anchors.replaceIfUnused(anchor, fresh.anchor))) {
          fresh.seed.fill(0);
          throw new VaultError('ERR_KEY_UNAVAILABLE', `the month-key ratchet is missing (this store's starts at ${anchor.base}): restore it beside the KEK, or no data key can be opened`);
        }
        return MonthKeys.#install(aead, provider, fresh);
      }
      if (loaded) {
        const claimed = await anchors.claim({ base: loaded.base, check: checkOf(loaded.base, loaded.seed) });
        return MonthKeys.#checked(aead, provider, loaded, claimed);
      }
      const fresh = MonthKeys.#fresh(firstMonth);
      const claimed = await anchors.claim(fresh.anchor);
      if (claimed.check === fresh.anchor.check) return MonthKeys.#install(aead, provider, fresh);
      fresh.seed.fill(0);
    }
  }

  static #fresh(base: Month): { base: Month; seed: Buffer; anchor: RatchetAnchor } {
    const seed = randomFillSync(Buffer.alloc(KEY_BYTES));
    return { base, seed, anchor: { base, check: checkOf(base, seed) } };
  }

  /** Writes the ratchet whose anchor this instance claimed. */
  static async #install(aead: Aead, provider: KeyProvider, state: { base: Month; seed: Buffer }): Promise<MonthKeys> {
    await provider.writeMonthRatchet(await provider.wrapSecret(RATCHET_SECRET, encodeState(state.base, state.seed)));
    return new MonthKeys(aead, provider, state.base, state.seed);
  }

  static async #load(provider: KeyProvider): Promise<{ base: Month; seed: Buffer } | undefined> {
    const stored = await provider.readMonthRatchet();
    if (!stored) return undefined;
    const state = await provider.unwrapSecret(RATCHET_SECRET, stored);
    if (state.length !== 7 + KEY_BYTES || !MONTH.test(state.subarray(0, 7).toString('ascii'))) throw new VaultError('ERR_KEY_UNAVAILABLE', 'the month-key ratchet is malformed');
    return { base: state.subarray(0, 7).toString('ascii'), seed: Buffer.from(state.subarray(7)) };
  }

  /** The ratchet behind the anchor is moved forward to it (a crash between the two writes); ahead of it, or another ratchet, fails closed. */
  static async #checked(aead: Aead, provider: KeyProvider, state: { base: Month; seed: Buffer }, anchor: RatchetAnchor): Promise<MonthKeys> {
    const keys = new MonthKeys(aead, provider, state.base, state.seed);
    if (compareMonths(state.base, anchor.base) < 0) await keys.#persist(anchor.base, Buffer.from(keys.#seedOf(anchor.base)));
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
  expireBefore(month: Month, anchors: RatchetAnchorStore): Promise<boolean> {
    return this.#serial(async () => {
      if (compareMonths(month, this.#base) <= 0) return false;
      const seed = this.#seedOf(month);
      await anchors.advance({ base: month, check: checkOf(month, seed) });
      await this.#persist(month, seed);
      return true;
    });
  }

  /** Another instance moved the ratchet: reload it (and move it forward to the anchor if it lags). */
  reload(anchors: RatchetAnchorStore): Promise<void> {
    return this.#serial(async () => {
      const anchor = await anchors.read();
      if (!anchor || compareMonths(anchor.base, this.#base) <= 0) return;
      await this.#persist(anchor.base, Buffer.from(this.#seedOf(anchor.base)));
    });
  }

  /** Rewraps the ratchet's state under the provider's active KEK (KEK rotation). */
  rewrap(): Promise<void> {
    return this.#serial(() => this.#persist(this.#base, Buffer.from(this.#seed)));
  }

  /** Writes of the ratchet one at a time in this process: a rewrap never lands after a move it read before. */
  #serial<T>(work: () => Promise<T>): Promise<T> {
    const run = this.#writes.then(work);
    this.#writes = run.then(
      () => undefined,
      () => undefined,
    );
    return run;
  }

  /**
   * Makes (base, seed) the state beside the KEK and in memory, under the KEK active now, but never
   * moves the ratchet back: a state stored further on (another instance moved it) of the same
   * chain is taken instead; one of another chain fails closed.
   */
  async #persist(base: Month, seed: Buffer): Promise<void> {
    await this.#provider.refresh();
    const stored = await MonthKeys.#load(this.#provider);
    let [toBase, toSeed] = [base, seed];
    if (stored && compareMonths(stored.base, base) > 0) {
      const ours = this.#seedOf(stored.base);
      if (!ours.equals(stored.seed)) {
        stored.seed.fill(0);
        throw new VaultError('ERR_KEY_UNAVAILABLE', 'the month-key ratchet beside the KEK is not this store\'s');
      }
      seed.fill(0);
      [toBase, toSeed] = [stored.base, stored.seed];
    } else {
      stored?.seed.fill(0);
    }
    await this.#provider.writeMonthRatchet(await this.#provider.wrapSecret(RATCHET_SECRET, encodeState(toBase, toSeed)));
    if (toBase !== this.#base || !toSeed.equals(this.#seed)) this.#replace(toBase, toSeed);
    else toSeed.fill(0);
  }

  #seedOf(month: Month): Buffer {
    let seed = this.#seed;
    for (let i = monthIndex(this.#base); i < monthIndex(month); i++) seed = step(seed);
    return seed;
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

  close(): void {
    this.#forgetDerived();
    this.#seed.fill(0);
  }
}

function contextOf(month: Month, context: DataKeyContext): string {
  return JSON.stringify(['activity-vault/dek-month/v1', context.employeeId, context.dekVersion, month]);
}
