import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import { chromium, type Browser, type BrowserContext, type Page } from 'playwright-core';
import { buildTestBundle, newSigningKey, shippedSources, stageBundle, activateBundle, trustedKeysFile } from '../support/policies.js';
import { listenUrl, postRecords, putRoster, startTestVault, type TestVault } from '../support/vault.js';

/** Debian's chromium, which `.ci/run` installs; VAULT_CHROMIUM names another build of it. */
export const CHROMIUM = process.env.VAULT_CHROMIUM ?? '/usr/bin/chromium';
export const SCREENSHOTS = process.env.VAULT_CONSOLE_SCREENSHOTS === '1';
export const SCREENSHOT_DIR = path.resolve('docs/console');

/**
 * The seeded vault's cast. 50 enrolled employees, so one decision may reach 10 (0.2):
 * engineering (5) is team-autocomplete's, design (3) team-ux-agents', and ten people moved out
 * of support after their records were written, so support's records reach 13: a scope breach.
 */
export const CAST = {
  reported: 'eng-0',
  self: 'eng-1',
  paused: 'eng-2',
  optedOut: 'des-1',
  erased: 'eng-4',
  movers: Array.from({ length: 10 }, (_, i) => `mv-${i}`),
  stagedRevision: 'grow-research',
  refusedRevision: 'too-wide',
  activeRevision: 'console-base',
} as const;

const UNITS: Array<[prefix: string, unit: string, count: number]> = [
  ['eng', 'engineering', 5],
  ['des', 'design', 3],
  ['sup', 'support', 3],
  ['res', 'research', 2],
  ['fin', 'finance', 9],
  ['leg', 'legal', 9],
  ['hr', 'hr', 9],
];
const WINDOW = { from: '2026-11-01T00:00:00.000Z', to: '2026-11-30T00:00:00.000Z' };

export interface SeededVault {
  readonly t: TestVault;
  readonly url: string;
  readonly datasets: { autocomplete: { id: string; records: number }; ux: { id: string; records: number } };
  token(role: string, claims?: { sub?: string; teams?: string[]; purpose?: string }): Promise<string>;
  /** A direct API call as `role` (the test's own check beside what the page shows). */
  api(role: string, method: string, apiPath: string, body?: unknown, claims?: { sub?: string; teams?: string[]; purpose?: string }): Promise<{ status: number; body: any; text: string }>;
}

function recordsFor(employees: string[], kind: string, perEmployee: number, dayOffset: number) {
  const base = Date.parse('2026-11-03T08:00:00Z') + dayOffset * 86_400_000;
  return employees.flatMap((employee, e) =>
    Array.from({ length: perEmployee }, (_, i) => ({
      event_id: randomUUID(),
      employee_id: employee,
      // Spread over five days and the working hours, so the per-day and per-hour charts have shape.
      captured_at: new Date(base + (i % 5) * 86_400_000 + ((e * 7 + i * 13) % 540) * 60_000).toISOString(),
      kind,
      payload: kind === 'keystroke' ? { window: 'editor', text: `console seed ${employee} #${i}` } : { x: (i * 37) % 1280, y: (i * 53) % 800, target: 'button' },
    })),
  );
}

/**
 * A vault with content for every view: a policy revision in force, one staged with an access
 * diff, one whose activation was refused; records of two units streamed by two teams; denied
 * requests (outside a grant, and a scope breach); an employee with an access report.
 */
export async function seedConsoleVault(): Promise<SeededVault> {
  const key = await newSigningKey('console-');
  // The sign-in page's development mint is opt-in; the browser tests use it.
  const t = await startTestVault({ env: { VAULT_BUNDLE_KEYS_FILE: await trustedKeysFile(key), VAULT_CONSOLE_DEV_TOKEN: '1' } });
  const url = await listenUrl(t);
  const token: SeededVault['token'] = (role, claims) => t.token(role as never, claims);
  const api: SeededVault['api'] = async (role, method, apiPath, body, claims) => {
    const headers: Record<string, string> = { authorization: `Bearer ${await token(role, claims)}` };
    if (body !== undefined) headers['content-type'] = 'application/json';
    const response = await fetch(`${url}${apiPath}`, { method, headers, body: body === undefined ? null : JSON.stringify(body) });
    const text = await response.text();
    let parsed: unknown;
    try {
      parsed = JSON.parse(text);
    } catch {
      parsed = undefined;
    }
    return { status: response.status, body: parsed, text };
  };

  const { data } = await shippedSources();
  const grants = data.grants as Record<string, { org_units: string[] }>;
  // A revision of our own in force, with the shipped grants: the staged ones are diffed against it.
  const base = await stageBundle(t, await buildTestBundle({ key, revision: CAST.activeRevision }));
  assert.equal(base.statusCode, 201, base.body);
  const activated = await activateBundle(t, CAST.activeRevision);
  assert.equal(activated.statusCode, 200, activated.body);

  const roster = [
    ...UNITS.flatMap(([prefix, unit, count]) => Array.from({ length: count }, (_, i) => ({ employee_id: `${prefix}-${i}`, org_unit: unit }))),
    ...CAST.movers.map((id) => ({ employee_id: id, org_unit: 'support' })),
  ];
  assert.equal(roster.length, 50);
  await putRoster(t, roster);
  const eng = roster.filter((e) => e.org_unit === 'engineering').map((e) => e.employee_id);
  const des = roster.filter((e) => e.org_unit === 'design').map((e) => e.employee_id);
  const sup = roster.filter((e) => e.org_unit === 'support').map((e) => e.employee_id);
  const ingested = await postRecords(t, [...recordsFor(eng, 'keystroke', 12, 0), ...recordsFor(des, 'click', 10, 1), ...recordsFor(sup, 'click', 4, 2)]);
  assert.equal(ingested.statusCode, 200, ingested.body);
  // A reorg: the movers leave support, their records stay support's.
  await putRoster(t, CAST.movers.map((id) => ({ employee_id: id, org_unit: 'sales' })));

  const jobs = {
    autocomplete: { sub: 'job-autocomplete', teams: ['team-autocomplete'], purpose: 'autocomplete-model' },
    ux: { sub: 'job-ux', teams: ['team-ux-agents'], purpose: 'ui-navigation-agent' },
  };
  const request = async (job: keyof typeof jobs, body: Record<string, unknown>) => api('training-job', 'POST', '/v1/datasets', { purpose: jobs[job].purpose, ...WINDOW, ...body }, jobs[job]);
  const stream = async (job: keyof typeof jobs, id: string) => {
    const response = await fetch(`${url}/v1/datasets/${id}/records`, { headers: { authorization: `Bearer ${await token('training-job', jobs[job])}` } });
    assert.equal(response.status, 200);
    return (await response.text()).split('\n').filter(Boolean).length;
  };
  const granted = {
    autocomplete: await request('autocomplete', { org_units: ['engineering'], kinds: ['keystroke'] }),
    ux: await request('ux', { org_units: ['design'], kinds: ['click'] }),
  };
  assert.equal(granted.autocomplete.status, 201, granted.autocomplete.text);
  assert.equal(granted.ux.status, 201, granted.ux.text);
  const datasets = {
    autocomplete: { id: granted.autocomplete.body.dataset_id as string, records: await stream('autocomplete', granted.autocomplete.body.dataset_id) },
    ux: { id: granted.ux.body.dataset_id as string, records: await stream('ux', granted.ux.body.dataset_id) },
  };
  assert.equal(datasets.autocomplete.records, 60);
  assert.equal(datasets.ux.records, 30);

  // Denials: a unit outside the grant, and support, whose records reach 13 of 50 (a scope breach).
  const outside = await request('autocomplete', { org_units: ['finance'], kinds: ['keystroke'] });
  assert.equal(outside.status, 403, outside.text);
  const breach = await request('ux', { org_units: ['support'], kinds: ['click'] });
  assert.equal(breach.status, 403, breach.text);
  assert.equal(breach.body.error, 'scope_too_wide');

  // A staged revision that grows access (research for team-autocomplete): needs a second admin.
  const grown = { ...grants, 'team-autocomplete': { ...grants['team-autocomplete']!, org_units: ['engineering', 'research'] } };
  const staged = await stageBundle(t, await buildTestBundle({ key, revision: CAST.stagedRevision, data: { grants: grown } }));
  assert.equal(staged.statusCode, 201, staged.body);
  assert.ok(staged.json().diff.access.growth.length > 0, staged.body);
  // A revision whose grant reaches 24 of 50: its activation is refused (an alarm).
  const wide = { ...grants, 'team-ux-agents': { ...grants['team-ux-agents']!, org_units: ['design', 'support', 'finance', 'legal'] } };
  const tooWide = await stageBundle(t, await buildTestBundle({ key, revision: CAST.refusedRevision, data: { grants: wide } }));
  assert.equal(tooWide.statusCode, 201, tooWide.body);
  const refused = await activateBundle(t, CAST.refusedRevision);
  assert.equal(refused.statusCode, 409, refused.body);

  return { t, url, datasets, token, api };
}

export interface ConsolePage {
  readonly page: Page;
  readonly context: BrowserContext;
  /** CSP violations the page reported, and console errors. */
  readonly violations: string[];
  readonly consoleErrors: string[];
  /** Every request URL that left for another origin than the vault's. */
  readonly foreignRequests: string[];
  close(): Promise<void>;
}

/** Launches Debian's chromium, failing loudly (never skipping) when it is not installed. */
export async function launchChromium(): Promise<Browser> {
  if (!fs.existsSync(CHROMIUM)) {
    throw new Error(`chromium is not installed at ${CHROMIUM}: the console's browser tests need it (apt-get install chromium; .ci/run installs it)`);
  }
  return chromium.launch({ executablePath: CHROMIUM, headless: true, args: ['--no-sandbox', '--disable-dev-shm-usage'] });
}

/** A fresh tab (its own sessionStorage) on the vault, watching for CSP violations and foreign requests. */
export async function openConsole(browser: Browser, baseUrl: string): Promise<ConsolePage> {
  const context = await browser.newContext({ viewport: { width: 1280, height: 800 }, acceptDownloads: true });
  context.setDefaultTimeout(10_000);
  const page = await context.newPage();
  const violations: string[] = [];
  const consoleErrors: string[] = [];
  const foreignRequests: string[] = [];
  const origin = new URL(baseUrl).origin;
  await page.exposeFunction('__reportCspViolation', (text: string) => void violations.push(text));
  // Source text, run in the page before its own scripts (the test tsconfig has no DOM types).
  await page.addInitScript(`document.addEventListener('securitypolicyviolation', (e) => {
    window.__reportCspViolation(e.violatedDirective + ' blocked ' + (e.blockedURI || 'inline') + ' at ' + e.sourceFile + ':' + e.lineNumber);
  });`);
  page.on('console', (m) => {
    if (m.type() === 'error') consoleErrors.push(m.text());
    if (/Content.Security.Policy/i.test(m.text())) violations.push(m.text());
  });
  page.on('pageerror', (err) => void consoleErrors.push(`pageerror: ${err.message}`));
  page.on('request', (r) => {
    const u = r.url();
    if (u.startsWith('data:') || u.startsWith('blob:')) return;
    if (new URL(u).origin !== origin) foreignRequests.push(u);
  });
  return { page, context, violations, consoleErrors, foreignRequests, close: () => context.close() };
}

/** Opens the console and signs in by pasting `token` into the sign-in form. */
export async function signIn(c: ConsolePage, baseUrl: string, token: string): Promise<void> {
  await c.page.goto(`${baseUrl}/console`);
  await c.page.locator('textarea#token').fill(token);
  await c.page.locator('button#sign-in').click();
  await c.page.locator('#whoami .sub').waitFor();
}

/** `docs/console/<name>.png` at 1280x800 when VAULT_CONSOLE_SCREENSHOTS=1. */
export async function screenshot(page: Page, name: string): Promise<void> {
  if (!SCREENSHOTS) return;
  fs.mkdirSync(SCREENSHOT_DIR, { recursive: true });
  await page.screenshot({ path: path.join(SCREENSHOT_DIR, `${name}.png`), fullPage: false });
}
