import { consentCovers, type ContextRules, type ManifestDocument } from './manifest.js';

/** Why collection controls drop a record: nothing of it is stored. */
export type ControlDrop = 'paused' | 'opted_out' | 'program_paused' | 'not_in_manifest' | 'excluded_context' | 'not_consented';

/** `*` matches any run of characters; everything else literally, without regard to case. */
function globsToRegExp(globs: readonly string[]): RegExp | undefined {
  if (globs.length === 0) return undefined;
  const alternatives = globs.map((g) => g.toLowerCase().split('*').map((part) => part.replace(/[\\^$.|?+()[\]{}]/g, '\\$&')).join('[\\s\\S]*'));
  return new RegExp(`^(?:${alternatives.join('|')})$`);
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
  return { app: app === undefined ? undefined : normaliseName(app), host: hostOf(p), title: title?.normalize('NFKC').toLowerCase() };
}

class CompiledContextRules {
  readonly #apps: ReadonlySet<string>;
  readonly #domains: readonly string[];
  readonly #titles: RegExp | undefined;

  constructor(rules: readonly ContextRules[]) {
    this.#apps = new Set(rules.flatMap((r) => r.apps.map(normaliseName)));
    this.#domains = rules.flatMap((r) => r.domains);
    this.#titles = globsToRegExp(rules.flatMap((r) => r.titles));
  }

  excludes(context: CaptureContext): boolean {
    if (context.app !== undefined && this.#apps.has(context.app)) return true;
    const host = context.host;
    if (host !== undefined) {
      for (const d of this.#domains) {
        if (d.startsWith('*.') ? host.endsWith(d.slice(1)) : host === d || host.endsWith(`.${d}`)) return true;
      }
    }
    return context.title !== undefined && this.#titles !== undefined && this.#titles.test(context.title);
  }
}

interface CompiledKind {
  readonly contexts: CompiledContextRules;
  readonly regions: RegExp | undefined;
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
        regions: globsToRegExp(terms.excluded_regions),
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
    return compiled !== undefined && !(compiled.regions?.test(region.toLowerCase()) ?? false);
  }

  /** Why this version does not let a record be stored, or undefined when it does. */
  judge(kind: string, region: string, payload: unknown, consented: CompiledManifest | undefined): ControlDrop | undefined {
    const compiled = this.#kinds.get(kind);
    if (!compiled) return 'not_in_manifest';
    if (compiled.regions?.test(region.toLowerCase())) return 'excluded_context';
    if (compiled.contexts.excludes(captureContextOf(payload))) return 'excluded_context';
    if (!this.kindsConsented(consented).has(kind)) return 'not_consented';
    return undefined;
  }
}
