import { ApiError, type Api } from '../api.js';
import { append, badge, clear, clearError, el, heading, showError, table, time, withLoading, type Child } from '../dom.js';
import type { ConsoleView, Session } from '../view.js';
import type { Alarm } from './alarms.js';

interface Revision {
  revision: string;
  sha256: string;
  signed_by: string;
  staged_by: string;
  staged_at: string;
  activated_by: string | null;
  activated_at: string | null;
  active: boolean;
  approved_by?: string | null;
  approved_at?: string | null;
  approval_used?: boolean;
}

interface Listing {
  active: string | null;
  bundles: Revision[];
}

/** `GET /v1/policy/bundles/{revision}/diff`: the pre-activation access diff (src/guard's AccessDiff). */
interface AccessDiff {
  against: string | null;
  revision: string;
  subjects: number;
  evaluations: number;
  teams: { team: string; units_before: string[]; units_after: string[]; gained: string[]; lost: string[]; employees_before: number; employees_after: number }[];
  violations: string[];
  growth: string[];
}

const bundlePath = (revision: string, rest = '') => `/v1/policy/bundles/${encodeURIComponent(revision)}${rest}`;

/** What a person reading the row needs first: in force, refused at its last try, approved, or only staged. */
function statusOf(r: Revision, refused: ReadonlySet<string>): { text: string; kind: string } {
  if (r.active) return { text: 'active', kind: 'active' };
  if (r.approved_by && !r.approval_used) return { text: 'approved', kind: 'approved' };
  if (refused.has(r.revision)) return { text: 'activation refused', kind: 'rejected' };
  if (r.activated_at) return { text: 'previously active', kind: 'previous' };
  return { text: 'staged', kind: 'staged' };
}

function units(list: readonly string[], className: string): Child {
  return list.length ? el('span', { class: className }, list.join(', ')) : el('span', { class: 'muted' }, '—');
}

function renderDiff(box: HTMLElement, diff: AccessDiff): void {
  clear(box);
  const changed = diff.teams.filter((t) => t.gained.length || t.lost.length || t.employees_before !== t.employees_after);
  box.append(
    el('h2', {}, 'Access diff ', el('code', {}, diff.against ?? '(nothing in force)'), ' → ', el('code', { 'data-testid': 'diff-revision' }, diff.revision)),
    el('p', { class: 'muted' }, `${diff.subjects} subjects, ${diff.evaluations} policy evaluations. ${changed.length} of ${diff.teams.length} teams change.`),
    table(
      [
        { label: 'Team', value: (t) => t.team },
        { label: 'Org units before', value: (t) => units(t.units_before, '') },
        { label: 'Org units after', value: (t) => units(t.units_after, '') },
        { label: 'Gains', value: (t) => units(t.gained, 'diff-gain') },
        { label: 'Loses', value: (t) => units(t.lost, 'diff-lose') },
        { label: 'Employees reachable', value: (t) => (t.employees_before === t.employees_after ? String(t.employees_after) : `${t.employees_before} → ${t.employees_after}`), className: 'num' },
      ],
      diff.teams,
      { id: 'access-diff', empty: 'No team reaches anything under either revision.', rowAttrs: (t) => ({ 'data-team': t.team, class: t.gained.length ? 'gains' : t.lost.length ? 'loses' : undefined }) },
    ),
  );
  if (diff.growth.length) {
    box.append(el('h3', {}, 'Growth: activation needs a second security admin'), el('ul', { 'data-testid': 'diff-growth', class: 'growth' }, ...diff.growth.map((g) => el('li', {}, g))));
  }
  if (diff.violations.length) {
    box.append(el('h3', {}, 'Violations: activation will be refused'), el('ul', { 'data-testid': 'diff-violations', class: 'violations' }, ...diff.violations.map((v) => el('li', {}, v))));
  }
}

/**
 * Policy revisions and their access diffs. The security admin approves and activates here; the
 * vault's two-person rule and its invariants decide, and a refusal is shown as the vault gave it.
 * The auditor reads the same page without the buttons.
 */
export const policyView: ConsoleView = {
  id: 'policy',
  title: 'Policy',
  roles: ['security-admin', 'auditor'],
  async render(root: HTMLElement, api: Api, session: Session) {
    const admin = session.roles.includes('security-admin');
    const list = el('div', { class: 'revisions-out table-wrap' });
    const detail = el('div', { class: 'diff-out table-wrap', 'aria-live': 'polite' });
    const notice = el('div', { 'data-testid': 'policy-notice', class: 'notice', 'aria-live': 'polite' });
    let selected = new URLSearchParams(location.hash.split('?')[1] ?? '').get('revision');

    const showDiff = async (revision: string): Promise<void> => {
      selected = revision;
      history.replaceState(null, '', `#/policy?revision=${encodeURIComponent(revision)}`);
      for (const tr of Array.from(list.querySelectorAll('tr[data-revision]'))) tr.classList.toggle('selected', tr.getAttribute('data-revision') === revision);
      clear(detail);
      const diff = await withLoading(detail, detail, () => api.get<AccessDiff>(bundlePath(revision, '/diff')));
      if (diff) renderDiff(detail, diff);
    };

    const act = async (action: 'approve' | 'activate', revision: string, button: HTMLButtonElement): Promise<void> => {
      clearError(root);
      clear(notice);
      button.disabled = true;
      try {
        if (action === 'approve') {
          const r = await api.send<{ approved_by: string; against: string | null; growth: string[] }>('POST', bundlePath(revision, '/approve'));
          append(notice, badge('approved', 'approved'), ` ${revision} approved by ${r.approved_by} against ${r.against ?? 'nothing in force'}. Another security admin may now activate it.`);
        } else {
          const r = await api.send<{ previous: string | null; approved_by?: string }>('POST', bundlePath(revision, '/activate'));
          append(notice, badge('active', 'active'), ` ${revision} is in force (was ${r.previous ?? 'nothing'})${r.approved_by ? `, approved by ${r.approved_by}` : ''}.`);
        }
      } catch (err) {
        const box = showError(root, err);
        if (err instanceof ApiError && err.code === 'policy_rejected') {
          box.setAttribute('data-refused', action);
          box.setAttribute('data-revision', revision);
        }
      } finally {
        button.disabled = false;
      }
      await load();
    };

    const load = async (): Promise<void> => {
      clear(list);
      // Errors of the listing go in the list itself: the refusal of an action, shown above, stays.
      const listing = await withLoading(list, list, () => api.get<Listing>('/v1/policy/bundles'));
      if (!listing) return;
      // Refused activations are alarms: the listing itself only knows what was staged and activated.
      const refused = new Set<string>();
      try {
        const { alarms } = await api.get<{ alarms: Alarm[] }>('/v1/audit/alarms', { limit: '200' });
        for (const a of alarms) if (a.action === 'policy.activate' && a.policy_revision) refused.add(a.policy_revision);
      } catch {
        // Without the alarms the status column falls back to staged; nothing else depends on them.
      }
      const columns = [
        { label: 'Revision', value: (r: Revision) => el('button', { type: 'button', class: 'link', 'data-action': 'diff', 'data-revision': r.revision, onclick: () => void showDiff(r.revision) }, r.revision) },
        { label: 'Status', value: (r: Revision) => { const s = statusOf(r, refused); return badge(s.text, s.kind); } },
        { label: 'Staged by', value: (r: Revision) => el('span', {}, r.staged_by, ' ', el('span', { class: 'muted' }, time(r.staged_at))) },
        { label: 'Approved by', value: (r: Revision): Child => (r.approved_by ? el('span', {}, r.approved_by, r.approval_used ? el('span', { class: 'muted' }, ' (used)') : '') : el('span', { class: 'muted' }, '—')) },
        { label: 'Activated', value: (r: Revision): Child => (r.activated_by ? el('span', {}, r.activated_by, ' ', el('span', { class: 'muted' }, time(r.activated_at))) : el('span', { class: 'muted' }, 'never')) },
        { label: 'In force', value: (r: Revision): Child => (r.active ? el('span', { class: 'active-marker', 'data-testid': 'active-marker', title: 'in force now' }, '● in force') : '') },
        { label: 'Signed by', value: (r: Revision) => el('code', {}, r.signed_by) },
      ];
      if (admin) {
        columns.push({
          label: 'Actions',
          value: (r: Revision): Child => {
            if (r.active) return '';
            const approve = el('button', { type: 'button', 'data-action': 'approve', 'data-revision': r.revision }, 'Approve');
            const activate = el('button', { type: 'button', class: 'primary', 'data-action': 'activate', 'data-revision': r.revision }, 'Activate');
            approve.addEventListener('click', () => void act('approve', r.revision, approve));
            activate.addEventListener('click', () => void act('activate', r.revision, activate));
            return el('div', { class: 'actions-cell' }, approve, activate);
          },
        });
      }
      list.appendChild(table(columns, listing.bundles, { id: 'revisions', empty: 'No revision staged.', rowAttrs: (r) => ({ 'data-revision': r.revision, 'data-active': r.active ? 'true' : undefined, class: r.revision === selected ? 'selected' : undefined }) }));
    };

    root.append(
      heading(
        'Policy',
        admin
          ? 'Staged revisions and who would gain or lose access. Activation re-checks every invariant; a revision that grows any team\u2019s reach needs a second security admin\u2019s approval.'
          : 'Staged revisions and who would gain or lose access (read only).',
      ),
      notice,
      list,
      detail,
    );
    await load();
    if (selected) await showDiff(selected);
    else detail.append(el('p', { class: 'muted' }, 'Select a revision to see its access diff against the revision in force.'));
  },
};
