import type { Api } from '../api.js';
import { clearError, el, heading, showError } from '../dom.js';
import type { ConsoleView, Session } from '../view.js';
import { renderConsentState, renderExposure, renderPauseState, saveAs, type CaptureState, type ConsentView } from './privacy.js';
import { renderAccessReport } from './report.js';

const PAUSE_MINUTES = 30;

/**
 * The employee's own page: who read their records, what they consented to, a pause button and
 * their own copy. The token's `sub` is their employee id; the vault checks it on every call.
 */
export const meView: ConsoleView = {
  id: 'me',
  title: 'My data',
  roles: ['employee'],
  async render(root: HTMLElement, api: Api, session: Session) {
    const id = session.sub;
    const base = `/v1/employees/${encodeURIComponent(id)}`;
    let capture: CaptureState | undefined;
    let consent: ConsentView | undefined;
    const pauseState = el('div', { 'data-testid': 'pause-state', class: 'state', 'aria-live': 'polite' });
    const consentState = el('div', { 'data-testid': 'consent-state', class: 'state', 'aria-live': 'polite' });
    const report = el('div', { class: 'report-out' });
    const exposure = el('div', { class: 'exposure-out' });
    const downloaded = el('span', { class: 'muted', 'data-testid': 'download-status' });

    const change = async (method: 'POST' | 'DELETE', rest: string, body?: unknown): Promise<void> => {
      clearError(root);
      try {
        capture = await api.send<CaptureState>(method, `${base}/${rest}`, body);
        renderPauseState(pauseState, capture);
        renderConsentState(consentState, consent, capture);
      } catch (err) {
        showError(root, err);
      }
    };

    const download = async (): Promise<void> => {
      clearError(root);
      downloaded.textContent = 'Preparing…';
      try {
        const ndjson = await api.getText(`${base}/records`);
        const lines = ndjson.split('\n').filter((l) => l !== '').length;
        saveAs(ndjson, 'application/x-ndjson', `my-activity-records-${id}.ndjson`);
        downloaded.textContent = `${lines} ${lines === 1 ? 'record' : 'records'} saved.`;
      } catch (err) {
        downloaded.textContent = '';
        showError(root, err);
      }
    };

    renderPauseState(pauseState, undefined);
    renderConsentState(consentState, undefined, undefined);
    root.append(
      heading('My data', `What the vault holds about you (${id}), who has read it, and your controls.`),
      el(
        'section',
        { class: 'card' },
        el('h2', {}, 'Pause'),
        pauseState,
        el(
          'div',
          { class: 'toolbar' },
          el('button', { id: 'pause-me', type: 'button', class: 'primary', onclick: () => change('POST', 'pause', { minutes: PAUSE_MINUTES }) }, `Pause for ${PAUSE_MINUTES} minutes`),
          el('button', { id: 'resume-me', type: 'button', onclick: () => change('DELETE', 'pause') }, 'Resume now'),
        ),
      ),
      el(
        'section',
        { class: 'card' },
        el('h2', {}, 'Consent'),
        consentState,
        el(
          'div',
          { class: 'toolbar' },
          el('button', { id: 'me-opt-out', type: 'button', class: 'danger', onclick: () => change('POST', 'opt-out') }, 'Opt out'),
          el('button', { id: 'me-opt-in', type: 'button', onclick: () => change('DELETE', 'opt-out') }, 'Opt back in'),
        ),
      ),
      el(
        'section',
        { class: 'card' },
        el('h2', {}, 'My own copy'),
        el('p', {}, 'Every record the vault holds about you, decrypted, one JSON object a line.'),
        el('div', { class: 'toolbar' }, el('button', { id: 'download-records', type: 'button', onclick: download }, 'Download my records (NDJSON)'), downloaded),
      ),
      el('section', { class: 'card' }, el('h2', {}, 'Who could read my records'), exposure),
      el('section', { class: 'card' }, el('h2', {}, 'Who has read my records'), report),
    );

    await Promise.all([
      (async () => {
        try {
          consent = await api.get<ConsentView>(`${base}/consent`);
          capture ??= consent.capture;
          renderPauseState(pauseState, capture);
          renderConsentState(consentState, consent, capture);
        } catch (err) {
          showError(root, err);
        }
      })(),
      renderExposure(exposure, api, id),
      renderAccessReport(report, api, id),
    ]);
  },
};
