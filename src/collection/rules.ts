import { consentCovers, type ContextRules, type ManifestDocument } from './manifest.js';

/** Why collection controls drop a record: nothing of it is stored. */
export type ControlDrop = 'paused' | 'opted_out' | 'program_paused' | 'not_in_manifest' | 'excluded_context' | 'not_consented' | 'expired';

/** The longest window title the rules look at: titles are short, and a matcher's work grows with the text. */
const MAX_TITLE = 1024;

/**
 * Whether `text` matches `glob`, where `*` matches any run of characters and everything else
 * matches itself. Greedy with one backtrack point (the last `*`), so at most
 * O(|glob| x |text|) steps whatever the pattern: a regular expression of many `*` against a long
 * title backtracks exponentially.
 */
export function globMatches(glob: string, text: string): boolean {
  let [g, t, star, resume] = [0, 0, -1, 0];
  while (t < text.length) {
    if (g < glob.length && glob[g] === '*') {
      star = g++;
      resume = t;
    } else if (g < glob.length && glob[g] === text[t]) {
      g++;
      t++;
    } else if (star >= 0) {
      g = star + 1;
      t = ++resume;
    } else {
      return false;
    }
  }
  while (g < glob.length && glob[g] === '*') g++;
  return g === glob.length;
}

/** A set of globs matched without regard to case; undefined when there are none. */
function globsMatcher(globs: readonly string[]): ((text: string) => boolean) | undefined {
  if (globs.length === 0) return undefined;
  const lower = globs.map((g) => g.toLowerCase());
  return (text) => lower.some((g) => globMatches(g, text));
}

/** Characters that render as nothing (zero-width spaces and joiners, bidi marks): stripped before matching. */
const INVISIBLE = /[\p{Cf}]/gu;
/** How much of a URL or host field is read: a host sits at its start, and a padded URL must not hide it. */
const MAX_LOCATION = 2048;

const normalise = (s: string) => s.slice(0, MAX_TITLE).normalize('NFKC').replace(INVISIBLE, '').toLowerCase();

/** An app name as words: `net.whatsapp.WhatsApp` is net, whatsapp, whatsapp; `H&R Block` is h, r, block. */
const wordsOf = (name: string): readonly string[] => normalise(name).split(/[^\p{L}\p{N}]+/u).filter(Boolean);

/** The host a URL-like text names, lower case and without a trailing dot; wrapped URLs (`blob:`, `view-source:`) are unwrapped. */
function hostOfLocation(text: string): string | undefined {
  let location = text.slice(0, MAX_LOCATION).normalize('NFKC').replace(INVISIBLE, '').trim();
  for (let unwrap = 0; unwrap < 3; unwrap++) {
    const inner = /^(?:blob|view-source):(.*)$/is.exec(location);
    if (!inner) break;
    location = inner[1]!.trim();
  }
  try {
    const host = new URL(location.startsWith('//') ? `https:${location}` : location).hostname;
    if (host) return host.toLowerCase().replace(/\.$/, '');
  } catch {
    // not a URL: a bare host, read below
  }
  const host = location.toLowerCase().replace(/^[a-z][a-z0-9+.-]*:\/\//, '').replace(/^\/\//, '').split(/[/:?#\s]/, 1)[0]!.replace(/\.$/, '');
  return host || undefined;
}

/** Where a record was captured, as its payload says. Every field an agent may use is read. */
export interface CaptureContext {
  /** Each app name given (`app`, `application`), as words. */
  readonly apps: readonly (readonly string[])[];
  /** Each host given (`url`, `domain`, `host`). */
  readonly hosts: readonly string[];
  /** Each window title given (`window_title`, `title`), normalised, at most 1,024 characters. */
  readonly titles: readonly string[];
  /** A context field that is present but not text (or a list of texts): it cannot be checked. */
  readonly unreadable: boolean;
}

const NO_CONTEXT: CaptureContext = { apps: [], hosts: [], titles: [], unreadable: false };
const UNREADABLE: CaptureContext = { apps: [], hosts: [], titles: [], unreadable: true };

const APP_FIELDS = ['app', 'application'];
const HOST_FIELDS = ['url', 'domain', 'host'];
const TITLE_FIELDS = ['window_title', 'title'];

/** The texts of `names` in `p` (a text or a list of up to 16), read through `read`; false when one is present but not text. */
function readFields<T>(p: Record<string, unknown>, names: readonly string[], read: (text: string) => T, found: T[]): boolean {
  for (const name of names) {
    const value = p[name];
    if (value === undefined || value === null) continue;
    if (typeof value === 'string') found.push(read(value));
    else if (Array.isArray(value) && value.length <= 16 && value.every((v) => typeof v === 'string')) for (const v of value as string[]) found.push(read(v));
    else return false;
  }
  return true;
}

/** `read`, answering a text met before from `seen`: the answers are shared, so they are read only. */
function remembered<T>(seen: Map<string, T>, read: (text: string) => T): (text: string) => T {
  return (text) => {
    let answer = seen.get(text);
    if (answer === undefined && !seen.has(text)) {
      answer = read(text);
      seen.set(text, answer);
    }
    return answer as T;
  };
}

/**
 * Reads the capture contexts of one batch. Agents send the same app names, hosts and titles over
 * and over, and normalising each anew was a quarter of ingest's allocations, so a text met again
 * in the batch is read once. What it remembers is payload text (titles of excluded windows too),
 * so a reader lives only as long as its batch: it is never kept across batches or employees.
 */
export class ContextReader {
  readonly #apps = remembered(new Map<string, readonly string[]>(), wordsOf);
  readonly #hosts = remembered(new Map<string, string | undefined>(), hostOfLocation);
  readonly #titles = remembered(new Map<string, string>(), normalise);

  read(payload: unknown): CaptureContext {
    if (typeof payload !== 'object' || payload === null || Array.isArray(payload)) return NO_CONTEXT;
    const p = payload as Record<string, unknown>;
    const apps: Array<readonly string[]> = [];
    const hosts: Array<string | undefined> = [];
    const titles: string[] = [];
    const readable = readFields(p, APP_FIELDS, this.#apps, apps) && readFields(p, HOST_FIELDS, this.#hosts, hosts) && readFields(p, TITLE_FIELDS, this.#titles, titles);
    if (!readable) return UNREADABLE;
    if (apps.length === 0 && hosts.length === 0 && titles.length === 0) return NO_CONTEXT;
    return { apps, hosts: hosts.filter((h): h is string => h !== undefined), titles, unreadable: false };
  }
}

/** One payload's capture context, read on its own. */
export function captureContextOf(payload: unknown): CaptureContext {
  return new ContextReader().read(payload);
}

/** Whether `words` holds `rule` from `at` on (its first word is known to match). */
function wordsAt(words: readonly string[], at: number, rule: readonly string[]): boolean {
  if (at + rule.length > words.length) return false;
  for (let k = 1; k < rule.length; k++) if (words[at + k] !== rule[k]) return false;
  return true;
}

class CompiledContextRules {
  /** App rules (runs of whole words) by their first word: `whatsapp` in `whatsapp beta`, not in `notwhatsapp`. */
  readonly #appsByFirstWord = new Map<string, Array<readonly string[]>>();
  /** Hosts a domain rule names exactly (`irs.gov`), and suffixes its subdomains end with (`.irs.gov`). */
  readonly #exactHosts = new Set<string>();
  readonly #hostSuffixes: readonly string[];
  readonly #titles: ((title: string) => boolean) | undefined;

  constructor(rules: readonly ContextRules[]) {
    for (const words of rules.flatMap((r) => r.apps.map(wordsOf))) {
      if (words.length === 0) continue;
      const same = this.#appsByFirstWord.get(words[0]!);
      if (same) same.push(words);
      else this.#appsByFirstWord.set(words[0]!, [words]);
    }
    const suffixes: string[] = [];
    for (const d of rules.flatMap((r) => r.domains)) {
      if (d.startsWith('*.')) suffixes.push(d.slice(1));
      else {
        this.#exactHosts.add(d);
        suffixes.push(`.${d}`);
      }
    }
    this.#hostSuffixes = suffixes;
    this.#titles = globsMatcher(rules.flatMap((r) => r.titles));
  }

  excludes(context: CaptureContext): boolean {
    if (context.unreadable) return true;
    for (const words of context.apps) {
      for (let i = 0; i < words.length; i++) {
        const rules = this.#appsByFirstWord.get(words[i]!);
        if (rules) for (const rule of rules) if (wordsAt(words, i, rule)) return true;
      }
    }
    for (const host of context.hosts) {
      if (this.#exactHosts.has(host)) return true;
      for (const suffix of this.#hostSuffixes) if (host.endsWith(suffix)) return true;
    }
    if (this.#titles) for (const title of context.titles) if (this.#titles(title)) return true;
    return false;
  }
}

interface CompiledKind {
  readonly contexts: CompiledContextRules;
  readonly regions: ((region: string) => boolean) | undefined;
}

/** A manifest version made ready for the ingest path: per kind, its exclusions compiled once. */
export class CompiledManifest {
  readonly version: number;
  readonly document: ManifestDocument;
  readonly #kinds = new Map<string, CompiledKind>();
  /** Per consented version, the kinds its consent covers under this one. */
  readonly #covered = new Map<number, ReadonlySet<string>>();

  constructor(version: number, document: ManifestDocument) {
    this.version = version;
    this.document = document;
    for (const [kind, terms] of Object.entries(document.kinds)) {
      this.#kinds.set(kind, {
        contexts: new CompiledContextRules([document.excluded_contexts, terms.excluded_contexts]),
        regions: globsMatcher(terms.excluded_regions),
      });
    }
  }

  /** The kinds an employee who consented to `consented` may be collected from under this version. */
  kindsConsented(consented: CompiledManifest | undefined): ReadonlySet<string> {
    if (!consented) return new Set();
    let kinds = this.#covered.get(consented.version);
    if (!kinds) {
      kinds = new Set(Object.keys(this.document.kinds).filter((k) => consentCovers(consented.document, this.document, k)));
      this.#covered.set(consented.version, kinds);
    }
    return kinds;
  }

  /** Whether this version lets `kind` be collected from an employee in `region`. */
  collectsFromRegion(kind: string, region: string): boolean {
    const compiled = this.#kinds.get(kind);
    return compiled !== undefined && !(compiled.regions?.(region.toLowerCase()) ?? false);
  }

  /** Why this version does not let a record be stored, or undefined when it does; `contexts` is the batch's reader. */
  judge(kind: string, region: string, payload: unknown, consented: CompiledManifest | undefined, contexts: ContextReader): ControlDrop | undefined {
    const compiled = this.#kinds.get(kind);
    if (!compiled) return 'not_in_manifest';
    if (compiled.regions?.(region.toLowerCase())) return 'excluded_context';
    if (compiled.contexts.excludes(contexts.read(payload))) return 'excluded_context';
    if (!this.kindsConsented(consented).has(kind)) return 'not_consented';
    return undefined;
  }
}
