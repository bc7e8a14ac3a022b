import assert from 'node:assert/strict';
import type { Locator, Page } from 'playwright-core';

/** Waits until the locator's text matches (a person reading the page would see it), then returns it. */
export async function textMatching(locator: Locator, pattern: RegExp, timeoutMs = 10_000): Promise<string> {
  const deadline = Date.now() + timeoutMs;
  let last = '';
  for (;;) {
    if ((await locator.count()) > 0) {
      last = (await locator.first().textContent()) ?? '';
      if (pattern.test(last)) return last;
    }
    if (Date.now() > deadline) assert.fail(`expected ${pattern} in ${locator}, saw: ${JSON.stringify(last.slice(0, 400))}`);
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
}

/** Waits until `locator` counts `n` elements. */
export async function countIs(locator: Locator, n: number, timeoutMs = 10_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const seen = await locator.count();
    if (seen === n) return;
    if (Date.now() > deadline) assert.fail(`expected ${n} of ${locator}, saw ${seen}`);
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
}

/** The cells of every body row of a table, as text. */
export async function rows(page: Page, selector: string): Promise<string[][]> {
  // Runs in the page; typed loosely because the test tsconfig has no DOM types.
  type Cell = { textContent: string | null };
  type Row = { querySelectorAll(selector: string): Iterable<Cell> };
  return page.$$eval(`${selector} tbody tr`, (trs) => (trs as unknown as Row[]).map((tr) => Array.from(tr.querySelectorAll('td'), (td) => (td.textContent ?? '').trim())));
}

/** Navigates the signed-in tab to a view by its URL, as a person typing it would. */
export async function openView(page: Page, baseUrl: string, view: string): Promise<void> {
  await page.goto(`${baseUrl}/console#/${view}`);
  await page.locator(`main#view [data-view="${view}"], [data-testid=forbidden]`).first().waitFor();
}
