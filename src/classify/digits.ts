import { knownCardPrefix, luhnValid, validAbaRouting, validEin, validItin, validNir, validSin, validSsn, validSteuerId } from './checks.js';
import { FOUND } from './types.js';
import { SIGNAL } from './vocabulary.js';

const MAX_GROUPS = 64;
const MAX_DIGITS = 256;
/** Separators allowed inside one number, at most this many in a row ("123 - 45 - 6789"). */
const MAX_SEPARATOR_RUN = 3;

// Space, dash, dot, low line and brackets join digit groups ("(415) 555-0132"); a slash, colon,
// comma or line break ends a number, so "4111 1111 1111 1111 12/27" keeps the card apart from its expiry,
// and a tab, so the cells of a pasted spreadsheet row ("424_59_3008\t2026-03-23") stay apart.
function isSeparator(c: number): boolean {
  return c === 32 || c === 45 || c === 46 || c === 95 || c === 40 || c === 41;
}

// "Order 4578 3703 0144 9865", "ref 345-800-3661": a number its own label calls an order, invoice,
// ticket or tracking number is one, unless card or phone words say otherwise.
const ID_LABEL =
  /(?:^|[^a-z])(?:order|orders|invoice|inv|tracking|track|ticket|ref|reference|confirmation|conf|booking|reservation|po|sku|serial|build|case|shipment|parcel|package|isbn|issue|pr|job|run|batch|lot|item|part|model|id)\s*(?:no\.?|nr\.?|number|num|#|id)?\s*[#:.=-]?\s*$/;

function labelledAsId(text: string, runStart: number): boolean {
  return ID_LABEL.test(text.slice(Math.max(0, runStart - 32), runStart).toLowerCase());
}

const isHex = (c: number) => (c >= 48 && c <= 57) || (c >= 97 && c <= 102) || (c >= 65 && c <= 70);

/**
 * UUIDs and hex digests hold digit runs that pass Luhn as often as any random number; a number
 * inside one (a hex token of 24+ characters, dashes allowed, with at least one hex letter) is not
 * how anyone writes a card or an SSN.
 */
function insideHexToken(text: string, start: number, end: number): boolean {
  let from = start;
  while (from > 0 && (isHex(text.charCodeAt(from - 1)) || text.charCodeAt(from - 1) === 45)) from--;
  let to = end;
  while (to < text.length && (isHex(text.charCodeAt(to)) || text.charCodeAt(to) === 45)) to++;
  if (to - from < 24) return false;
  const before = from > 0 ? text.charCodeAt(from - 1) : 32;
  const after = to < text.length ? text.charCodeAt(to) : 32;
  const alnum = (c: number) => (c >= 48 && c <= 57) || ((c | 32) >= 97 && (c | 32) <= 122);
  if (alnum(before) || alnum(after)) return false;
  for (let i = from; i < to; i++) {
    const c = text.charCodeAt(i) | 32;
    if (c >= 97 && c <= 102) return true;
  }
  return false;
}

export type PhoneCheck = (written: string, international: boolean, context: boolean) => boolean;

/**
 * Finds numbers in normalised text, digit groups joined by separators, and checks every run of
 * consecutive groups against the identifier rules. Digits are read wherever they sit, glued to
 * letters or `_` included; a bare run of nine digits is an SSN only next to an SSN word.
 * One instance per classifier: it reuses its buffers.
 */
export class DigitScanner {
  private readonly digits = new Uint8Array(MAX_DIGITS);
  private readonly groupLength = new Int32Array(MAX_GROUPS);
  private readonly groupOffset = new Int32Array(MAX_GROUPS);
  private groups = 0;
  private count = 0;
  private phoneChecks = 0;
  /** Valid ABA routing numbers seen next to bank words since {@link resetRecord}. */
  private routingNumbers = 0;
  /** Numbers of 6-17 digits seen next to bank words since {@link resetRecord}: account numbers, and the routing numbers themselves. */
  private bankNumbers = 0;

  constructor(private readonly phoneValid: PhoneCheck) {}

  /** Starts a record: a routing number and its account number may sit in different fields of one record. */
  resetRecord(): void {
    this.routingNumbers = 0;
    this.bankNumbers = 0;
  }

  /** A routing number next to an account number, anywhere in the record. */
  get routingWithAccount(): boolean {
    return this.routingNumbers > 0 && this.bankNumbers >= 2;
  }

  /** Categories found in `text`; `signals` are the words around it, `skip` the categories already found. */
  scan(text: string, signals: number, skip: number): number {
    let found = 0;
    this.phoneChecks = 0;
    this.reset();
    let runStart = -1;
    const n = text.length;
    let i = 0;
    while (i < n) {
      const c = text.charCodeAt(i);
      if (c >= 48 && c <= 57) {
        if (runStart < 0) runStart = i;
        if (this.count === MAX_DIGITS) {
          found |= this.endRun(text, runStart, i, signals, skip | found);
          runStart = i;
        }
        if (this.groups === 0) this.openGroup();
        this.digits[this.count++] = c - 48;
        this.groupLength[this.groups - 1]!++;
        i++;
        continue;
      }
      if (runStart >= 0 && isSeparator(c)) {
        let j = i + 1;
        while (j < n && j - i < MAX_SEPARATOR_RUN && isSeparator(text.charCodeAt(j))) j++;
        const next = j < n ? text.charCodeAt(j) : 0;
        if (next >= 48 && next <= 57 && this.groups < MAX_GROUPS) {
          this.openGroup();
          i = j;
          continue;
        }
      }
      if (runStart >= 0) {
        found |= this.endRun(text, runStart, i, signals, skip | found);
        runStart = -1;
      }
      i++;
    }
    if (runStart >= 0) found |= this.endRun(text, runStart, n, signals, skip | found);
    return found;
  }

  private reset(): void {
    this.groups = 0;
    this.count = 0;
  }

  private openGroup(): void {
    this.groupOffset[this.groups] = this.count;
    this.groupLength[this.groups] = 0;
    this.groups++;
  }

  private endRun(text: string, runStart: number, runEnd: number, signals: number, skip: number): number {
    let found = 0;
    const k = this.groups;
    const d = this.digits;
    const len = this.groupLength;
    const off = this.groupOffset;
    const cardContext = (signals & SIGNAL.cardContext) !== 0;
    const bankWords = (signals & (SIGNAL.bankContext | SIGNAL.routingContext | SIGNAL.bankAccountContext)) !== 0;
    if (bankWords && this.count >= 6 && this.count <= 17) this.bankNumbers++;
    // "+44 (0)20 7946 0337" is a phone number, whatever Luhn says of its digits.
    const before = runStart > 0 ? text.charCodeAt(runStart - 1) : 0;
    const international = before === 43 || ((before === 32 || before === 40) && runStart > 1 && text.charCodeAt(runStart - 2) === 43);

    for (let s = 0; s < k; s++) {
      let total = 0;
      for (let e = s; e < k; e++) {
        total += len[e]!;
        if (total > 19) break;
        const at = off[s]!;
        if (total === 9) found |= this.nineDigits(d, at, s, e, signals, bankWords);
        if (total === 11 && signals & SIGNAL.steuerIdContext && validSteuerId(d, at)) found |= FOUND.government_id;
        // Fifteen digits inside a longer number (a 19-digit card) are a NIR only where words say so.
        if (total === 15 && (this.count === 15 || signals & SIGNAL.nirContext) && validNir(d, at)) found |= FOUND.government_id;
        if (total >= 13 && !(skip & FOUND.payment_card) && (s === 0 ? !international : (s === 1 && len[0]! <= 3) || e === s || cardContext) && luhnValid(d, at, total)) {
          if (cardContext || (knownCardPrefix(d, at, total) && !labelledAsId(text, runStart))) found |= FOUND.payment_card;
        }
      }
      // "+49 301 23 4567" holds an SSN's shape after its country code.
      if (s + 2 < k && len[s] === 3 && len[s + 1] === 2 && len[s + 2] === 4 && !(international && s > 0) && (validSsn(d, off[s]!) || validItin(d, off[s]!))) {
        found |= FOUND.government_id;
      }
      if (s + 1 < k && len[s] === 2 && len[s + 1] === 7 && signals & (SIGNAL.einContext | SIGNAL.taxContext | SIGNAL.taxTerm) && validEin(d, off[s]!)) {
        found |= FOUND.government_id;
      }
      if (s + 2 < k && len[s] === 2 && len[s + 1] === 2 && len[s + 2] === 2 && signals & SIGNAL.sortCodeContext) found |= FOUND.bank_account;
    }
    if (signals & SIGNAL.bankAccountContext && this.count >= 8 && this.count <= 17 && !this.dateLike()) found |= FOUND.bank_account;
    if (!(skip & FOUND.contact_data) && this.phoneLike(text, runStart, runEnd, signals, international)) found |= FOUND.contact_data;
    this.reset();
    return found !== 0 && insideHexToken(text, runStart, runEnd) ? 0 : found;
  }

  private nineDigits(d: Uint8Array, at: number, s: number, e: number, signals: number, bankWords: boolean): number {
    let found = 0;
    if (signals & SIGNAL.ssnContext && (validSsn(d, at) || validItin(d, at))) found |= FOUND.government_id;
    if (signals & SIGNAL.einContext && validEin(d, at)) found |= FOUND.government_id;
    if (signals & SIGNAL.sinContext && validSin(d, at)) found |= FOUND.government_id;
    if (s === e && bankWords && validAbaRouting(d, at)) this.routingNumbers++;
    return found;
  }

  private dateLike(): boolean {
    if (this.groups < 2 || this.groupLength[0] !== 4 || this.groupLength[1] !== 2) return false;
    const d = this.digits;
    const year = d[0]! * 1000 + d[1]! * 100 + d[2]! * 10 + d[3]!;
    const month = d[4]! * 10 + d[5]!;
    return year >= 1900 && year <= 2099 && month >= 1 && month <= 12;
  }

  private phoneLike(text: string, runStart: number, runEnd: number, signals: number, international: boolean): boolean {
    const digits = this.count;
    if (digits < 7 || digits > 15 || this.groups > 6 || this.phoneChecks >= 4) return false;
    const len = this.groupLength;
    const usShape =
      (this.groups === 3 && len[0] === 3 && len[1] === 3 && len[2] === 4) ||
      (this.groups === 4 && len[0] === 1 && this.digits[0] === 1 && len[1] === 3 && len[2] === 3 && len[3] === 4);
    const context = (signals & SIGNAL.phoneContext) !== 0;
    const national = !international && !usShape && this.nationalShape();
    if (!international && !usShape && !national && !(context && !this.dateLike())) return false;
    if (!context && labelledAsId(text, runStart)) return false;
    this.phoneChecks++;
    // libphonenumber reads the number as written, so a "(0)" trunk prefix after the country code is understood.
    return this.phoneValid(text.slice(runStart, runEnd), international, context || national);
  }

  /**
   * A number dialled within its country, grouped the way it is written there: a trunk 0 and an
   * area code as the first group, then one or two groups of 3 or more ("020 7946 0018",
   * "01632 960123", "030 1234 5678"), or the French five pairs ("01 23 45 67 89"); 10-11 digits.
   * Order numbers and the digits of an account ("RABO 0318 2904 41") are not grouped so.
   */
  private nationalShape(): boolean {
    const len = this.groupLength;
    const groups = this.groups;
    if (this.digits[0] !== 0 || this.digits[1] === 0 || this.count < 10 || this.count > 11) return false;
    if (groups === 5) return this.count === 10 && len[0] === 2 && len[1] === 2 && len[2] === 2 && len[3] === 2;
    if (groups < 2 || groups > 3 || len[0]! < 3 || len[0]! > 5) return false;
    return len[1]! >= 3 && (groups === 2 || len[2]! >= 3);
  }
}
