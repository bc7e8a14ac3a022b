import type { Api } from '../api.js';
import { badge, clear, el, heading, table, time, withLoading, type Child } from '../dom.js';
import type { ConsoleView } from '../view.js';
import { reasonOf } from './audit.js';

/** One alarm as `GET /v1/audit/alarms` returns it, newest first. */
export interface Alarm {
  seq: number;
  at: string;
  action: string;
  actor: string | null;
  teams: string[];
  decision: string;
  reason: string | null;
  details: Record<string, unknown>;
  decision_id: string | null;
  policy_revision: string | null;
}

interface AlarmPage {
  alarms: Alarm[];
  next_cursor: string | null;
}

const PAGE = '50';

/** The alarm's kind as the vault names it (`details.alarm`: scope_breach, activation_refused, ...), else its action. */
export function alarmKind(a: Alarm): string {
  return typeof a.details?.alarm === 'string' ? a.details.alarm : a.action;
}

function violations(a: Alarm): string[] {
  const v = a.details?.violations;
  return Array.isArray(v) ? v.filter((x): x is string => typeof x === 'string') : [];
}

/**
 * What the security admin is paged for: scope breaches the guard denied and policy activations
 * the vault refused, newest first, page by page.
 */
export const alarmsView: ConsoleView = {
  id: 'alarms',
  title: 'Alarms',
  roles: ['security-admin', 'auditor'],
  async render(root: HTMLElement, api: Api) {
    const out = el('div', { class: 'alarms-out table-wrap' });
    const info = el('span', { class: 'muted', 'data-testid': 'alarms-count', 'aria-live': 'polite' });
    const next = el('button', { id: 'alarms-next', type: 'button', disabled: true }, 'Older alarms →');
    const first = el('button', { id: 'alarms-first', type: 'button' }, 'Newest');
    let cursor: string | null = null;
    let page = 0;

    const show = async (at: string | null): Promise<void> => {
      clear(out);
      next.disabled = true;
      const result = await withLoading(out, root, () => api.get<AlarmPage>('/v1/audit/alarms', { limit: PAGE, cursor: at ?? undefined }));
      if (!result) return;
      page = at ? page + 1 : 1;
      cursor = result.next_cursor;
      next.disabled = cursor === null;
      info.textContent = `Page ${page}: ${result.alarms.length} alarm${result.alarms.length === 1 ? '' : 's'}${cursor ? ', older ones on the next page' : ''}.`;
      out.appendChild(
        table(
          [
            { label: 'Time', value: (a) => time(a.at) },
            { label: 'Alarm', value: (a) => badge(alarmKind(a), 'deny') },
            { label: 'Action', value: (a) => el('code', {}, a.action) },
            { label: 'Actor', value: (a): Child => a.actor ?? el('span', { class: 'muted' }, '—') },
            { label: 'Teams', value: (a) => a.teams.join(', ') },
            {
              label: 'Reason',
              value: (a) => {
                const v = violations(a);
                const reason = a.reason ?? reasonOf(a.details);
                return v.length ? el('details', { class: 'event-details' }, el('summary', {}, reason || `${v.length} violations`), el('ul', { class: 'violations' }, ...v.map((x) => el('li', {}, x)))) : reason;
              },
            },
            { label: 'Revision', value: (a): Child => (a.policy_revision ? el('code', {}, a.policy_revision) : '') },
            { label: 'Decision', value: (a): Child => (a.decision_id ? el('code', { title: a.decision_id }, a.decision_id.slice(0, 8)) : '') },
          ],
          result.alarms,
          { id: 'alarms', empty: 'No alarm raised.', rowAttrs: (a) => ({ 'data-seq': a.seq, 'data-kind': alarmKind(a), 'data-revision': a.policy_revision ?? undefined }) },
        ),
      );
    };

    next.addEventListener('click', () => {
      if (cursor) void show(cursor);
    });
    first.addEventListener('click', () => void show(null));
    root.append(heading('Alarms', 'Scope breaches the vault denied and policy activations it refused: each one is a high-severity audit event.'), el('div', { class: 'toolbar' }, first, next, info), out);
    await show(null);
  },
};
