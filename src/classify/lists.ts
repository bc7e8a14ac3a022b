import fs from 'node:fs/promises';
import path from 'node:path';
import { policyPaths } from '../config/paths.js';
import { VaultError } from '../errors/index.js';
import { tokenize } from './normalize.js';

export interface AppsAndDomains {
  /** App names and bundle ids, matched case-insensitively against `app` and window-title segments. */
  readonly apps: readonly string[];
  /** `host` (and its subdomains), `host/path-prefix`, or `label.*` (any host whose first label is `label`). */
  readonly domains: readonly string[];
}

/**
 * The security team's lists: `policies/classification/data.json`, shipped inside the policy
 * bundle as `data.classification`, so they are versioned, signed, staged and activated with it.
 */
export interface ClassifierLists {
  readonly version: number;
  readonly privateConversation: AppsAndDomains;
  readonly health: AppsAndDomains & {
    /** Words and phrases that alone make a text health data: diagnoses, medications, lab tests, mental health, pregnancy. */
    readonly keywords: readonly string[];
    /** Words that alone say nothing but make an ICD-10 code next to them a diagnosis. */
    readonly context: readonly string[];
  };
  readonly tax: AppsAndDomains & {
    /** Words and phrases that alone make a text tax data: returns, refunds, tax software, tax authorities. */
    readonly keywords: readonly string[];
    /** Tax form names (`1040`, `W-2`, `Schedule C`); they count next to a `context` word or after "form". */
    readonly forms: readonly string[];
    readonly context: readonly string[];
  };
  readonly contactData: {
    /** Consumer mail domains (and their subdomains): an address there is personal contact data. */
    readonly personalEmailDomains: readonly string[];
  };
}

/** policies/classification/data.json inside the installed package: the lists of a bundle that carries none. */
export function defaultClassifierListsFile(): string {
  return path.join(policyPaths().sources, 'classification', 'data.json');
}

/**
 * Reads and validates the classifier's lists, once at start.
 * Throws `ERR_CONFIG` naming the file and the field at fault.
 *
 * @example
 * const classifier = new Classifier(await loadClassifierLists());
 */
export async function loadClassifierLists(file: string = defaultClassifierListsFile()): Promise<ClassifierLists> {
  let text: string;
  try {
    text = await fs.readFile(file, 'utf8');
  } catch (err) {
    throw new VaultError('ERR_CONFIG', `classifier lists ${file} cannot be read`, { cause: err });
  }
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch (err) {
    throw new VaultError('ERR_CONFIG', `classifier lists ${file} is not valid JSON: ${(err as Error).message}`, { cause: err });
  }
  return parseClassifierLists(json, file);
}

const MAX_ENTRY_LENGTH = 200;
const MAX_ENTRIES = 5000;
const DOMAIN = /^(?:[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?\.)+[a-z0-9-]{2,63}(?:\/\S*)?$/;
const LABEL_WILDCARD = /^[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?\.\*$/;
const EMAIL_DOMAIN = /^(?:[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?\.)+[a-z0-9-]{2,63}$/;

type Check = 'text' | 'words' | 'domain' | 'email-domain';

class ListsReader {
  constructor(private readonly source: string) {}

  fail(field: string, problem: string): never {
    throw new VaultError('ERR_CONFIG', `classifier lists ${this.source}: ${field} ${problem}`);
  }

  object(value: unknown, field: string, keys: readonly string[], optional: readonly string[] = []): Record<string, unknown> {
    if (typeof value !== 'object' || value === null || Array.isArray(value)) this.fail(field, 'must be an object');
    const record = value as Record<string, unknown>;
    for (const key of Object.keys(record)) {
      if (!keys.includes(key) && !optional.includes(key)) this.fail(field === '' ? key : `${field}.${key}`, 'is not a known field');
    }
    for (const key of keys) {
      if (!(key in record)) this.fail(field === '' ? key : `${field}.${key}`, 'is missing');
    }
    return record;
  }

  list(value: unknown, field: string, check: Check): readonly string[] {
    if (!Array.isArray(value)) this.fail(field, 'must be an array of strings');
    if (value.length > MAX_ENTRIES) this.fail(field, `holds more than ${MAX_ENTRIES} entries`);
    const seen = new Set<string>();
    return Object.freeze(
      value.map((entry, i) => {
        const at = `${field}[${i}]`;
        if (typeof entry !== 'string' || entry.trim() === '') this.fail(at, 'must be a non-empty string');
        if (entry.length > MAX_ENTRY_LENGTH) this.fail(at, `is longer than ${MAX_ENTRY_LENGTH} characters`);
        if (check === 'domain' && !DOMAIN.test(entry) && !LABEL_WILDCARD.test(entry)) {
          this.fail(at, `("${entry}") must be a lowercase host, host/path or label.*`);
        }
        if (check === 'email-domain' && !EMAIL_DOMAIN.test(entry)) this.fail(at, `("${entry}") must be a lowercase mail domain`);
        if (check === 'words' && tokenize(entry).length === 0) this.fail(at, `("${entry}") holds no word`);
        const key = entry.toLowerCase();
        if (seen.has(key)) this.fail(at, `("${entry}") is listed twice`);
        seen.add(key);
        return entry;
      }),
    );
  }

  appsAndDomains(record: Record<string, unknown>, field: string): AppsAndDomains {
    return { apps: this.list(record.apps, `${field}.apps`, 'text'), domains: this.list(record.domains, `${field}.domains`, 'domain') };
  }
}

/**
 * Validates lists already parsed from JSON (`source` names them in errors). Throws `ERR_CONFIG`.
 */
export function parseClassifierLists(json: unknown, source: string): ClassifierLists {
  const r = new ListsReader(source);
  const top = r.object(json, '', ['version', 'private_conversation', 'health', 'tax', 'contact_data'], ['description']);
  if (top.version !== 1) r.fail('version', 'must be 1');
  if (top.description !== undefined && typeof top.description !== 'string') r.fail('description', 'must be a string');
  const chat = r.object(top.private_conversation, 'private_conversation', ['apps', 'domains']);
  const health = r.object(top.health, 'health', ['apps', 'domains', 'keywords', 'context']);
  const tax = r.object(top.tax, 'tax', ['apps', 'domains', 'keywords', 'forms', 'context']);
  const contact = r.object(top.contact_data, 'contact_data', ['personal_email_domains']);
  return Object.freeze({
    version: 1,
    privateConversation: Object.freeze(r.appsAndDomains(chat, 'private_conversation')),
    health: Object.freeze({
      ...r.appsAndDomains(health, 'health'),
      keywords: r.list(health.keywords, 'health.keywords', 'words'),
      context: r.list(health.context, 'health.context', 'words'),
    }),
    tax: Object.freeze({
      ...r.appsAndDomains(tax, 'tax'),
      keywords: r.list(tax.keywords, 'tax.keywords', 'words'),
      forms: r.list(tax.forms, 'tax.forms', 'words'),
      context: r.list(tax.context, 'tax.context', 'words'),
    }),
    contactData: Object.freeze({
      personalEmailDomains: r.list(contact.personal_email_domains, 'contact_data.personal_email_domains', 'email-domain'),
    }),
  });
}

/** One list's entries that `next` adds to or removes from `current` (compared case-insensitively). */
export interface ClassifierListChange {
  readonly list: string;
  readonly added: readonly string[];
  readonly removed: readonly string[];
}

function entriesByList(lists: ClassifierLists): Array<[string, readonly string[]]> {
  return [
    ['private_conversation.apps', lists.privateConversation.apps],
    ['private_conversation.domains', lists.privateConversation.domains],
    ['health.apps', lists.health.apps],
    ['health.domains', lists.health.domains],
    ['health.keywords', lists.health.keywords],
    ['health.context', lists.health.context],
    ['tax.apps', lists.tax.apps],
    ['tax.domains', lists.tax.domains],
    ['tax.keywords', lists.tax.keywords],
    ['tax.forms', lists.tax.forms],
    ['tax.context', lists.tax.context],
    ['contact_data.personal_email_domains', lists.contactData.personalEmailDomains],
  ];
}

/**
 * What changes, list by list, from `current` to `next`. A removed entry is content the classifier
 * stops recognising: the policy workflow treats it as growth that needs a second security admin.
 */
export function compareClassifierLists(next: ClassifierLists, current: ClassifierLists): ClassifierListChange[] {
  const before = new Map(entriesByList(current));
  return entriesByList(next).flatMap(([list, entries]) => {
    const old = before.get(list)!;
    const lower = (values: readonly string[]) => new Set(values.map((v) => v.toLowerCase()));
    const [was, is] = [lower(old), lower(entries)];
    const added = entries.filter((e) => !was.has(e.toLowerCase()));
    const removed = old.filter((e) => !is.has(e.toLowerCase()));
    return added.length || removed.length ? [{ list, added, removed }] : [];
  });
}
