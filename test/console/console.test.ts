import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import fs from 'node:fs/promises';
import { after, before, describe, it } from 'node:test';
import type { Browser } from 'playwright-core';
import { STORE } from '../support/database.js';
import { countIs, openView, rows, textMatching } from './helpers.js';
import { CAST, launchChromium, openConsole, screenshot, seedConsoleVault, signIn, type ConsolePage, type SeededVault } from './support.js';

describe(`the web console in a real browser (${STORE})`, () => {
  let vault: SeededVault;
  let browser: Browser;
  const pages: ConsolePage[] = [];

  /** A new tab signed in as `role` by pasting a minted token. */
  async function tabAs(role: string, claims?: { sub?: string; teams?: string[] }): Promise<ConsolePage> {
    const c = await openConsole(browser, vault.url);
    pages.push(c);
    await signIn(c, vault.url, await vault.token(role, claims));
    return c;
  }

  /** One record captured now, sent by an ingest agent: what the vault answers. */
  async function ingestNow(employee: string) {
    return vault.api('ingest-agent', 'POST', '/v1/records', {
      records: [{ event_id: randomUUID(), employee_id: employee, captured_at: new Date().toISOString(), kind: 'keystroke', payload: { window: 'editor', text: 'typed just now' } }],
    });
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

  it('serves the console with a strict Content-Security-Policy and only its own assets', async () => {
    const response = await fetch(`${vault.url}/console`);
    assert.equal(response.status, 200);
    const csp = response.headers.get('content-security-policy') ?? '';
    assert.match(csp, /default-src 'none'|default-src 'self'/, csp);
    assert.match(csp, /script-src 'self'(;|$)/, csp);
    assert.match(csp, /style-src 'self'(;|$)/, csp);
    assert.doesNotMatch(csp, /unsafe-inline|unsafe-eval|https?:/, csp);
    const html = await response.text();
    assert.doesNotMatch(html, /<script(?![^>]*\bsrc=)[^>]*>/, 'no inline script');
    assert.doesNotMatch(html, /\sstyle=/, 'no inline style');
  });

  it('signs in through the development mint form and offers only the role\'s views', async () => {
    const c = await openConsole(browser, vault.url);
    pages.push(c);
    await c.page.goto(`${vault.url}/console`);
    await c.page.locator('form#dev-mint').waitFor();
    await c.page.locator('#mint-role').selectOption('privacy-officer');
    await c.page.locator('#mint-sub').fill('priya');
    await c.page.locator('button#mint').click();
    await textMatching(c.page.locator('#whoami'), /priya.*privacy-officer/);
    const nav = await c.page.$$eval('#views a', (as) => as.map((a) => a.getAttribute('data-view')));
    assert.ok(nav.includes('program') && nav.includes('privacy'), nav.join(','));
    assert.ok(!nav.includes('me') && !nav.includes('audit') && !nav.includes('policy'), nav.join(','));
    await screenshot(c.page, 'sign-in-minted');
  });

  it('program: pausing collection makes the vault refuse ingest, resuming lets it in again', async () => {
    const c = await tabAs('privacy-officer', { sub: 'priya' });
    await openView(c.page, vault.url, 'program');
    const status = c.page.locator('[data-testid=program-status]');
    await textMatching(status.locator('[data-scope=collection]'), /running/);
    assert.equal(await status.locator('[data-scope=collection]').getAttribute('data-state'), 'running');
    assert.equal((await ingestNow(CAST.reported)).status, 200, 'ingest works before the pause');

    // No reason, no pause: the page says so and nothing is sent.
    await c.page.locator('button#pause-collection').click();
    await textMatching(c.page.locator('[data-testid=error]'), /reason/);
    assert.equal((await vault.api('auditor', 'GET', '/v1/program/status')).body.collection.paused, false);

    await c.page.locator('input#program-reason').fill('capture agent leaking window titles');
    await c.page.locator('button#pause-collection').click();
    await textMatching(status.locator('[data-scope=collection]'), /paused since .* by priya .*capture agent leaking window titles/);
    assert.equal(await status.locator('[data-scope=collection]').getAttribute('data-state'), 'paused');
    await textMatching(status.locator('[data-scope=exports]'), /running/);
    const refused = await ingestNow(CAST.reported);
    assert.equal(refused.status, 503, refused.text);
    assert.equal(refused.body.error, 'program_paused');
    await screenshot(c.page, 'program');

    await c.page.locator('input#program-reason').fill('agent fixed and redeployed');
    await c.page.locator('button#resume-collection').click();
    await textMatching(status.locator('[data-scope=collection]'), /running/);
    const accepted = await ingestNow(CAST.reported);
    assert.equal(accepted.status, 200, accepted.text);
    assert.equal(accepted.body.accepted, 1, accepted.text);
  });

  it('program: a frozen export refuses datasets, and resuming it takes a second person', async () => {
    const officer = await tabAs('privacy-officer', { sub: 'priya' });
    await openView(officer.page, vault.url, 'program');
    const exportsRow = officer.page.locator('[data-testid=program-status] [data-scope=exports]');
    await officer.page.locator('input#program-reason').fill('suspected bad grant');
    await officer.page.locator('button#freeze-exports').click();
    await textMatching(exportsRow, /frozen since .* by priya/);
    const job = { sub: 'job-autocomplete', teams: ['team-autocomplete'], purpose: 'autocomplete-model' };
    const request = { purpose: 'autocomplete-model', org_units: ['engineering'], kinds: ['keystroke'], from: '2026-11-01T00:00:00.000Z', to: '2026-11-30T00:00:00.000Z' };
    assert.equal((await vault.api('training-job', 'POST', '/v1/datasets', request, job)).body.error, 'exports_frozen');

    await officer.page.locator('input#program-reason').fill('grant reviewed');
    await officer.page.locator('button#resume-exports').click();
    await textMatching(officer.page.locator('[data-testid=program-notice]'), /second person must confirm/);
    await textMatching(exportsRow, /resume requested by priya/);

    // The security admin may use the same view, and confirms.
    const admin = await tabAs('security-admin', { sub: 'sam' });
    await openView(admin.page, vault.url, 'program');
    await admin.page.locator('input#program-reason').fill('confirmed: grant is fine');
    await admin.page.locator('button#resume-exports').click();
    await textMatching(admin.page.locator('[data-testid=program-status] [data-scope=exports]'), /running/);
    assert.equal((await vault.api('training-job', 'POST', '/v1/datasets', request, job)).status, 201);
  });

  it("privacy: an employee's pause from the console drops what is captured in the window", async () => {
    const c = await tabAs('privacy-officer', { sub: 'priya' });
    await openView(c.page, vault.url, 'privacy');
    await c.page.locator('input#employee-id').fill(CAST.paused);
    await c.page.locator('button#employee-open').click();
    const state = c.page.locator('[data-testid=pause-state]');
    await textMatching(state, /no pause running/);
    await c.page.locator('input#pause-minutes').fill('15');
    await c.page.locator('button#employee-pause').click();
    await textMatching(state, /paused until/);
    const until = Date.parse((await state.locator('time').getAttribute('datetime'))!);
    assert.ok(Math.abs(until - (Date.now() + 15 * 60_000)) < 60_000, 'paused for the 15 minutes asked');
    const dropped = await ingestNow(CAST.paused);
    assert.equal(dropped.status, 200, dropped.text);
    assert.equal(dropped.body.accepted, 0);
    assert.deepEqual(dropped.body.dropped, [{ index: 0, reason: 'paused' }]);
    assert.equal((await ingestNow(CAST.reported)).body.accepted, 1, 'only that employee is paused');

    // Opened afresh, the page reads the pause from the vault.
    await c.page.reload();
    await c.page.locator('input#employee-id').fill(CAST.paused);
    await c.page.locator('button#employee-open').click();
    await textMatching(state, /paused until/);

    await c.page.locator('button#employee-resume').click();
    await textMatching(state, /no pause running/);
    assert.equal((await ingestNow(CAST.paused)).body.accepted, 1, 'captured after the pause ended: kept');
  });

  it('privacy: an opt-out is shown as such and takes effect', async () => {
    const c = await tabAs('privacy-officer', { sub: 'priya' });
    await openView(c.page, vault.url, 'privacy');
    await c.page.locator('input#employee-id').fill(CAST.optedOut);
    await c.page.locator('button#employee-open').click();
    const consent = c.page.locator('[data-testid=consent-state]');
    await textMatching(consent, /manifest in force v\d+/);
    await c.page.locator('button#employee-opt-out').click();
    await textMatching(consent, /opted out/);
    assert.equal(await consent.getAttribute('data-state'), 'opted-out');
    const sent = await vault.api('ingest-agent', 'POST', '/v1/records', {
      records: [{ event_id: randomUUID(), employee_id: CAST.optedOut, captured_at: new Date().toISOString(), kind: 'click', payload: { x: 1, y: 2 } }],
    });
    assert.deepEqual(sent.body.dropped, [{ index: 0, reason: 'opted_out' }]);
    await c.page.locator('button#employee-opt-in').click();
    await textMatching(consent, /opted in/);
  });

  it("privacy: an employee's exposure lists the teams that could be granted their records", async () => {
    const c = await tabAs('privacy-officer', { sub: 'priya' });
    await openView(c.page, vault.url, 'privacy');
    await c.page.locator('input#employee-id').fill(CAST.reported);
    await c.page.locator('button#employee-open').click();
    await c.page.locator('table#exposure tbody tr').first().waitFor();
    const exposure = (await vault.api('privacy-officer', 'GET', `/v1/employees/${CAST.reported}/exposure`)).body;
    const expected = exposure.teams.flatMap((t: { team: string; paths: unknown[] }) => t.paths.map(() => t.team));
    assert.ok(expected.includes('team-autocomplete'));
    assert.deepEqual((await rows(c.page, 'table#exposure')).map((r) => r[0]), expected);
    await countIs(c.page.locator('table#exposure-leases tbody tr'), exposure.open_leases.length);
    assert.ok(exposure.open_leases.length >= 1, 'the seeded autocomplete lease holds eng-0');
    await screenshot(c.page, 'privacy');
  });

  it('privacy: erasure waits for the typed confirmation, shows the signed receipt, and the records are unreadable after', async () => {
    const c = await tabAs('privacy-officer', { sub: 'priya' });
    await openView(c.page, vault.url, 'privacy');
    await c.page.locator('input#employee-id').fill(CAST.erased);
    await c.page.locator('button#employee-open').click();
    const erase = c.page.locator('button#employee-erase');
    assert.equal(await erase.isDisabled(), true);
    await c.page.locator('input#erase-confirm').fill('eng-');
    assert.equal(await erase.isDisabled(), true, 'a partial id does not arm the button');
    await c.page.locator('input#erase-confirm').fill(CAST.erased);
    assert.equal(await erase.isDisabled(), false);
    const before = (await vault.api('privacy-officer', 'GET', `/v1/employees/${CAST.erased}/records`)).text.split('\n').filter(Boolean).length;
    assert.equal(before, 12);
    await erase.click();
    const receipt = c.page.locator('[data-testid=erasure-receipt]');
    await textMatching(receipt, /Erasure receipt.*signed/);
    const text = (await receipt.textContent()) ?? '';
    assert.match(text, /Records made unreadable\s*12/);
    const signature = (await c.page.locator('[data-testid=receipt-signature]').textContent()) ?? '';
    assert.match(signature, /^[A-Za-z0-9+/]{60,}={0,2}$/);
    await screenshot(c.page, 'erasure');

    // The vault agrees: the employee's own copy is empty and the dataset that held them no longer yields them.
    const copy = await vault.api('privacy-officer', 'GET', `/v1/employees/${CAST.erased}/records`);
    assert.equal(copy.text.split('\n').filter(Boolean).length, 0, copy.text.slice(0, 200));
    const stream = await fetch(`${vault.url}/v1/datasets/${vault.datasets.autocomplete.id}/records`, {
      headers: { authorization: `Bearer ${await vault.token('training-job', { sub: 'job-autocomplete', teams: ['team-autocomplete'], purpose: 'autocomplete-model' })}` },
    });
    assert.equal(stream.status, 200);
    assert.equal((await stream.text()).split('\n').filter(Boolean).length, vault.datasets.autocomplete.records - 12);
  });

  it("me: the employee sees their own report and consent, pauses themself, and downloads their own copy", async () => {
    const c = await tabAs('employee', { sub: CAST.self });
    await openView(c.page, vault.url, 'me');
    const report = (await vault.api('employee', 'GET', `/v1/employees/${CAST.self}/access-report`, undefined, { sub: CAST.self })).body;
    await c.page.locator('table#report-datasets tbody tr').first().waitFor();
    const shown = await rows(c.page, 'table#report-datasets');
    assert.deepEqual(shown.map((r) => r[1]), report.datasets.map((d: { dataset_id: string }) => d.dataset_id));
    assert.ok(shown.some((r) => r[1] === vault.datasets.autocomplete.id), 'the seeded autocomplete dataset reached eng-1');
    await textMatching(c.page.locator('[data-testid=consent-state]'), /manifest in force v\d+/);
    await screenshot(c.page, 'me');

    await textMatching(c.page.locator('[data-testid=pause-state]'), /no pause running/);
    await c.page.locator('button#pause-me').click();
    await textMatching(c.page.locator('[data-testid=pause-state]'), /paused until/);
    assert.deepEqual((await ingestNow(CAST.self)).body.dropped, [{ index: 0, reason: 'paused' }]);
    await c.page.reload();
    await textMatching(c.page.locator('[data-testid=pause-state]'), /paused until/);
    await c.page.locator('button#resume-me').click();
    await textMatching(c.page.locator('[data-testid=pause-state]'), /no pause running/);

    const download = c.page.waitForEvent('download');
    await c.page.locator('button#download-records').click();
    const file = await (await download).path();
    const lines = (await fs.readFile(file, 'utf8')).split('\n').filter(Boolean).map((l) => JSON.parse(l) as { kind: string; payload: { text?: string } });
    assert.equal(lines.length, 12);
    assert.ok(lines.every((l) => l.kind === 'keystroke' && l.payload.text?.startsWith(`console seed ${CAST.self} #`)));
    await textMatching(c.page.locator('[data-testid=download-status]'), /12 records saved/);
  });

  it("me: an employee's token cannot read another employee's data, in the page or the API", async () => {
    const other = CAST.reported;
    const c = await tabAs('employee', { sub: CAST.self });
    await openView(c.page, vault.url, 'privacy');
    await c.page.locator('[data-testid=forbidden]').waitFor();
    for (const route of [`/v1/employees/${other}/access-report`, `/v1/employees/${other}/records`, `/v1/employees/${other}/consent`]) {
      assert.equal((await vault.api('employee', 'GET', route, undefined, { sub: CAST.self })).status, 403, route);
    }
    assert.equal((await vault.api('employee', 'POST', `/v1/employees/${other}/pause`, { minutes: 5 }, { sub: CAST.self })).status, 403);
  });

  it('no page raised a CSP violation, an uncaught error, or a request to another origin', async () => {
    // The detector itself: an inline script is refused by the CSP and reported.
    const probe = await openConsole(browser, vault.url);
    await probe.page.goto(`${vault.url}/console`);
    await probe.page.evaluate(`(() => { const s = document.createElement('script'); s.textContent = 'window.inlineRan = true'; document.body.appendChild(s); })()`);
    await new Promise((resolve) => setTimeout(resolve, 200));
    assert.equal(await probe.page.evaluate('window.inlineRan === true'), false, 'the inline script did not run');
    assert.ok(probe.violations.some((v) => /script-src/.test(v)), probe.violations.join('\n'));
    await probe.close();

    for (const c of pages) {
      assert.deepEqual(c.violations, []);
      assert.deepEqual(c.consoleErrors.filter((e) => !/Failed to load resource: the server responded with a status of 4\d\d/.test(e)), []);
      assert.deepEqual(c.foreignRequests, []);
    }
  });
});
