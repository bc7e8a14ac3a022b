import { GERMAN_STREET_HINT, personalEmailIn, streetAddressIn, validPhone } from './contact.js';
import { ContextMatcher } from './context.js';
import { CredentialDetector } from './credentials.js';
import { DigitScanner } from './digits.js';
import type { ClassifierLists } from './lists.js';
import { foldForWords, hasCamelCase, isAscii, normalizeText, scanWordSpans, WordSpans } from './normalize.js';
import { dosageIn, icd10CodeIn, ninoIn, withoutIbans } from './patterns.js';
import { CATEGORIES, CATEGORY_LEVEL, FOUND, type Classification } from './types.js';
import { SIGNAL, Vocabulary } from './vocabulary.js';

const ROLE = { app: 1, title: 2, url: 4, secretName: 8 } as const;
const APP_KEYS = new Set(['app', 'application', 'appname', 'applicationname', 'activeapp', 'process', 'processname', 'bundleid', 'bundleidentifier', 'executable', 'program', 'ownername', 'appid']);
const TITLE_KEYS = new Set(['windowtitle', 'title', 'window', 'windowname', 'tabtitle', 'pagetitle']);
const URL_KEYS = new Set(['url', 'uri', 'href', 'link', 'pageurl', 'taburl', 'domain', 'host', 'hostname', 'origin', 'site', 'website', 'referrer']);
const SECRET_KEY_HINT = /pass|secret|key|token|credential/i;
const PLAIN_KEY = /^[A-Za-z_][A-Za-z_.-]{0,63}$/;

interface KeyInfo {
  /** Signals of the key's words, for the values under it. */
  readonly signals: number;
  readonly roles: number;
  /** What the key itself reveals when it is text rather than a name (`{"123-45-6789": true}`). */
  readonly found: number;
}

const HAS_DIGIT = /\d/;
const MAX_KEY_CACHE = 10_000;

/** The classification for each set of found categories, built once so `classify` allocates no result. */
const RESULTS: readonly Classification[] = Array.from({ length: 1 << CATEGORIES.length }, (_, mask) => {
  const categories = CATEGORIES.filter((c) => mask & FOUND[c]).sort();
  const level = categories.reduce((max, c) => Math.max(max, CATEGORY_LEVEL[c]), 0);
  return Object.freeze({ level, categories: Object.freeze(categories) });
});

/**
 * Gives a record's payload a level on the DSS scale (0-4) and the categories that set it.
 *
 * @example
 * const classifier = new Classifier(await loadClassifierLists());
 * classifier.classify({ app: 'WhatsApp', text: 'see you at 6' }); // { level: 4, categories: ['private_conversation'] }
 */
export class Classifier {
  private readonly vocabulary: Vocabulary;
  private readonly context: ContextMatcher;
  private readonly credentials = new CredentialDetector();
  private readonly digits = new DigitScanner(validPhone);
  private readonly personalEmailDomains: ReadonlySet<string>;
  private readonly keys = new Map<string, KeyInfo>();
  private readonly spans = new WordSpans();
  private readonly stackValues: unknown[] = [];
  private readonly stackKeys: string[] = [];
  private readonly stackSignals: number[] = [];
  private readonly noKey: KeyInfo = { signals: 0, roles: 0, found: 0 };
  /** Signals of every text of the record being classified: a window title is context for the text typed in it. */
  private recordSignals = 0;

  constructor(lists: ClassifierLists) {
    this.vocabulary = new Vocabulary(lists);
    this.context = new ContextMatcher(lists);
    this.personalEmailDomains = new Set(lists.contactData.personalEmailDomains.map((d) => d.toLowerCase()));
  }

  /**
   * Reads every string (and integer) leaf of a JSON payload with its key as context, and the
   * context fields (`app`, `window_title`, `url`/`domain`) at any depth. Synchronous and
   * allocation-light: it runs on the ingest hot path for every record. The payload is walked with
   * an explicit stack, so nesting depth is bounded only by memory.
   */
  classify(payload: unknown): Classification {
    const values = this.stackValues;
    const keys = this.stackKeys;
    const inherited = this.stackSignals;
    let found = 0;
    this.digits.resetRecord();
    this.recordSignals = 0;
    values[0] = payload;
    keys[0] = '';
    inherited[0] = 0;
    let top = 1;
    while (top > 0) {
      top--;
      const value = values[top];
      const key = keys[top]!;
      const outer = inherited[top]!;
      values[top] = undefined;
      if (typeof value === 'string') {
        found |= this.leaf(value, key, outer, found);
      } else if (typeof value === 'number') {
        if (Number.isSafeInteger(value) && (value >= 1000 || value <= -1000)) found |= this.leaf(String(value), key, outer, found);
      } else if (Array.isArray(value)) {
        for (let i = value.length - 1; i >= 0; i--) {
          values[top] = value[i];
          keys[top] = key;
          inherited[top] = outer;
          top++;
        }
      } else if (typeof value === 'object' && value !== null) {
        const here = key === '' ? outer : outer | this.keyInfo(key).signals;
        for (const k in value) {
          if (!Object.prototype.hasOwnProperty.call(value, k)) continue;
          found |= this.keyInfo(k).found;
          values[top] = (value as Record<string, unknown>)[k];
          keys[top] = k;
          inherited[top] = here;
          top++;
        }
      }
    }
    if (this.digits.routingWithAccount) found |= FOUND.bank_account;
    // "Schedule C net profit" typed in a window titled "taxes_2025.xlsx": the form is in one field, its context in another.
    found |= this.wordFindings(this.recordSignals);
    return RESULTS[found]!;
  }

  private keyInfo(key: string): KeyInfo {
    if (key === '') return this.noKey;
    let info = this.keys.get(key);
    if (info !== undefined) return info;
    const name = key.toLowerCase().replace(/[^a-z0-9]/g, '');
    const roles =
      (APP_KEYS.has(name) ? ROLE.app : 0) |
      (TITLE_KEYS.has(name) ? ROLE.title : 0) |
      (URL_KEYS.has(name) || name.endsWith('url') ? ROLE.url : 0) |
      (SECRET_KEY_HINT.test(key) ? ROLE.secretName : 0);
    const normalized = normalizeText(key);
    const signals = this.wordSignals(normalized);
    const plain = PLAIN_KEY.test(key);
    info = { signals, roles, found: plain ? this.wordFindings(signals) : this.text(normalized, 0, 0, true) };
    // Only names are kept: a key that is data (an SSN used as a key) is not held beyond this record.
    if (!plain) return info;
    if (this.keys.size >= MAX_KEY_CACHE) this.keys.clear();
    this.keys.set(key, info);
    return info;
  }

  private leaf(raw: string, key: string, outer: number, already: number): number {
    if (raw.length === 0) return 0;
    const info = this.keyInfo(key);
    // ASCII is its own NFKC form: one test decides it for normalising and for word folding.
    const ascii = isAscii(raw);
    const text = ascii ? raw : normalizeText(raw);
    let found = 0;
    if (info.roles !== 0) {
      if (info.roles & ROLE.app) found |= this.context.app(text);
      if (info.roles & ROLE.title) found |= this.context.title(text);
      if (info.roles & ROLE.url) found |= this.context.url(text);
      if (info.roles & ROLE.secretName && this.credentials.inField(key, text)) found |= FOUND.credential;
    }
    // A URL's path words ("/hmrc-internal-manuals") are not what the person wrote; its domain decides.
    return found | this.text(text, outer | info.signals, already | found, (info.roles & ROLE.url) === 0, ascii);
  }

  /** Signals of the words of normalised text; camelCase words are read both split and whole ("TurboTax"). */
  private wordSignals(text: string, ascii = false): number {
    const folded = foldForWords(text, ascii);
    let signals = this.vocabulary.signalsOfSpans(folded, this.spans, scanWordSpans(folded, this.spans));
    if (hasCamelCase(text)) signals |= this.vocabulary.signalsOfSpans(folded, this.spans, scanWordSpans(folded, this.spans, text));
    return signals;
  }

  private wordFindings(signals: number): number {
    let found = 0;
    if (signals & SIGNAL.healthTerm) found |= FOUND.health;
    if (signals & SIGNAL.taxTerm || (signals & SIGNAL.taxForm && signals & SIGNAL.taxContext)) found |= FOUND.tax;
    return found;
  }

  /** Categories found in normalised text, given the signals of the keys above it. */
  private text(text: string, context: number, already: number, readWords: boolean, ascii = false): number {
    const signals = (readWords ? this.wordSignals(text, ascii) : 0) | context;
    this.recordSignals |= signals;
    let found = this.wordFindings(signals);
    if (HAS_DIGIT.test(text)) {
      const masked = withoutIbans(text);
      if (masked !== undefined) found |= FOUND.bank_account;
      const rest = masked ?? text;
      found |= this.digits.scan(rest, signals, (already | found));
      if (!((already | found) & FOUND.health)) {
        if ((signals & SIGNAL.healthContext && icd10CodeIn(rest)) || (signals & SIGNAL.dosageContext && dosageIn(rest))) found |= FOUND.health;
      }
      if (!((already | found) & FOUND.government_id) && ninoIn(rest, (signals & SIGNAL.ninoContext) !== 0)) found |= FOUND.government_id;
      if (!((already | found) & FOUND.contact_data) && (signals & SIGNAL.streetSuffix || GERMAN_STREET_HINT.test(rest)) && streetAddressIn(rest)) found |= FOUND.contact_data;
    }
    if (!((already | found) & FOUND.credential) && this.credentials.inText(text)) found |= FOUND.credential;
    if (!((already | found) & FOUND.contact_data) && text.includes('@') && personalEmailIn(text, this.personalEmailDomains)) found |= FOUND.contact_data;
    if (text.includes('://')) found |= this.context.urlsIn(text);
    return found;
  }
}
