import { ApiError } from './api.js';

type Listener = (ev: Event) => void;
/** Attributes by name; `on<event>` keys take listeners; `false`, null and undefined leave the attribute out. */
export type Attrs = Record<string, string | number | boolean | null | undefined | Listener>;
export type Child = Node | string | number | null | undefined | false;

/**
 * Builds an element. Never sets `style` (the CSP forbids inline styles): use classes from app.css.
 * @example el('button', { id: 'verify-run', class: 'primary', onclick: run }, 'Verify')
 */
export function el<K extends keyof HTMLElementTagNameMap>(tag: K, attrs: Attrs = {}, ...children: Child[]): HTMLElementTagNameMap[K] {
  const node = document.createElement(tag);
  for (const [name, value] of Object.entries(attrs)) {
    if (value === undefined || value === null || value === false) continue;
    if (typeof value === 'function') {
      node.addEventListener(name.replace(/^on/, ''), value);
    } else if (name === 'style') {
      throw new TypeError('inline style is blocked by the CSP; use a class');
    } else {
      node.setAttribute(name, value === true ? '' : String(value));
    }
  }
  append(node, ...children);
  return node;
}

/** Appends children, skipping empty ones, turning strings and numbers into text. */
export function append(parent: Node, ...children: Child[]): void {
  for (const c of children) {
    if (c === null || c === undefined || c === false) continue;
    parent.appendChild(typeof c === 'string' || typeof c === 'number' ? document.createTextNode(String(c)) : c);
  }
}

/** Removes every child of a node. */
export function clear(node: Node): void {
  while (node.firstChild) node.removeChild(node.firstChild);
}

export interface Column<R> {
  readonly label: string;
  readonly value: (row: R) => Child;
  /** e.g. 'num' right-aligns numbers. */
  readonly className?: string;
}

export interface TableOptions<R> {
  readonly id?: string;
  /** Attributes of each body row, e.g. `{ 'data-revision': r.revision }`. */
  readonly rowAttrs?: (row: R) => Attrs;
  /** Shown in the table foot when there are no rows (the body stays empty, so `tbody tr` counts 0). */
  readonly empty?: string;
}

/**
 * A table with a header row and one body row per item.
 * @example table([{ label: 'Actor', value: (e) => e.actor }], events, { id: 'audit-events' })
 */
export function table<R>(columns: readonly Column<R>[], rows: readonly R[], options: TableOptions<R> = {}): HTMLTableElement {
  const head = el('thead', {}, el('tr', {}, ...columns.map((c) => el('th', { scope: 'col', class: c.className }, c.label))));
  const body = el('tbody');
  for (const row of rows) {
    body.appendChild(el('tr', options.rowAttrs ? options.rowAttrs(row) : {}, ...columns.map((c) => el('td', { class: c.className }, c.value(row)))));
  }
  const t = el('table', { id: options.id, class: 'data' }, head, body);
  if (rows.length === 0) {
    t.appendChild(el('tfoot', {}, el('tr', { class: 'empty' }, el('td', { colspan: columns.length }, options.empty ?? 'Nothing to show.'))));
  }
  return t;
}

/** The error box every view uses: `[data-testid=error]` holding the vault's error code and message. */
export function showError(root: HTMLElement, err: unknown): HTMLElement {
  clearError(root);
  const box = el('div', { 'data-testid': 'error', class: 'error', role: 'alert' });
  if (err instanceof ApiError) {
    append(box, el('strong', { class: 'code' }, err.code), ' ', err.message);
    if (err.decisionId) append(box, el('div', { class: 'muted' }, `decision ${err.decisionId}`));
    const details = [...(err.violations ?? []), ...(err.reasons ?? [])];
    if (details.length > 0) box.appendChild(el('ul', { class: 'violations' }, ...details.map((d) => el('li', {}, d))));
  } else {
    append(box, el('strong', { class: 'code' }, 'console_error'), ' ', err instanceof Error ? err.message : String(err));
  }
  root.prepend(box);
  return box;
}

/** Removes a view's error box, if any (before a retry). */
export function clearError(root: HTMLElement): void {
  for (const old of Array.from(root.querySelectorAll('[data-testid=error]'))) old.remove();
}

/** A date in the reader's local time, with the exact ISO value on hover. */
export function time(iso: string | null | undefined): Child {
  if (!iso) return el('span', { class: 'muted' }, '—');
  const d = new Date(iso);
  if (Number.isNaN(d.getTime())) return iso;
  return el('time', { datetime: iso, title: iso }, d.toLocaleString());
}

/** A placeholder while a request runs; remove it (or clear the container) when done. */
export function loading(label = 'Loading…'): HTMLElement {
  return el('p', { class: 'loading', 'data-testid': 'loading', 'aria-busy': 'true' }, label);
}

/** A short badge, e.g. allow/deny, active/staged. */
export function badge(text: string, kind: string = text): HTMLElement {
  return el('span', { class: `badge badge-${kind.replace(/[^a-z0-9-]/gi, '-').toLowerCase()}` }, text);
}

/** A view's heading and optional lead text. */
export function heading(title: string, lead?: string): HTMLElement {
  return el('header', { class: 'view-head' }, el('h1', {}, title), lead ? el('p', { class: 'lead' }, lead) : null);
}

/**
 * Runs an async task with a loading marker inside `container`, showing any error in `errorRoot`.
 * Returns the task's value, or undefined after an error.
 */
export async function withLoading<T>(container: HTMLElement, errorRoot: HTMLElement, task: () => Promise<T>): Promise<T | undefined> {
  clearError(errorRoot);
  const marker = loading();
  container.appendChild(marker);
  try {
    return await task();
  } catch (err) {
    showError(errorRoot, err);
    return undefined;
  } finally {
    marker.remove();
  }
}
