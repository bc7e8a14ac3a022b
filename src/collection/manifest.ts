import { VaultError } from '../errors/index.js';
import { isKind, isPlainText } from '../model/index.js';

/** Apps, domains and window titles never captured. */
export interface ContextRules {
  readonly apps: readonly string[];
  readonly domains: readonly string[];
  readonly titles: readonly string[];
}

/** What the program declares of one kind: why, for how long, and where it is not collected. */
export interface KindTerms {
  readonly purposes: readonly string[];
  readonly retention_days: number;
  readonly excluded_contexts: ContextRules;
  /** Region patterns (`eu-*`) whose employees this kind is not collected from. */
  readonly excluded_regions: readonly string[];
}

/** The collection manifest as stored: every field present, lists sorted, names as written. */
export interface ManifestDocument {
  readonly kinds: Readonly<Record<string, KindTerms>>;
  /** Excluded for every kind, on top of each kind's own rules. */
  readonly excluded_contexts: ContextRules;
}

export const MAX_RETENTION_DAYS = 3650;
export const MAX_LIST = 500;
export const MAX_RULE_TEXT = 200;
export const PURPOSE = /^[a-z0-9][a-z0-9._-]{0,127}$/;
/** A region or a pattern of them: `*` matches any run of characters (`eu-*`). */
export const REGION_PATTERN = /^[A-Za-z0-9_*.-]{1,64}$/;
/**
 * A host name, or `*.` and one (only its subdomains); without `*.` a rule also covers every
 * subdomain. Stored in lower case without a trailing dot.
 */
export const DOMAIN_RULE = /^(?:\*\.)?(?:[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?\.){0,126}[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?\.?$/;

/** Shipped exclusions: personal messaging, tax, health and password managers, as apps, sites and titles. */
export const DEFAULT_EXCLUDED_CONTEXTS: ContextRules = {
  apps: [
    '1Password', 'Apple Health', 'Bitwarden', 'Dashlane', 'Discord', 'Facebook Messenger', 'H&R Block', 'iMessage', 'KeePass',
    'KeePassXC', 'Keychain Access', 'LastPass', 'Line', 'Messages', 'Messenger', 'MyChart', 'Signal', 'TaxAct', 'Telegram',
    'Threema', 'TurboTax', 'Viber', 'WeChat', 'WhatsApp',
  ],
  domains: [
    '1password.com', 'bitwarden.com', 'dashlane.com', 'discord.com', 'freetaxusa.com', 'goodrx.com', 'healthcare.gov', 'hmrc.gov.uk',
    'hrblock.com', 'irs.gov', 'keepass.info', 'lastpass.com', 'messenger.com', 'mychart.com', 'mychart.org', 'patient.info',
    'signal.org', 'taxact.com', 'telegram.org', 'turbotax.intuit.com', 'web.telegram.org', 'webmd.com', 'whatsapp.com', 'zocdoc.com',
  ],
  titles: ['*1password*', '*bitwarden*', '*lastpass*', '*mychart*', '*patient portal*', '*signal*', '*tax return*', '*telegram*', '*turbotax*', '*whatsapp*'],
};

export const DEFAULT_PURPOSE = 'ai-agent-training';
export const DEFAULT_RETENTION_DAYS = 180;

/** The manifest installed before a privacy officer stores one: every configured kind, the shipped exclusions. */
export function defaultManifest(kinds: Iterable<string>, retentionDays: ReadonlyMap<string, number> = new Map()): ManifestDocument {
  const terms: Record<string, KindTerms> = {};
  for (const kind of [...kinds].sort()) {
    terms[kind] = { purposes: [DEFAULT_PURPOSE], retention_days: retentionDays.get(kind) ?? DEFAULT_RETENTION_DAYS, excluded_contexts: { apps: [], domains: [], titles: [] }, excluded_regions: [] };
  }
  return { kinds: terms, excluded_contexts: DEFAULT_EXCLUDED_CONTEXTS };
}

function invalid(message: string): VaultError {
  return new VaultError('ERR_INVALID_REQUEST', message);
}

function onlyFields(value: unknown, where: string, fields: readonly string[]): Record<string, unknown> {
  if (typeof value !== 'object' || value === null || Array.isArray(value)) throw invalid(`${where} must be an object`);
  for (const field of Object.keys(value)) if (!fields.includes(field)) throw invalid(`${where} has an unknown field${/^[a-z_]{1,32}$/.test(field) ? ` "${field}"` : ''}`);
  return value as Record<string, unknown>;
}

function list(value: unknown, where: string, check: (item: string) => boolean, normalise: (item: string) => string = (s) => s): string[] {
  if (value === undefined) return [];
  if (!Array.isArray(value) || value.length > MAX_LIST) throw invalid(`${where} must be an array of at most ${MAX_LIST} strings`);
  const items = value.map((item, i) => {
    if (typeof item !== 'string' || !check(item)) throw invalid(`${where}[${i}] is invalid`);
    return normalise(item);
  });
  return [...new Set(items)].sort();
}

const textRule = (s: string) => s.length > 0 && s.length <= MAX_RULE_TEXT && isPlainText(s);

function parseContextRules(value: unknown, where: string): ContextRules {
  if (value === undefined) return { apps: [], domains: [], titles: [] };
  const rules = onlyFields(value, where, ['apps', 'domains', 'titles']);
  return {
    apps: list(rules.apps, `${where}.apps`, textRule),
    domains: list(rules.domains, `${where}.domains`, (s) => s.length <= 255 && DOMAIN_RULE.test(s), (s) => s.toLowerCase().replace(/\.$/, '')),
    titles: list(rules.titles, `${where}.titles`, textRule),
  };
}

/**
 * Checks a manifest a privacy officer sends, whole: an unknown field, a kind the vault does not
 * know, or a term out of range refuses all of it. Returns it in its stored form.
 */
export function parseManifest(body: unknown, knownKinds: ReadonlySet<string>): ManifestDocument {
  const doc = onlyFields(body, 'manifest', ['kinds', 'excluded_contexts']);
  const kinds = onlyFields(doc.kinds, 'kinds', [...knownKinds]);
  const terms: Record<string, KindTerms> = {};
  for (const kind of Object.keys(kinds).sort()) {
    if (!isKind(kind)) throw invalid('kinds names a kind that is not valid');
    const where = `kinds.${kind}`;
    const t = onlyFields(kinds[kind], where, ['purposes', 'retention_days', 'excluded_contexts', 'excluded_regions']);
    const purposes = list(t.purposes, `${where}.purposes`, (s) => PURPOSE.test(s));
    if (purposes.length === 0) throw invalid(`${where}.purposes must name at least one purpose`);
    const days = t.retention_days;
    if (typeof days !== 'number' || !Number.isInteger(days) || days < 1 || days > MAX_RETENTION_DAYS) {
      throw invalid(`${where}.retention_days must be an integer 1-${MAX_RETENTION_DAYS}`);
    }
    terms[kind] = {
      purposes,
      retention_days: days,
      excluded_contexts: parseContextRules(t.excluded_contexts, `${where}.excluded_contexts`),
      excluded_regions: list(t.excluded_regions, `${where}.excluded_regions`, (s) => REGION_PATTERN.test(s)),
    };
  }
  return { kinds: terms, excluded_contexts: parseContextRules(doc.excluded_contexts, 'excluded_contexts') };
}

/**
 * A stored version, read back. It was checked when it was written; a kind since removed from
 * VAULT_RECORD_KINDS is still read (its records are refused at ingest as an unknown kind), so the
 * controls keep working and the next version can drop it.
 */
export function parseStoredManifest(document: unknown): ManifestDocument {
  const kinds = (document as { kinds?: unknown } | null)?.kinds;
  const names = typeof kinds === 'object' && kinds !== null ? Object.keys(kinds).filter(isKind) : [];
  return parseManifest(document, new Set(names));
}

/** What a new version takes that consent to `consented` does not cover, per kind; empty when nothing. */
export function widenedKinds(consented: ManifestDocument | undefined, next: ManifestDocument): string[] {
  return Object.keys(next.kinds).filter((kind) => !consentCovers(consented, next, kind));
}

/**
 * Consent given to `consented` covers `kind` under `inForce` when that version declared the kind,
 * for every purpose now declared and a retention at least as long. Narrower terms (fewer purposes,
 * shorter retention, more exclusions) need no fresh consent.
 */
export function consentCovers(consented: ManifestDocument | undefined, inForce: ManifestDocument, kind: string): boolean {
  const then = consented?.kinds[kind];
  const now = inForce.kinds[kind];
  if (!then || !now) return false;
  return now.retention_days <= then.retention_days && now.purposes.every((p) => then.purposes.includes(p));
}

export interface ManifestDiff {
  readonly kinds_added: string[];
  readonly kinds_removed: string[];
  readonly kinds_changed: string[];
  readonly excluded_contexts_changed: boolean;
  /** Kinds whose records need fresh consent from everyone who consented to the previous version. */
  readonly needs_fresh_consent: string[];
}

export function diffManifests(previous: ManifestDocument | undefined, next: ManifestDocument): ManifestDiff {
  const before = previous?.kinds ?? {};
  const same = (a: unknown, b: unknown) => JSON.stringify(a) === JSON.stringify(b);
  return {
    kinds_added: Object.keys(next.kinds).filter((k) => !before[k]),
    kinds_removed: Object.keys(before).filter((k) => !next.kinds[k]),
    kinds_changed: Object.keys(next.kinds).filter((k) => before[k] && !same(before[k], next.kinds[k])),
    excluded_contexts_changed: !same(previous?.excluded_contexts, next.excluded_contexts),
    needs_fresh_consent: previous ? widenedKinds(previous, next) : [],
  };
}

const joinAnd = (items: readonly string[]) => (items.length <= 1 ? (items[0] ?? '') : `${items.slice(0, -1).join(', ')} and ${items.at(-1)}`);

/** The manifest as an employee reads it: one sentence per kind, then what is never captured. */
export function plainLanguage(version: number, doc: ManifestDocument): string[] {
  const kinds = Object.keys(doc.kinds);
  const lines = [
    kinds.length === 0
      ? `Collection manifest version ${version}: nothing is collected.`
      : `Collection manifest version ${version}: the program collects ${joinAnd(kinds.map((k) => k.replaceAll('_', ' ')))}, and nothing else.`,
  ];
  for (const kind of kinds) {
    const t = doc.kinds[kind]!;
    let line = `${kind.replaceAll('_', ' ')}: used for ${joinAnd(t.purposes)}, kept ${t.retention_days} days`;
    if (t.excluded_regions.length > 0) line += `, not collected from employees in ${joinAnd(t.excluded_regions)}`;
    const own = [...t.excluded_contexts.apps, ...t.excluded_contexts.domains, ...t.excluded_contexts.titles];
    if (own.length > 0) line += `, never while using ${joinAnd(own)}`;
    lines.push(`${line}.`);
  }
  const { apps, domains, titles } = doc.excluded_contexts;
  if (apps.length > 0) lines.push(`Nothing is captured while you use ${joinAnd(apps)}.`);
  if (domains.length > 0) lines.push(`Nothing is captured on ${joinAnd(domains)} or their subdomains.`);
  if (titles.length > 0) lines.push(`Nothing is captured in a window whose title matches ${joinAnd(titles.map((t) => `"${t}"`))}.`);
  lines.push('You can pause your capture for up to 120 minutes at a time, or opt out, at any time.');
  return lines;
}
