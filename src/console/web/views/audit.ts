import type { Api } from '../api.js';
import { badge, clear, clearError, el, heading, showError, table, time, withLoading, type Child } from '../dom.js';
import type { ConsoleView } from '../view.js';
import { saveAs } from './privacy.js';

/** One event as `GET /v1/audit/events` returns it. */
export interface AuditEvent {
  seq: number;
  event_id: string;
  occurred_at: string;
  action: string;
  decision: string;
  severity: string;
  actor: string | null;
  roles: string[];
  teams: string[];
  purpose: string | null;
  employee_ref: string | null;
  policy_revision: string | null;
  record_count: number | null;
  decision_id: string | null;
  details: Record<string, unknown>;
  hash: string;
}

interface AuditPage {
  events: AuditEvent[];
  next_cursor: string | null;
}

const FILTERS = ['actor', 'team', 'employee_id', 'action', 'decision', 'from', 'to', 'limit'] as const;
type Filter = (typeof FILTERS)[number];
type Filters = Partial<Record<Filter, string>>;
const DEFAULT_LIMIT = '50';
// The CSV follows every page of the filter; past this many rows, narrow the filter instead.
const CSV_MAX_ROWS = 100_000;
const CSV_PAGE = '1000';

/** Why an event was denied or alarmed, from the fields the vault writes in `details`. */
export function reasonOf(details: Record<string, unknown>): string {
  const texts = (v: unknown): string[] => (typeof v === 'string' ? [v] : Array.isArray(v) ? v.filter((x): x is string => typeof x === 'string') : []);
  const parts = [...texts(details.reason), ...texts(details.reasons), ...texts(details.error), ...texts(details.detail)];
  return [...new Set(parts)].join('; ');
}

/** A row of the CSV export, in the order of `CSV_COLUMNS`. */
const CSV_COLUMNS: readonly [string, (e: AuditEvent) => unknown][] = [
  ['seq', (e) => e.seq],
  ['occurred_at', (e) => e.occurred_at],
  ['actor', (e) => e.actor],
  ['roles', (e) => e.roles.join(' ')],
  ['teams', (e) => e.teams.join(' ')],
  ['purpose', (e) => e.purpose],
  ['action', (e) => e.action],
  ['decision', (e) => e.decision],
  ['severity', (e) => e.severity],
  ['employee_ref', (e) => e.employee_ref],
  ['record_count', (e) => e.record_count],
  ['policy_revision', (e) => e.policy_revision],
  ['reason', (e) => reasonOf(e.details)],
  ['decision_id', (e) => e.decision_id],
  ['event_id', (e) => e.event_id],
  ['hash', (e) => e.hash],
  ['details', (e) => JSON.stringify(e.details)],
];

/**
 * One CSV cell, always quoted. A cell a spreadsheet would read as a formula (starting with
 * `= + - @`, a tab or a carriage return) gets a leading `'`: the log holds text that callers chose
 * (actors, teams, reasons), and an auditor's spreadsheet must not run it.
 */
export function csvCell(value: unknown): string {
  let text = value === null || value === undefined ? '' : String(value);
  if (/^[=+\-@\t\r]/.test(text)) text = `'${text}`;
  return `"${text.replace(/"/g, '""')}"`;
}

export function eventsCsv(events: readonly AuditEvent[]): string {
  const lines = [CSV_COLUMNS.map(([name]) => csvCell(name)).join(',')];
  for (const e of events) lines.push(CSV_COLUMNS.map(([, value]) => csvCell(value(e))).join(','));
  return `${lines.join('\r\n')}\r\n`;
}

/** A `datetime-local` value (the reader's local time) as an RFC 3339 instant, or '' when empty or invalid. */
function toInstant(local: string): string {
  if (!local) return '';
  const ms = new Date(local).getTime();
  return Number.isNaN(ms) ? '' : new Date(ms).toISOString();
}

/** An instant shown in a `datetime-local` input, in the reader's local time to the second. */
function toLocalInput(iso: string): string {
  const d = new Date(iso);
  if (Number.isNaN(d.getTime())) return '';
  const p = (n: number) => String(n).padStart(2, '0');
  return `${d.getFullYear()}-${p(d.getMonth() + 1)}-${p(d.getDate())}T${p(d.getHours())}:${p(d.getMinutes())}:${p(d.getSeconds())}`;
}

function filtersFromHash(): Filters {
  const params = new URLSearchParams(location.hash.split('?')[1] ?? '');
  const f: Filters = {};
  for (const k of FILTERS) {
    const v = params.get(k);
    if (v) f[k] = v;
  }
  return f;
}

const COLUMNS = [
  { label: 'Time', value: (e: AuditEvent) => time(e.occurred_at) },
  { label: 'Actor', value: (e: AuditEvent): Child => e.actor ?? el('span', { class: 'muted' }, '—') },
  { label: 'Action', value: (e: AuditEvent) => el('code', {}, e.action) },
  { label: 'Decision', value: (e: AuditEvent) => badge(e.decision) },
  { label: 'Employee', value: (e: AuditEvent): Child => (e.employee_ref ? el('code', { title: `keyed reference ${e.employee_ref}` }, e.employee_ref.slice(0, 12)) : '') },
  { label: 'Records', value: (e: AuditEvent): Child => e.record_count ?? '', className: 'num' },
  { label: 'Policy revision', value: (e: AuditEvent): Child => (e.policy_revision ? el('code', {}, e.policy_revision) : '') },
  { label: 'Reason', value: (e: AuditEvent): Child => (typeof e.details.alarm === 'string' ? el('span', {}, badge(e.details.alarm, 'deny'), ' ', reasonOf(e.details)) : reasonOf(e.details)) },
  {
    label: 'Details',
    value: (e: AuditEvent) => el('details', { class: 'event-details' }, el('summary', {}, `#${e.seq}`), el('pre', {}, JSON.stringify({ teams: e.teams, purpose: e.purpose, decision_id: e.decision_id, details: e.details }, null, 2))),
  },
];

/**
 * The auditor's search of the access log: every filter the vault offers, page by page, and a CSV
 * of everything the filter matches. The filters live in the URL hash, so a search can be shared.
 */
export const auditView: ConsoleView = {
  id: 'audit',
  title: 'Audit log',
  roles: ['auditor'],
  async render(root: HTMLElement, api: Api) {
    const initial = filtersFromHash();
    const input = (name: Filter, attrs: Record<string, string | number>) => el('input', { id: `audit-${name.replace('_', '-')}`, name, autocomplete: 'off', spellcheck: 'false', ...attrs });
    const fields = {
      actor: input('actor', { type: 'text', maxlength: 256, placeholder: 'sub, e.g. job-autocomplete', value: initial.actor ?? '' }),
      team: input('team', { type: 'text', maxlength: 128, placeholder: 'team-autocomplete', value: initial.team ?? '' }),
      employee_id: input('employee_id', { type: 'text', maxlength: 128, placeholder: 'employee id', value: initial.employee_id ?? '' }),
      action: input('action', { type: 'text', maxlength: 64, placeholder: 'dataset.request', value: initial.action ?? '' }),
      decision: el('select', { id: 'audit-decision', name: 'decision' }, ...['', 'allow', 'deny', 'info', 'error'].map((d) => el('option', { value: d, selected: d === (initial.decision ?? '') }, d || 'any'))),
      from: input('from', { type: 'datetime-local', step: 1, value: initial.from ? toLocalInput(initial.from) : '' }),
      to: input('to', { type: 'datetime-local', step: 1, value: initial.to ? toLocalInput(initial.to) : '' }),
      limit: input('limit', { type: 'number', min: 1, max: 1000, value: initial.limit ?? DEFAULT_LIMIT }),
    };
    const label = (text: string, field: HTMLElement) => el('label', {}, text, field);
    const out = el('div', { class: 'audit-out table-wrap' });
    const pageInfo = el('span', { class: 'muted', 'data-testid': 'audit-count', 'aria-live': 'polite' });
    const next = el('button', { id: 'audit-next', type: 'button', disabled: true }, 'Next page →');
    const csv = el('button', { id: 'audit-csv', type: 'button' }, 'Download CSV');
    const csvStatus = el('span', { class: 'muted', 'data-testid': 'csv-status', 'aria-live': 'polite' });
    let cursor: string | null = null;
    let page = 0;

    const current = (): Filters => {
      const f: Filters = {};
      for (const k of ['actor', 'team', 'employee_id', 'action', 'decision', 'limit'] as const) {
        const v = fields[k].value.trim();
        if (v) f[k] = v;
      }
      const from = toInstant(fields.from.value);
      const to = toInstant(fields.to.value);
      if (from) f.from = from;
      if (to) f.to = to;
      return f;
    };

    const show = async (filters: Filters, pageCursor: string | null): Promise<void> => {
      clearError(root);
      clear(out);
      next.disabled = true;
      const result = await withLoading(out, root, () => api.get<AuditPage>('/v1/audit/events', { ...filters, limit: filters.limit ?? DEFAULT_LIMIT, cursor: pageCursor ?? undefined }));
      if (!result) {
        pageInfo.textContent = '';
        return;
      }
      page = pageCursor ? page + 1 : 1;
      cursor = result.next_cursor;
      next.disabled = cursor === null;
      pageInfo.textContent = `Page ${page}: ${result.events.length} event${result.events.length === 1 ? '' : 's'}${cursor ? ', more on the next page' : ''}.`;
      out.appendChild(table(COLUMNS, result.events, { id: 'audit-events', empty: 'No event matches these filters.', rowAttrs: (e) => ({ 'data-seq': e.seq, 'data-decision': e.decision, class: e.decision === 'deny' ? 'deny' : undefined }) }));
    };

    const search = async (ev?: Event): Promise<void> => {
      ev?.preventDefault();
      const filters = current();
      const qs = new URLSearchParams(filters as Record<string, string>).toString();
      history.replaceState(null, '', qs ? `#/audit?${qs}` : '#/audit');
      await show(filters, null);
    };

    next.addEventListener('click', () => {
      if (cursor) void show(current(), cursor);
    });

    csv.addEventListener('click', async () => {
      clearError(root);
      csv.disabled = true;
      csvStatus.textContent = 'Collecting the matching events…';
      try {
        const filters = current();
        const events: AuditEvent[] = [];
        let at: string | null = null;
        do {
          const p: AuditPage = await api.get<AuditPage>('/v1/audit/events', { ...filters, limit: CSV_PAGE, cursor: at ?? undefined });
          events.push(...p.events);
          at = p.next_cursor;
        } while (at && events.length < CSV_MAX_ROWS);
        const truncated = at !== null;
        saveAs(eventsCsv(events), 'text/csv;charset=utf-8', `audit-events-${new Date().toISOString().replace(/[:.]/g, '-')}.csv`);
        csvStatus.textContent = `${events.length} events saved as CSV${truncated ? ` (stopped at ${CSV_MAX_ROWS}: narrow the filters for the rest)` : ''}.`;
      } catch (err) {
        csvStatus.textContent = '';
        showError(root, err);
      } finally {
        csv.disabled = false;
      }
    });

    const form = el(
      'form',
      { id: 'audit-filters', class: 'filters', onsubmit: (ev: Event) => void search(ev) },
      label('Actor', fields.actor),
      label('Team', fields.team),
      label('Employee id', fields.employee_id),
      label('Action', fields.action),
      label('Decision', fields.decision),
      label('From', fields.from),
      label('To', fields.to),
      label('Page size', fields.limit),
      el(
        'div',
        { class: 'actions' },
        el('button', { id: 'audit-search', type: 'submit', class: 'primary' }, 'Search'),
        el('button', { id: 'audit-reset', type: 'button', onclick: () => { form.reset(); for (const f of Object.values(fields)) if (f instanceof HTMLInputElement) f.value = f.name === 'limit' ? DEFAULT_LIMIT : ''; fields.decision.value = ''; void search(); } }, 'Clear'),
      ),
    );
    root.append(
      heading('Audit log', 'Every decision the vault took, allowed or denied, newest first. Employees appear as keyed references, never by id.'),
      form,
      el('div', { class: 'toolbar' }, pageInfo, next, csv, csvStatus),
      out,
    );
    await search();
  },
};
