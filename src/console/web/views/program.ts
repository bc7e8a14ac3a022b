import type { Api } from '../api.js';
import { badge, clear, clearError, el, heading, showError, time, withLoading, type Child } from '../dom.js';
import type { ConsoleView } from '../view.js';

interface ScopeStatus {
  paused: boolean;
  since: string | null;
  reason: string | null;
  paused_by: string | null;
  resume_requested_by: string | null;
}

interface ProgramStatus {
  collection: ScopeStatus;
  exports: ScopeStatus;
  resumed?: boolean;
}

type Scope = 'collection' | 'exports';

const SCOPE_LABEL: Record<Scope, string> = { collection: 'Collection', exports: 'Exports' };
const PAUSED_WORD: Record<Scope, string> = { collection: 'paused', exports: 'frozen' };

function scopeRow(scope: Scope, s: ScopeStatus): HTMLElement {
  const state = s.paused ? 'paused' : 'running';
  const detail: Child[] = [];
  if (s.paused) {
    detail.push(`${PAUSED_WORD[scope]} since `, time(s.since));
    if (s.paused_by) detail.push(` by ${s.paused_by}`);
    if (s.reason) detail.push(el('span', { class: 'reason' }, ` — “${s.reason}”`));
    if (s.resume_requested_by) {
      detail.push(el('div', { class: 'muted', 'data-testid': 'resume-requested' }, `resume requested by ${s.resume_requested_by}; a second person must confirm`));
    }
  } else {
    detail.push('running');
  }
  return el(
    'div',
    { class: 'status-row', 'data-scope': scope, 'data-state': state },
    el('span', { class: 'status-label' }, SCOPE_LABEL[scope]),
    ' ',
    badge(s.paused ? PAUSED_WORD[scope] : 'running', s.paused ? 'deny' : 'allow'),
    ' ',
    el('span', { class: 'status-detail' }, ...detail),
  );
}

function renderStatus(box: HTMLElement, status: ProgramStatus): void {
  clear(box);
  box.append(scopeRow('collection', status.collection), scopeRow('exports', status.exports));
}

/**
 * The kill switch: the whole program's collection and exports, for the privacy officer and the
 * security admin (both may pull it). Every action reads the status back, so what is shown is
 * what the vault enforces, not what the button meant.
 */
export const programView: ConsoleView = {
  id: 'program',
  title: 'Program',
  roles: ['privacy-officer', 'security-admin'],
  async render(root: HTMLElement, api: Api) {
    const status = el('section', { 'data-testid': 'program-status', class: 'card program-status', 'aria-live': 'polite' });
    const notice = el('p', { class: 'muted', 'data-testid': 'program-notice' });
    const reason = el('input', { id: 'program-reason', name: 'reason', type: 'text', maxlength: 500, placeholder: 'why (kept in the audit log)', autocomplete: 'off' });
    const refresh = async (): Promise<void> => {
      const s = await withLoading(status, root, () => api.get<ProgramStatus>('/v1/program/status'));
      if (s) renderStatus(status, s);
    };

    const act = (path: 'pause' | 'resume', scope: Scope) => async (): Promise<void> => {
      clearError(root);
      notice.textContent = '';
      const why = reason.value.trim();
      if (!why) {
        showError(root, new Error('give a reason: it is written to the audit log with the change'));
        reason.focus();
        return;
      }
      buttons.forEach((b) => (b.disabled = true));
      try {
        const result = await api.send<ProgramStatus>('POST', `/v1/program/${path}`, { reason: why, scope });
        if (path === 'resume' && scope === 'exports' && result.resumed === false) {
          notice.textContent = 'Resume of exports requested. A second person must confirm it before datasets flow again.';
        }
        reason.value = '';
      } catch (err) {
        showError(root, err);
      } finally {
        buttons.forEach((b) => (b.disabled = false));
        await refresh();
      }
    };

    const buttons = [
      el('button', { id: 'pause-collection', type: 'button', class: 'danger', onclick: act('pause', 'collection') }, 'Pause collection'),
      el('button', { id: 'resume-collection', type: 'button', onclick: act('resume', 'collection') }, 'Resume collection'),
      el('button', { id: 'freeze-exports', type: 'button', class: 'danger', onclick: act('pause', 'exports') }, 'Freeze exports'),
      el('button', { id: 'resume-exports', type: 'button', onclick: act('resume', 'exports') }, 'Resume exports'),
    ];

    root.append(
      heading(
        'Program',
        'The kill switch. Paused collection: every instance refuses ingest within a second, and records captured after the pause are dropped whenever they arrive. Frozen exports: no dataset is granted and open streams are cut; resuming exports takes two people.',
      ),
      status,
      el(
        'form',
        { class: 'card controls', onsubmit: (ev: Event) => ev.preventDefault() },
        el('label', { for: 'program-reason' }, 'Reason'),
        reason,
        el('div', { class: 'toolbar' }, ...buttons),
        notice,
      ),
    );
    await refresh();
  },
};
