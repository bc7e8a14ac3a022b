import type { ClassifierLists } from './lists.js';
import { tokenize, wordHash, type WordSpans } from './normalize.js';

/** What the words of a text (or of its JSON key) say about the numbers and codes next to them. */
export const SIGNAL = {
  healthTerm: 1 << 0,
  healthContext: 1 << 1,
  taxTerm: 1 << 2,
  taxForm: 1 << 3,
  taxContext: 1 << 4,
  ssnContext: 1 << 5,
  einContext: 1 << 6,
  sinContext: 1 << 7,
  steuerIdContext: 1 << 8,
  ninoContext: 1 << 9,
  nirContext: 1 << 10,
  cardContext: 1 << 11,
  routingContext: 1 << 12,
  bankContext: 1 << 13,
  bankAccountContext: 1 << 14,
  sortCodeContext: 1 << 15,
  phoneContext: 1 << 16,
  streetSuffix: 1 << 17,
  dosageContext: 1 << 18,
} as const;

// Context words for the built-in detectors; the security team's vocabulary (health, tax) is in the lists.
const BUILT_IN: ReadonlyArray<readonly [number, readonly string[]]> = [
  [SIGNAL.ssnContext, ['ssn', 'ssns', 'social security', 'social security number', 'my social', 'soc sec', 'soc sec no', 'itin', 'individual taxpayer identification number', 'taxpayer id', 'tin']],
  [SIGNAL.einContext, ['ein', 'fein', 'employer identification number', 'employer id number', 'tax id', 'tax identification number', 'federal tax id', 'taxpayer id', 'tin']],
  [SIGNAL.sinContext, ['sin', 'sin#', 'social insurance number', 'social insurance', 'nas', 'numero d assurance sociale']],
  [SIGNAL.steuerIdContext, ['steuer id', 'steuerid', 'steuer identifikationsnummer', 'steueridentifikationsnummer', 'steuerliche identifikationsnummer', 'identifikationsnummer', 'idnr', 'tax id', 'tin']],
  [SIGNAL.ninoContext, ['nino', 'national insurance', 'national insurance number', 'ni number', 'ni no']],
  [SIGNAL.nirContext, ['nir', 'securite sociale', 'numero de securite sociale', 'secu', 'insee', 'carte vitale']],
  [SIGNAL.cardContext, ['card', 'cards', 'credit card', 'debit card', 'card number', 'cc', 'ccn', 'visa', 'mastercard', 'amex', 'american express', 'discover card', 'jcb', 'unionpay', 'maestro', 'diners', 'cvv', 'cvc', 'cvv2', 'cid', 'exp', 'expiry', 'expires', 'expiration', 'pan']],
  [SIGNAL.routingContext, ['routing', 'routing number', 'routing no', 'aba', 'rtn', 'transit number', 'ach routing']],
  [SIGNAL.bankContext, ['bank', 'banking', 'account', 'accounts', 'acct', 'checking', 'savings', 'wire', 'ach', 'deposit', 'direct deposit']],
  [SIGNAL.bankAccountContext, ['bank account', 'bank acct', 'checking account', 'savings account', 'account and routing', 'direct deposit', 'kontonummer', 'numero de compte', 'bank details', 'sort code']],
  [SIGNAL.sortCodeContext, ['sort code', 'sortcode']],
  [SIGNAL.phoneContext, ['phone', 'phones', 'tel', 'telephone', 'mobile', 'cell', 'cellphone', 'call me', 'text me', 'fax', 'my number', 'phone number', 'contact number', 'reach me', 'telefon', 'handy', 'telephone number', 'whatsapp me', 'contact', 'emergency contact', 'reach', 'ring', 'dial', 'landline']],
  [SIGNAL.streetSuffix, ['street', 'st', 'avenue', 'ave', 'road', 'rd', 'boulevard', 'blvd', 'lane', 'ln', 'drive', 'dr', 'court', 'ct', 'place', 'pl', 'terrace', 'circle', 'cir', 'parkway', 'pkwy', 'highway', 'hwy', 'way', 'square', 'sq', 'trail', 'crescent', 'close', 'grove']],
  [SIGNAL.dosageContext, ['tablet', 'tablets', 'capsule', 'capsules', 'daily', 'twice', 'once', 'dose', 'doses', 'pill', 'pills', 'take', 'taking', 'refill', 'pharmacy', 'prescribed', 'bid', 'tid', 'qd', 'prn']],
];

interface Entry {
  readonly rest: readonly string[];
  readonly signals: number;
}

const FIRST_WORD_BITS = 16;
const firstWordSlot = (hash: number) => (hash ^ (hash >>> FIRST_WORD_BITS)) & ((1 << FIRST_WORD_BITS) - 1);

/**
 * Words and phrases to signals, looked up by first word. Most words of a text start no entry: a
 * table of first-word hashes rules them out before any string is made for a Map probe.
 */
export class Vocabulary {
  private readonly index = new Map<string, Entry[]>();
  private readonly firstWords = new Uint8Array(1 << FIRST_WORD_BITS);

  constructor(lists: ClassifierLists) {
    for (const [signal, phrases] of BUILT_IN) for (const phrase of phrases) this.add(tokenize(phrase), signal);
    for (const phrase of lists.health.keywords) this.add(tokenize(phrase), SIGNAL.healthTerm);
    for (const phrase of lists.health.context) this.add(tokenize(phrase), SIGNAL.healthContext);
    for (const phrase of lists.tax.keywords) this.add(tokenize(phrase), SIGNAL.taxTerm);
    for (const phrase of lists.tax.context) this.add(tokenize(phrase), SIGNAL.taxContext);
    for (const phrase of lists.tax.forms) {
      const words = tokenize(phrase);
      this.add(words, SIGNAL.taxForm);
      this.add(['form', ...words], SIGNAL.taxTerm);
      this.add(['irs', 'form', ...words], SIGNAL.taxTerm);
      this.add(['my', ...words], SIGNAL.taxTerm);
      this.add(['our', ...words], SIGNAL.taxTerm);
    }
  }

  private add(words: readonly string[], signals: number): void {
    const [first, ...rest] = words;
    if (first === undefined) return;
    const entries = this.index.get(first) ?? [];
    const same = entries.findIndex((e) => e.rest.length === rest.length && e.rest.every((w, i) => w === rest[i]));
    if (same >= 0) entries[same] = { rest, signals: entries[same]!.signals | signals };
    else entries.push({ rest, signals });
    this.index.set(first, entries);
    this.firstWords[firstWordSlot(wordHash(first))] = 1;
  }

  /** The signals of the first `count` words of `text` in `spans`. */
  signalsOfSpans(text: string, spans: WordSpans, count: number): number {
    let signals = 0;
    for (let i = 0; i < count; i++) {
      if (this.firstWords[firstWordSlot(spans.hash(i))] === 0) continue;
      const entries = this.index.get(spans.word(text, i));
      if (entries === undefined) continue;
      for (const entry of entries) {
        const rest = entry.rest;
        if (rest.length === 0) {
          signals |= entry.signals;
          continue;
        }
        if (i + rest.length >= count) continue;
        let j = 0;
        while (j < rest.length && spans.is(text, i + 1 + j, rest[j]!)) j++;
        if (j === rest.length) signals |= entry.signals;
      }
    }
    return signals;
  }
}
