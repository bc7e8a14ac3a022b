import { consentCovers, type ContextRules, type ManifestDocument } from './manifest.js';

/** Why collection controls drop a record: nothing of it is stored. */
export type ControlDrop = 'paused' | 'opted_out' | 'program_paused' | 'not_in_manifest' | 'excluded_context' | 'not_consented';

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

const normaliseName = (s: string) => s.normalize('NFKC').trim().toLowerCase();

/** The host a payload's `url` or `domain` names, lower case and without a trailing dot. */
function hostOf(payload: Record<string, unknown>): string | undefined {
  const url = payload.url;
  if (typeof url === 'string' && url.length <= 8192) {
    try {
      return new URL(url).hostname.toLowerCase().replace(/\.$/, '') || undefined;
    } catch {
      // not a URL: maybe a bare host, read below
    }
  }
  for (const text of [payload.domain, payload.host, url]) {
    if (typeof text === 'string' && text.length <= 2048) {
      const host = text.trim().toLowerCase().replace(/^[a-z][a-z0-9+.-]*:\/\//, '').split(/[/:?#]/, 1)[0]!.replace(/\.$/, '');
      if (host) return host;
    }
  }
  return undefined;
}

const textField = (payload: Record<string, unknown>, names: readonly string[]): string | undefined => {
  for (const name of names) {
    const value = payload[name];
    if (typeof value === 'string') return value;
  }
  return undefined;
};

/** Where a record was captured, as its payload says: `app`, `url` (or `domain`, `host`), `window_title` (or `title`). */
interface CaptureContext {
  readonly app: string | undefined;
  readonly host: string | undefined;
  readonly title: string | undefined;
}

export function captureContextOf(payload: unknown): CaptureContext {
  if (typeof payload !== 'object' || payload === null || Array.isArray(payload)) return { app: undefined, host: undefined, title: undefined };
  const p = payload as Record<string, unknown>;
  const app = textField(p, ['app', 'application']);
  const title = textField(p, ['window_title', 'title']);
  return { app: app === undefined ? undefined : normaliseName(app), host: hostOf(p), title: title?.slice(0, MAX_TITLE).normalize('NFKC').toLowerCase() };
}

class CompiledContextRules {
  readonly #apps: ReadonlySet<string>;
  readonly #domains: readonly string[];
  readonly #titles: ((title: string) => boolean) | undefined;

  constructor(rules: readonly ContextRules[]) {
    this.#apps = new Set(rules.flatMap((r) => r.apps.map(normaliseName)));
    this.#domains = rules.flatMap((r) => r.domains);
    this.#titles = globsMatcher(rules.flatMap((r) => r.titles));
  }

  excludes(context: CaptureContext): boolean {
    if (context.app !== undefined && this.#apps.has(context.app)) return true;
    const host = context.host;
    if (host !== undefined) {
      for (const d of this.#domains) {
        if (d.startsWith('*.') ? host.endsWith(d.slice(1)) : host === d || host.endsWith(`.${d}`)) return true;
      }
    }
    return context.title !== undefined && this.#titles !== undefined && this.#titles(context.title);
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

  /** Why this version does not let a record be stored, or undefined when it does. */
  judge(kind: string, region: string, payload: unknown, consented: CompiledManifest | undefined): ControlDrop | undefined {
    const compiled = this.#kinds.get(kind);
    if (!compiled) return 'not_in_manifest';
    if (compiled.regions?.(region.toLowerCase())) return 'excluded_context';
    if (compiled.contexts.excludes(captureContextOf(payload))) return 'excluded_context';
    if (!this.kindsConsented(consented).has(kind)) return 'not_consented';
    return undefined;
  }
}
