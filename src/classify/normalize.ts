const NON_ASCII = /[^\x00-\x7f]/;

// After NFKC (which already folds full-width forms, most spaces and the one-dot leader), what is left
// of the separators an attacker can swap in: every dash, space, dot and low line, folded to ASCII.
const SEPARATORS: ReadonlyArray<readonly [string, string]> = [
  ['\u058a\u05be\u1400\u1806\u2010\u2011\u2012\u2013\u2014\u2015\u2043\u2212\u2796\u2e17\u2e1a\u2e3a\u2e3b\u2e40\u301c\u3030\ufe31\ufe32\ufe58\ufe63\uff0d', '-'],
  ['\u00a0\u1680\u2000\u2001\u2002\u2003\u2004\u2005\u2006\u2007\u2008\u2009\u200a\u2028\u2029\u202f\u205f\u3000', ' '],
  ['\u00b7\u0387\u2022\u2024\u2027\u2219\u22c5\u30fb\u3002\uff0e\uff61\uff65', '.'],
  ['\u2017\ufe4d\ufe4e\ufe4f\uff3f', '_'],
];
const FOLDED = new Map(SEPARATORS.flatMap(([chars, to]) => [...chars].map((c) => [c, to] as const)));
// Invisible format characters split a number without showing; they are removed.
const INVISIBLE = '\\u00ad\\u034f\\u061c\\u115f\\u1160\\u17b4\\u17b5\\u180b-\\u180e\\u200b-\\u200f\\u202a-\\u202e\\u2060-\\u2064\\u2066-\\u206f\\ufe00-\\ufe0f\\ufeff';
const FOLD = new RegExp(`[${INVISIBLE}${SEPARATORS.map(([chars]) => chars).join('')}]|(?![0-9])\\p{Nd}`, 'gu');

const DECIMAL_DIGIT = /^\p{Nd}$/u;

/** Unicode guarantees decimal digits come in runs of ten from 0 to 9, so a digit's value is its offset in its run. */
function digitValue(char: string): string {
  const cp = char.codePointAt(0)!;
  let offset = 0;
  while (offset < 9 && DECIMAL_DIGIT.test(String.fromCodePoint(cp - offset - 1))) offset++;
  return String(offset);
}

function fold(char: string): string {
  const to = FOLDED.get(char);
  if (to !== undefined) return to;
  return DECIMAL_DIGIT.test(char) ? digitValue(char) : '';
}

/**
 * The text the detectors read: NFKC (full-width digits and letters become ASCII), invisible format
 * characters removed, every dash, space, dot and low line folded to its ASCII form, decimal digits
 * of any script to 0-9. ASCII text is returned as is, without allocating.
 */
export function normalizeText(text: string): string {
  if (isAscii(text)) return text;
  return text.normalize('NFKC').replace(FOLD, fold);
}

const MARKS = /\p{M}/gu;

/** Whether `text` is all ASCII: {@link normalizeText} leaves it as it is. */
export function isAscii(text: string): boolean {
  return !NON_ASCII.test(text);
}

/**
 * Lower case without diacritics, for word matching: "Steuererklärung" and "steuererklarung" are one
 * word. `ascii` says the caller already knows the text is ASCII.
 */
export function foldForWords(normalized: string, ascii = false): string {
  const lower = normalized.toLowerCase();
  return !ascii && NON_ASCII.test(lower) ? lower.normalize('NFKD').replace(MARKS, '') : lower;
}

function isWordChar(c: number): boolean {
  if (c < 0x80) return (c >= 97 && c <= 122) || (c >= 48 && c <= 57);
  return c >= 0xc0 && c !== 0xd7 && c !== 0xf7 && !(c >= 0x2000 && c <= 0x2bff) && !(c >= 0x3000 && c <= 0x303f) && !(c >= 0xd800 && c <= 0xdfff) && !(c >= 0xfe30 && c <= 0xfe4f) && !(c >= 0xff00 && c <= 0xff0f);
}

const isDigit = (c: number) => c >= 48 && c <= 57;

/**
 * Where the words of a text sit, filled by {@link scanWordSpans} and reused from text to text, so
 * reading a text's words allocates nothing but the few words looked up: a word's string is made
 * only when asked for.
 */
export class WordSpans {
  private readonly starts: number[] = [];
  private readonly ends: number[] = [];
  private readonly hashes: number[] = [];
  /** The word, for the few that are not one slice of the text ("doctor's" is "doctors"). */
  private readonly joined: (string | undefined)[] = [];

  set(index: number, start: number, end: number, hash: number, joined: string | undefined): void {
    this.starts[index] = start;
    this.ends[index] = end;
    this.hashes[index] = hash;
    this.joined[index] = joined;
  }

  /** {@link wordHash} of word `index`. */
  hash(index: number): number {
    return this.hashes[index]!;
  }

  word(text: string, index: number): string {
    return this.joined[index] ?? text.slice(this.starts[index], this.ends[index]);
  }

  /** Whether word `index` of `text` is `word`, without making its string. */
  is(text: string, index: number, word: string): boolean {
    const joined = this.joined[index];
    if (joined !== undefined) return joined === word;
    const start = this.starts[index]!;
    return this.ends[index]! - start === word.length && text.startsWith(word, start);
  }
}

// Kept to 30 bits, a small integer, so storing it allocates nothing.
const addToHash = (hash: number, c: number) => (Math.imul(hash, 31) + c) & 0x3fffffff;

/** The hash {@link WordSpans} keeps of each word. */
export function wordHash(word: string): number {
  let hash = 0;
  for (let i = 0; i < word.length; i++) hash = addToHash(hash, word.charCodeAt(i));
  return hash;
}

/**
 * Splits folded text into words: runs of letters or runs of digits ("w2" is "w", "2"), an apostrophe
 * inside a word is dropped ("doctor's" is "doctors"). With `cased`, the text before folding (same
 * length), words also split where lower case turns upper ("applicantSSN" is "applicant", "ssn").
 * A long token that switches between letters and digits again and again (a key, a hash, a line of
 * base64) holds no words: "…8hpvF5…" inside a token is not the word "hpv".
 * Fills `out` and returns the count, so the hot path reuses one set of spans.
 */
export function scanWordSpans(folded: string, out: WordSpans, cased?: string): number {
  let count = 0;
  let start = -1;
  let digits = false;
  let pending = '';
  let hash = 0;
  let tokenStart = -1;
  let tokenCount = 0;
  let switches = 0;
  const n = folded.length;
  const camel = cased !== undefined && cased.length === n;
  for (let i = 0; i <= n; i++) {
    const c = i < n ? folded.charCodeAt(i) : 32;
    if (isWordChar(c)) {
      const d = isDigit(c);
      if (tokenStart < 0) {
        tokenStart = i;
        tokenCount = count;
        switches = 0;
      }
      if (start < 0) {
        start = i;
        digits = d;
        hash = 0;
      } else if (d !== digits || (camel && isUpper(cased.charCodeAt(i)) && isLower(cased.charCodeAt(i - 1)))) {
        if (d !== digits) switches++;
        out.set(count++, start, i, hash, pending === '' ? undefined : pending + folded.slice(start, i));
        pending = '';
        start = i;
        digits = d;
        hash = 0;
      }
      hash = addToHash(hash, c);
      continue;
    }
    if (start >= 0 && (c === 39 || c === 0x2019) && !digits && i + 1 < n && isWordChar(folded.charCodeAt(i + 1)) && !isDigit(folded.charCodeAt(i + 1))) {
      pending += folded.slice(start, i);
      start = i + 1;
      continue;
    }
    if (start >= 0) {
      out.set(count++, start, i, hash, pending === '' ? undefined : pending + folded.slice(start, i));
      pending = '';
      start = -1;
    }
    if (tokenStart >= 0 && !isTokenJoiner(c)) {
      if (i - tokenStart >= RANDOM_TOKEN_LENGTH && switches >= RANDOM_TOKEN_SWITCHES) count = tokenCount;
      tokenStart = -1;
    }
  }
  return count;
}

const listSpans = new WordSpans();

/** {@link scanWordSpans}, each word as a string: for list entries, read once at start. */
export function scanWords(folded: string, out: string[], cased?: string): number {
  const count = scanWordSpans(folded, listSpans, cased);
  for (let i = 0; i < count; i++) out[i] = listSpans.word(folded, i);
  return count;
}

// Base64 and token alphabets join a token's parts: + / = _ -.
const isTokenJoiner = (c: number) => c === 43 || c === 47 || c === 61 || c === 95 || c === 45;
// Random base62 switches between letters and digits about every fourth character; words glued to a
// number ("w2", "ssn123456789", "taxes_2025") switch once or twice.
const RANDOM_TOKEN_LENGTH = 20;
const RANDOM_TOKEN_SWITCHES = 4;

const isUpper = (c: number) => c >= 65 && c <= 90;
const isLower = (c: number) => c >= 97 && c <= 122;
const CAMEL = /[a-z][A-Z]/;

/** Whether `scanWords` with the cased text splits words the folded text keeps whole. */
export function hasCamelCase(text: string): boolean {
  return CAMEL.test(text);
}

/** The words of a list entry, the same way text is split. */
export function tokenize(phrase: string): string[] {
  const out: string[] = [];
  const count = scanWords(foldForWords(normalizeText(phrase)), out);
  out.length = count;
  return out;
}
