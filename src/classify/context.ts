import type { AppsAndDomains, ClassifierLists } from './lists.js';
import { FOUND } from './types.js';

interface HostEntry {
  readonly path: string;
  readonly found: number;
}

const QUALIFIER = /\s+(?:desktop|web|beta|app|for (?:windows|mac|macos|desktop|web))$/;
const COUNTER = /^\(\d+\+?\)\s*|\s*\(\d+\+?\)$/g;
const TITLE_SEPARATOR = /\s+[-|:•·]\s+|\s*\|\s*/;
const MAY_SPLIT = /[-|:•·()]/;
const SCHEME = /^[a-z][a-z0-9+.-]*:\/\//i;
// App names that are also everyday window titles: "Messages" is MyChart's inbox as often as Apple's app.
const TITLE_WORDS = new Set(['messages', 'signal', 'line', 'health', 'flo', 'clue', 'session', 'chat', 'inbox']);
const MAX_CACHED = 4096;
const MAX_CACHED_LENGTH = 256;
const URL_IN_TEXT = /https?:\/\/[^\s"'<>`]+/gi;

function appKey(value: string): string {
  let v = value.trim().toLowerCase();
  const slash = Math.max(v.lastIndexOf('/'), v.lastIndexOf('\\'));
  if (slash >= 0) v = v.slice(slash + 1);
  if (v.endsWith('.exe') || v.endsWith('.app')) v = v.slice(0, -4);
  return v.replace(/\s+/g, ' ');
}

/**
 * The record's context fields against the security team's lists: an app (name, bundle id or
 * executable), a window-title segment ("(2) WhatsApp", "MyChart - Test Results"), a URL or a domain.
 */
export class ContextMatcher {
  private readonly apps = new Map<string, number>();
  private readonly hosts = new Map<string, HostEntry[]>();
  private readonly firstLabels = new Map<string, number>();
  private readonly seenApps = new Map<string, number>();

  constructor(lists: ClassifierLists) {
    this.add(lists.privateConversation, FOUND.private_conversation);
    this.add(lists.health, FOUND.health);
    this.add(lists.tax, FOUND.tax);
  }

  private add(list: AppsAndDomains, found: number): void {
    for (const app of list.apps) this.apps.set(appKey(app), (this.apps.get(appKey(app)) ?? 0) | found);
    for (const domain of list.domains) {
      if (domain.endsWith('.*')) {
        const label = domain.slice(0, -2);
        this.firstLabels.set(label, (this.firstLabels.get(label) ?? 0) | found);
        continue;
      }
      const slash = domain.indexOf('/');
      const host = slash < 0 ? domain : domain.slice(0, slash);
      const path = slash < 0 ? '' : domain.slice(slash).toLowerCase();
      const entries = this.hosts.get(host) ?? [];
      entries.push({ path, found });
      this.hosts.set(host, entries);
    }
  }

  /** Categories an `app` field sets. */
  app(value: string): number {
    return this.cached(this.seenApps, value, () => this.appFound(value));
  }

  /** Categories a window title sets: any of its segments is a listed app. */
  title(value: string): number {
    // Neither a separator nor a counter: one segment, the title itself, read without splitting.
    if (!MAY_SPLIT.test(value)) return value.length > 0 && value.length <= 60 && !TITLE_WORDS.has(value.toLowerCase()) ? this.appFound(value) : 0;
    let found = 0;
    for (const segment of value.split(TITLE_SEPARATOR)) {
      const name = segment.replace(COUNTER, '');
      if (name.length > 0 && name.length <= 60 && !TITLE_WORDS.has(name.toLowerCase())) found |= this.appFound(name);
    }
    return found;
  }

  private appFound(value: string): number {
    const key = appKey(value);
    return this.apps.get(key) ?? this.apps.get(key.replace(QUALIFIER, '')) ?? 0;
  }

  // The same few apps come back record after record; titles are not kept, they can name people.
  private cached(seen: Map<string, number>, value: string, compute: () => number): number {
    if (value.length > MAX_CACHED_LENGTH) return compute();
    let found = seen.get(value);
    if (found === undefined) {
      found = compute();
      if (seen.size >= MAX_CACHED) seen.clear();
      seen.set(value, found);
    }
    return found;
  }

  /** Categories a URL or a bare domain (`web.whatsapp.com`, `irs.gov/payments`) sets. */
  url(value: string): number {
    let rest = value.trim();
    const scheme = SCHEME.exec(rest);
    if (scheme) rest = rest.slice(scheme[0].length);
    const end = rest.search(/[/?#]/);
    let authority = end < 0 ? rest : rest.slice(0, end);
    let path = end < 0 || rest[end] !== '/' ? '' : rest.slice(end).split(/[?#]/, 1)[0]!.toLowerCase();
    const at = authority.lastIndexOf('@');
    if (at >= 0) authority = authority.slice(at + 1);
    let host = authority.replace(/:\d*$/, '').toLowerCase();
    if (host.endsWith('.')) host = host.slice(0, -1);
    if (path === '') path = '/';
    const firstDot = host.indexOf('.');
    let found = firstDot > 0 ? (this.firstLabels.get(host.slice(0, firstDot)) ?? 0) : 0;
    for (let h = host; h.length > 0; ) {
      for (const entry of this.hosts.get(h) ?? []) {
        if (entry.path === '' || path.startsWith(entry.path)) found |= entry.found;
      }
      const dot = h.indexOf('.');
      if (dot < 0) break;
      h = h.slice(dot + 1);
    }
    return found;
  }

  /** Categories the http(s) URLs inside a text set. */
  urlsIn(text: string): number {
    let found = 0;
    URL_IN_TEXT.lastIndex = 0;
    for (let m = URL_IN_TEXT.exec(text); m !== null; m = URL_IN_TEXT.exec(text)) found |= this.url(m[0]);
    return found;
  }
}
