import { rules as recommendedRules } from '@secretlint/secretlint-rule-preset-recommend';

/** The slice of a secretlint rule module this classifier drives (`@secretlint/types` SecretLintRuleCreator). */
interface SecretlintRule {
  readonly meta: { readonly id: string };
  create(context: object, options: Record<string, unknown>): { file?: (source: object) => unknown };
}

/**
 * Every rule of `@secretlint/secretlint-rule-preset-recommend`, with a cheap trigger: a regular
 * expression that matches wherever the rule could report (a superset of the rule's own patterns),
 * or the reason the rule is not run. A text that matches no trigger skips secretlint entirely.
 * A preset upgrade that brings a rule not listed here runs it on every text, and fails the detector
 * tests until it is listed.
 */
export const SECRETLINT_RULES: Readonly<Record<string, { readonly trigger: RegExp } | { readonly skipped: string }>> = {
  '@secretlint/secretlint-rule-aws': { trigger: /A3T[A-Z0-9]|AKIA|AGPA|AIDA|AROA|AIPA|ANPA|ANVA|ASIA|secret_?access_?key/i },
  '@secretlint/secretlint-rule-gcp': { skipped: 'reads only .json and .p12 files by path; a service-account key in a payload is caught by its private_key field' },
  '@secretlint/secretlint-rule-privatekey': { trigger: /PRIVATE KEY/ },
  '@secretlint/secretlint-rule-npm': { trigger: /_authToken=|npm_|x-oauth-basic/ },
  '@secretlint/secretlint-rule-basicauth': { trigger: /:\/\/[^\s/@]*:[^\s/@]*@/ },
  '@secretlint/secretlint-rule-slack': { trigger: /xox[bpaor]-|xapp-|hooks\.slack\.com/i },
  '@secretlint/secretlint-rule-sendgrid': { trigger: /SG\./ },
  '@secretlint/secretlint-rule-shopify': { trigger: /shp(?:pa|ca|at|ss)_/ },
  '@secretlint/secretlint-rule-github': { trigger: /gh[pousr]_|github_pat_/ },
  '@secretlint/secretlint-rule-gitlab': { trigger: /glpat-/ },
  '@secretlint/secretlint-rule-grafana': { trigger: /glc_|glsa_/ },
  '@secretlint/secretlint-rule-openai': { trigger: /T3BlbkFJ/ },
  '@secretlint/secretlint-rule-anthropic': { trigger: /sk-ant-/ },
  '@secretlint/secretlint-rule-groq': { trigger: /gsk_/ },
  '@secretlint/secretlint-rule-huggingface': { trigger: /hf_/ },
  '@secretlint/secretlint-rule-linear': { trigger: /lin_api_/ },
  '@secretlint/secretlint-rule-notion': { trigger: /ntn_/ },
  '@secretlint/secretlint-rule-1password': { trigger: /ops_ey/ },
  '@secretlint/secretlint-rule-database-connection-string': { trigger: /:\/\/[^\s/@]*:[^\s/@]*@/ },
  '@secretlint/secretlint-rule-hashicorp-vault': { trigger: /hv[sbr]\./ },
  '@secretlint/secretlint-rule-vercel': { trigger: /vc[pciark]_/ },
  '@secretlint/secretlint-rule-databricks': { trigger: /dapi/ },
  '@secretlint/secretlint-rule-docker': { trigger: /dckr_pat_/ },
  '@secretlint/secretlint-rule-figma': { trigger: /figd_/ },
  '@secretlint/secretlint-rule-filter-comments': { skipped: 'a secretlint-disable comment in a payload must not switch detection off' },
};

const ANY_TEXT = /[\s\S]/;

// The top-level alternatives of a regular expression's source.
function alternatives(source: string): string[] {
  const out: string[] = [];
  let depth = 0;
  let inClass = false;
  let current = '';
  for (let i = 0; i < source.length; i++) {
    const c = source[i]!;
    if (c === '\\') {
      current += c + (source[++i] ?? '');
      continue;
    }
    if (inClass) {
      if (c === ']') inClass = false;
    } else if (c === '[') inClass = true;
    else if (c === '(') depth++;
    else if (c === ')') depth--;
    else if (c === '|' && depth === 0) {
      out.push(current);
      current = '';
      continue;
    }
    current += c;
  }
  out.push(current);
  return out;
}

const LITERAL = /[A-Za-z0-9 _\-=:'"#%&,;<>@`~]/;
const ESCAPED_LITERAL = /[./\-+*?()[\]{}|^$\\:@#&=~]/;

// The lower-case ASCII characters each of the first three characters of a match of `branch` (case
// insensitive) can be, or undefined when its start is not three plain characters or classes: a
// branch that starts with a group, an optional character or a class shortcut has no such prefix.
function leadingCharacters(branch: string): string[][] | undefined {
  let i = branch.startsWith('\\b') ? 2 : 0;
  const sets: string[][] = [];
  while (sets.length < 3) {
    const c = branch[i];
    if (c === undefined) return undefined;
    let set: string[];
    if (c === '\\') {
      const e = branch[i + 1] ?? '';
      if (!ESCAPED_LITERAL.test(e)) return undefined;
      set = [e];
      i += 2;
    } else if (c === '[') {
      const end = branch.indexOf(']', i);
      const body = branch.slice(i + 1, end);
      if (end < 0 || body.startsWith('^') || body.includes('\\')) return undefined;
      set = [];
      for (let k = 0; k < body.length; k++) {
        if (body[k + 1] === '-' && k + 2 < body.length) {
          for (let code = body.charCodeAt(k); code <= body.charCodeAt(k + 2); code++) set.push(String.fromCharCode(code));
          k += 2;
        } else set.push(body[k]!);
      }
      i = end + 1;
    } else if (LITERAL.test(c)) {
      set = [c];
      i++;
    } else return undefined;
    if (/^[?*+{]/.test(branch.slice(i))) return undefined;
    sets.push([...new Set(set.map((x) => x.toLowerCase()))]);
  }
  return sets;
}

const TRIGRAM_BITS = 21;

// Which three-character starts (lower-cased ASCII) a match of any of `sources` (case insensitive)
// can have, as a bitset over the 7-bit character codes, or undefined when some alternative's start
// cannot be told: then every text is tried with the whole expression. Without the u flag a case-
// insensitive ASCII pattern character matches no non-ASCII one, so a match's first three are ASCII.
function trigramStarts(sources: readonly string[]): Uint8Array | undefined {
  const bits = new Uint8Array(1 << (TRIGRAM_BITS - 3));
  for (const branch of sources.flatMap(alternatives)) {
    const sets = leadingCharacters(branch);
    if (sets === undefined || sets.length > 3) return undefined;
    for (const a of sets[0]!) for (const b of sets[1]!) for (const c of sets[2]!) {
      const codes = [a, b, c].map((x) => x.charCodeAt(0));
      if (codes.some((x) => x >= 128)) return undefined;
      const key = (codes[0]! << 14) | (codes[1]! << 7) | codes[2]!;
      bits[key >> 3]! |= 1 << (key & 7);
    }
  }
  return bits;
}

const lowerAscii = (c: number) => (c >= 65 && c <= 90 ? c + 32 : c);

/** Rule options: the AWS rule finds access key ids only when asked. */
const RULE_OPTIONS: Readonly<Record<string, Record<string, unknown>>> = {
  '@secretlint/secretlint-rule-aws': { enableIDScanRule: true },
};

/** An AWS account id is an identifier, not a secret. */
const IGNORED_MESSAGES = new Set(['AWSAccountID']);

// Beyond the preset: tokens and assignments it does not cover, or covers only in files.
// Anchored at a token start so a long run of base64 is tried once, not from every "eyJ" inside it.
const JWT = /(?<![A-Za-z0-9_-])eyJ[A-Za-z0-9_-]{10,}\.eyJ[A-Za-z0-9_-]{10,}\.[A-Za-z0-9_-]*/;
// Stripe secret, restricted and webhook-signing keys, Google API keys, SendGrid keys whose parts
// hold a dash (the preset's SendGrid rule reads only \w), and OpenAI keys ending in "-" or "_"
// (the preset's rule wants a word boundary after the key).
const VENDOR_KEY =
  /(?<![A-Za-z0-9])(?:(?:sk|rk)_(?:live|test)_[0-9A-Za-z]{20,}|whsec_[0-9A-Za-z+/=]{24,}|AIza[0-9A-Za-z_-]{35}|SG\.[A-Za-z0-9_-]{22}\.[A-Za-z0-9_-]{43}|sk-(?:[a-z]+-)?[A-Za-z0-9_-]{20,}T3BlbkFJ[A-Za-z0-9_-]{20,})(?![A-Za-z0-9_-])/;
const PEM_PRIVATE_KEY = /-----BEGIN (?:[A-Z0-9]+ )*PRIVATE KEY(?: BLOCK)?-----(?:\s|\\[nr])*[A-Za-z0-9+/=]{16}|PuTTY-User-Key-File-\d/;
const URL_WITH_PASSWORD = /[A-Za-z][A-Za-z0-9+.-]{1,30}:\/\/[^\s:/@]{0,128}:([^\s@/]{1,256})@[^\s/@]/g;
// Names may carry a prefix (`PGPASSWORD`, `spring.datasource.password`, `STRIPE_SECRET_KEY`); the
// value stays on the name's line.
const ASSIGNMENT =
  /(?:password|passwd|passwort|passphrase|pwd|secret|client_?secret|secret_?key|secret_?access_?key|account_?key|shared_?access_?key|api_?key|apikey|access_?token|auth_?token|private_?key)["']?[ \t]*(?::=|=>|=|:)[ \t]*(["'`]?)([^\s"'`,;]{1,256})/gi;
const PHRASE = /(?:^|[^A-Za-z0-9])(?:password|passcode|passwort|pwd|pin)[ \t]+(?:is|was|=|ist)[ \t]*:?[ \t]+(["']?)([^\s"',;]{1,256})/gi;
const AUTHORIZATION = /authorization["']?\s*[:=]\s*["']?(?:bearer|basic|token|digest)\s+[A-Za-z0-9._~+/-]{12,}|bearer\s+[A-Za-z0-9._~+/-]{20,}/i;
const SECRET_KEY_NAME = /(?:password|passwd|passwort|passphrase|secret|secretkey|secret_key|apikey|api_key|accesstoken|access_token|authtoken|auth_token|refreshtoken|refresh_token|bearertoken|bearer_token|privatekey|private_key|credential|credentials)$/;

const TRIGGER_OWN = /eyJ|PRIVATE KEY|PuTTY|_live_|_test_|whsec_|AIza|SG\.|:\/\/|pass|pwd|secret|api_?key|account_?key|access_?key|token|private_?key|authorization|bearer|\bpin\b/i;

const PLACEHOLDER = /^(?:\$\{.*\}|\{\{.*\}\}|\{.*\}|<.*>|\[.*\]|%\w+%|\$\w+|\$\(.*\)|\*+|x{3,}|\.{3,}|…|-+|_+|#+|\?+|your[_-].*|changeme|redacted)$/i;
// An environment variable's name (`SLACK_BOT_TOKEN`) or a path is a reference, not the secret.
// A base64 key may start with "/"; a path holds no "+" and does not end in "=" padding.
const REFERENCE = /^(?:[A-Z][A-Z0-9]*_)+[A-Z0-9]+=?$|^[~.]?\/[^+]*[^+=]$/;
const CODE_VALUE = /^(?:process\.env|os\.environ|os\.getenv|env\(|getenv|vault:|secretsmanager|ssm:|arn:|ref\(|!|\$\{\{|this\.|self\.)|[()[\]]|^[A-Za-z_$][\w$]*(?:\.[A-Za-z_$][\w$]*)+$/i;
const IDENTIFIER = /^[A-Za-z_$][A-Za-z_$]*$/;
// Documentation keys say so ("wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY"); a random key spells no such word.
const DOCUMENTED = /example|sample|dummy|placeholder|changeme/i;
const NOT_A_SECRET = new Set([
  'true', 'false', 'null', 'none', 'nil', 'undefined', 'empty', 'blank', 'required', 'optional', 'string', 'str', 'number', 'int', 'integer',
  'boolean', 'bool', 'any', 'object', 'hidden', 'masked', 'redacted', 'omitted', 'removed', 'n/a', 'na', 'todo', 'tbd', 'incorrect', 'invalid',
  'expired', 'changed', 'updated', 'reset', 'protected', 'forgotten', 'missing', 'provided', 'policy', 'strength', 'manager', 'field', 'prompt',
  'input', 'value', 'secret', 'password', 'placeholder', 'example', 'sample', 'dummy', 'test', 'must', 'should', 'the', 'enter', 'type', 'click',
]);

const HAS_DIGIT = /\d/;
const HAS_SYMBOL = /[^A-Za-z0-9]/;
const HAS_UPPER = /[A-Z]/;
const HAS_LOWER = /[a-z]/;
const LETTERS = /^[A-Za-z]+$/;
// camelCase parts: "HTTPBasicAuth" is HTTP, Basic, Auth.
const CASE_PART = /[A-Z]?[a-z]+|[A-Z]+(?![a-z])/g;
const VOWEL = /[aeiouy]/i;

/**
 * Random mixed-case letters ("knAZJMPKUAyzJEofEBtH") rather than a camelCase name ("userPassword",
 * "HTTPBasicAuth"): a name's parts are words, a random string's parts are short and often have no
 * vowel. A plain word assigned as a password is not told from a name this way.
 */
function randomLetters(value: string): boolean {
  if (value.length < 10 || !LETTERS.test(value) || !HAS_UPPER.test(value) || !HAS_LOWER.test(value)) return false;
  let parts = 0;
  let vowelless = 0;
  CASE_PART.lastIndex = 0;
  for (let m = CASE_PART.exec(value); m !== null; m = CASE_PART.exec(value)) {
    parts++;
    if (m[0].length >= 2 && !VOWEL.test(m[0])) vowelless++;
  }
  return (vowelless >= 2 && value.length <= parts * 3.5) || (vowelless >= 1 && value.length <= parts * 2.5);
}

/**
 * Whether an assigned value looks like a real secret rather than a placeholder, a reference or
 * prose. A quoted value is a literal; an unquoted one is often a variable (`password = userPassword`),
 * so it needs a digit or a symbol.
 */
function looksLikeSecret(value: string, quoted: boolean): boolean {
  if (value.length < 4 || PLACEHOLDER.test(value) || REFERENCE.test(value) || CODE_VALUE.test(value)) return false;
  if (NOT_A_SECRET.has(value.toLowerCase()) || DOCUMENTED.test(value)) return false;
  if (!quoted) return HAS_DIGIT.test(value) || HAS_SYMBOL.test(value) || randomLetters(value);
  if (value.length >= 8 || !IDENTIFIER.test(value)) return true;
  return HAS_UPPER.test(value) && HAS_LOWER.test(value);
}

function anyAssignedSecret(pattern: RegExp, text: string): boolean {
  pattern.lastIndex = 0;
  for (let m = pattern.exec(text); m !== null; m = pattern.exec(text)) {
    if (looksLikeSecret(m[2]!, m[1] !== '')) return true;
  }
  return false;
}

/**
 * Credentials in text: the secretlint recommended preset's rules, run synchronously on the text,
 * plus JWTs, private key headers, URLs with a password, `password: x`-style assignments and
 * authorization headers. Rules run only when their trigger matches.
 */
export class CredentialDetector {
  private readonly rules: { readonly id: string; readonly trigger: RegExp; readonly file: (source: object) => unknown }[] = [];
  private readonly anyTrigger: RegExp;
  /** The same expression, tried only where a trigram start says a trigger may begin. */
  private readonly triggerAt: RegExp;
  private readonly starts: Uint8Array | undefined;
  private reported = false;

  constructor() {
    const context = {
      sharedOptions: {},
      // The message carries the matched text; only whether a rule reported is kept.
      createTranslator: () => (messageId: string) => ({ message: messageId, messageId }),
      report: (descriptor: { message: { messageId: string } }) => {
        if (!IGNORED_MESSAGES.has(descriptor.message.messageId)) this.reported = true;
      },
      ignore: () => undefined,
    };
    const sources: string[] = [TRIGGER_OWN.source];
    for (const rule of recommendedRules as unknown as readonly SecretlintRule[]) {
      // A rule a preset upgrade brings runs on every text until it is given a trigger.
      const entry = SECRETLINT_RULES[rule.meta.id] ?? { trigger: ANY_TEXT };
      if ('skipped' in entry) continue;
      const file = rule.create(context, RULE_OPTIONS[rule.meta.id] ?? {}).file;
      if (file === undefined) continue;
      this.rules.push({ id: rule.meta.id, trigger: entry.trigger, file });
      sources.push(entry.trigger.source);
    }
    this.anyTrigger = new RegExp(sources.join('|'), 'i');
    this.triggerAt = new RegExp(this.anyTrigger.source, 'iy');
    this.starts = trigramStarts(sources);
  }

  /** The preset's rule ids this detector runs. */
  get ruleIds(): readonly string[] {
    return this.rules.map((r) => r.id);
  }

  /** True when `text` holds a credential. */
  inText(text: string): boolean {
    if (!this.mayTrigger(text)) return false;
    if (JWT.test(text) || PEM_PRIVATE_KEY.test(text) || VENDOR_KEY.test(text) || AUTHORIZATION.test(text)) return true;
    if (this.urlWithPassword(text) || anyAssignedSecret(ASSIGNMENT, text) || anyAssignedSecret(PHRASE, text)) return true;
    return this.secretlint(text);
  }

  /** True when a JSON key names a secret (`password`, `clientSecret`, `api_key`) and its value looks like one. */
  inField(key: string, value: string): boolean {
    return SECRET_KEY_NAME.test(key.toLowerCase()) && looksLikeSecret(value.trim(), true);
  }

  // One alternation of ~60 triggers tried at every position costs more than the rest of the
  // classifier on ordinary text; a bitset of the triggers' first three characters rules most
  // positions out with one lookup, and the expression is tried only where one could begin.
  private mayTrigger(text: string): boolean {
    const starts = this.starts;
    if (starts === undefined) return this.anyTrigger.test(text);
    const n = text.length;
    if (n < 3) return false;
    let a = lowerAscii(text.charCodeAt(0));
    let b = lowerAscii(text.charCodeAt(1));
    for (let i = 2; i < n; i++) {
      const c = lowerAscii(text.charCodeAt(i));
      if ((a | b | c) < 128) {
        const key = (a << 14) | (b << 7) | c;
        if (starts[key >> 3]! & (1 << (key & 7))) {
          this.triggerAt.lastIndex = i - 2;
          if (this.triggerAt.test(text)) return true;
        }
      }
      a = b;
      b = c;
    }
    return false;
  }

  private urlWithPassword(text: string): boolean {
    URL_WITH_PASSWORD.lastIndex = 0;
    for (let m = URL_WITH_PASSWORD.exec(text); m !== null; m = URL_WITH_PASSWORD.exec(text)) {
      if (!PLACEHOLDER.test(m[1]!) && !CODE_VALUE.test(m[1]!)) return true;
    }
    return false;
  }

  private secretlint(content: string): boolean {
    const source = { content, filePath: undefined, ext: '', contentType: 'text' };
    this.reported = false;
    for (const rule of this.rules) {
      if (!rule.trigger.test(content)) continue;
      try {
        const pending = rule.file(source);
        // No preset rule is asynchronous for text without a file path; one that becomes so is not waited for.
        if (pending instanceof Promise) pending.catch(() => undefined);
      } catch {
        // A rule that throws on this text cannot say it is clean.
        return true;
      }
      if (this.reported) return true;
    }
    return false;
  }
}
