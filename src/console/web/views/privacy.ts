import type { Api } from '../api.js';
import { append, badge, clear, clearError, el, heading, showError, table, time, withLoading } from '../dom.js';
import type { ConsoleView } from '../view.js';

/** What the vault answers to every pause, resume, opt-out and opt-in. */
export interface CaptureState {
  employee_id: string;
  paused: boolean;
  opted_out: boolean;
  paused_until: string | null;
}

export interface ConsentView {
  employee_id: string;
  enrolled: boolean;
  consented_version: number | null;
  consented_at: string | null;
  manifest_version: number;
  kinds_consented: string[];
  kinds_needing_consent: string[];
  /** Paused or opted out now (older vaults leave it out). */
  capture?: CaptureState;
}

interface ExposurePath {
  purpose: string;
  org_units: string[];
  kinds: string[];
  max_sensitivity: number;
}

interface Exposure {
  employee_id: string;
  policy_revision: string;
  computed_at: string;
  org_units: string[];
  teams: { team: string; paths: ExposurePath[] }[];
  open_leases: { dataset_id: string; requested_by: string; teams: string[]; purpose: string; granted_at: string; expires_at: string; records_of_employee: number }[];
}

interface ErasureReceipt {
  employee_id: string;
  receipt: {
    type: string;
    erasure_id: string;
    employee_ref: string;
    key_versions_destroyed: number[];
    key_versions_destroyed_before: number[];
    records_unreadable: number;
    erased_at: string;
    audit_event_id: string;
  };
  statement: string;
  signature: string;
  key_id: string;
  public_key_pem: string;
}

const employeePath = (id: string, rest: string) => `/v1/employees/${encodeURIComponent(id)}/${rest}`;

/**
 * Shows the pause part of a capture state in `[data-testid=pause-state]`; before any change in this
 * tab the vault has not told the console, so it says so rather than guess.
 */
export function renderPauseState(box: HTMLElement, state: CaptureState | undefined): void {
  clear(box);
  if (!state) {
    box.setAttribute('data-state', 'unknown');
    box.append(el('span', { class: 'muted' }, 'Capture state not known yet.'));
    return;
  }
  box.setAttribute('data-state', state.paused ? 'paused' : 'capturing');
  if (state.paused) append(box, badge('paused', 'deny'), ' capture paused until ', time(state.paused_until), '; records captured in the window are dropped whenever they arrive.');
  else box.append(badge('capturing', 'allow'), state.opted_out ? ' no pause running (opted out: nothing is captured).' : ' no pause running.');
}

/** Shows consent in `[data-testid=consent-state]`: opted in or out (when known) and which manifest version was agreed to. */
export function renderConsentState(box: HTMLElement, consent: ConsentView | undefined, capture: CaptureState | undefined): void {
  clear(box);
  box.setAttribute('data-state', capture ? (capture.opted_out ? 'opted-out' : 'opted-in') : 'unknown');
  if (capture) box.append(el('div', {}, capture.opted_out ? badge('opted out', 'deny') : badge('opted in', 'allow'), capture.opted_out ? ' capture is stopped until an opt-in.' : ' capture runs within the manifest.'));
  if (!consent) return;
  const agreed = consent.consented_version === null ? el('span', {}, 'no manifest version consented to yet') : el('span', {}, `consented to manifest v${consent.consented_version} on `, time(consent.consented_at));
  box.append(
    el('div', {}, consent.enrolled ? 'Enrolled; ' : 'Not enrolled; ', agreed, `; manifest in force v${consent.manifest_version}.`),
    el('div', { class: 'muted' }, `Kinds consented: ${consent.kinds_consented.join(', ') || 'none'}.`, consent.kinds_needing_consent.length ? ` Need fresh consent: ${consent.kinds_needing_consent.join(', ')}.` : ''),
  );
}

/** Who could be granted this employee's records under the policy in force (`table#exposure`) and the open leases that hold them. */
export async function renderExposure(container: HTMLElement, api: Api, employeeId: string): Promise<void> {
  clear(container);
  const exposure = await withLoading(container, container, () => api.get<Exposure>(employeePath(employeeId, 'exposure')));
  if (!exposure) return;
  const rows = exposure.teams.flatMap((t) => t.paths.map((p) => ({ team: t.team, ...p })));
  container.append(
    el('p', { class: 'muted' }, `Under policy revision `, el('code', {}, exposure.policy_revision), `, for org unit ${exposure.org_units.join(', ') || '—'}:`),
    table(
      [
        { label: 'Team', value: (r) => r.team },
        { label: 'Purpose', value: (r) => r.purpose },
        { label: 'Kinds', value: (r) => r.kinds.join(', ') },
        { label: 'Up to level', value: (r) => r.max_sensitivity, className: 'num' },
        { label: 'Org units', value: (r) => r.org_units.join(', ') },
      ],
      rows,
      { id: 'exposure', empty: 'No team could be granted these records under the policy in force.', rowAttrs: (r) => ({ 'data-team': r.team }) },
    ),
    el('h3', {}, 'Open leases holding these records'),
    table(
      [
        { label: 'Dataset', value: (l) => el('code', {}, l.dataset_id) },
        { label: 'Teams', value: (l) => l.teams.join(', ') },
        { label: 'Purpose', value: (l) => l.purpose },
        { label: 'Records', value: (l) => l.records_of_employee, className: 'num' },
        { label: 'Granted', value: (l) => time(l.granted_at) },
        { label: 'Expires', value: (l) => time(l.expires_at) },
      ],
      exposure.open_leases,
      { id: 'exposure-leases', empty: 'No open lease holds these records.' },
    ),
  );
}

/** Saves `body` as a file through a Blob URL (no server round trip, nothing left in the page). */
export function saveAs(body: BlobPart, type: string, filename: string): void {
  const url = URL.createObjectURL(new Blob([body], { type }));
  const a = el('a', { href: url, download: filename, hidden: true });
  document.body.appendChild(a);
  a.click();
  a.remove();
  setTimeout(() => URL.revokeObjectURL(url), 10_000);
}

function renderReceipt(box: HTMLElement, r: ErasureReceipt): void {
  clear(box);
  const rc = r.receipt;
  const row = (label: string, value: Node | string | number) => [el('dt', {}, label), el('dd', {}, value)];
  box.append(
    el('h3', {}, 'Erasure receipt ', badge('signed', 'allow')),
    el(
      'dl',
      { class: 'receipt' },
      ...row('Employee', r.employee_id),
      ...row('Erasure id', el('code', {}, rc.erasure_id)),
      ...row('Erased at', el('time', { datetime: rc.erased_at, title: rc.erased_at }, rc.erased_at)),
      ...row('Records made unreadable', rc.records_unreadable),
      ...row('Key versions destroyed', rc.key_versions_destroyed.join(', ') || '—'),
      ...row('Audit event', el('code', {}, rc.audit_event_id)),
      ...row('Signing key', el('code', {}, r.key_id)),
      ...row('Signature (Ed25519, base64)', el('code', { class: 'wrap', 'data-testid': 'receipt-signature' }, r.signature)),
    ),
    el('button', { id: 'receipt-download', type: 'button', onclick: () => saveAs(JSON.stringify(r, null, 2), 'application/json', `erasure-receipt-${r.employee_id}.json`) }, 'Download receipt (JSON)'),
  );
}

/**
 * Renders the pause, consent and erasure controls for one employee into `panel`. Every control
 * shows what the vault answered, never what was asked.
 */
function renderEmployee(panel: HTMLElement, api: Api, id: string): void {
  let capture: CaptureState | undefined;
  let consent: ConsentView | undefined;
  const pauseState = el('div', { 'data-testid': 'pause-state', class: 'state', 'aria-live': 'polite' });
  const consentState = el('div', { 'data-testid': 'consent-state', class: 'state', 'aria-live': 'polite' });
  const receipt = el('div', { 'data-testid': 'erasure-receipt', class: 'receipt-box', 'aria-live': 'polite' });
  const exposure = el('div', { class: 'exposure-out' });
  const minutes = el('input', { id: 'pause-minutes', name: 'minutes', type: 'number', min: 1, max: 120, value: 30 });
  const confirm = el('input', { id: 'erase-confirm', name: 'confirm', type: 'text', placeholder: `type ${id} to confirm`, autocomplete: 'off', spellcheck: 'false' });

  const change = async (method: 'POST' | 'DELETE', rest: string, body?: unknown): Promise<void> => {
    clearError(panel);
    try {
      capture = await api.send<CaptureState>(method, employeePath(id, rest), body);
      renderPauseState(pauseState, capture);
      renderConsentState(consentState, consent, capture);
    } catch (err) {
      showError(panel, err);
    }
  };

  const erase = el('button', { id: 'employee-erase', type: 'button', class: 'danger', disabled: true }, 'Erase for ever');
  confirm.addEventListener('input', () => (erase.disabled = confirm.value !== id));
  erase.addEventListener('click', async () => {
    if (confirm.value !== id) return;
    clearError(panel);
    erase.disabled = true;
    try {
      renderReceipt(receipt, await api.send<ErasureReceipt>('POST', employeePath(id, 'erase'), {}));
      confirm.value = '';
    } catch (err) {
      showError(panel, err);
      erase.disabled = confirm.value !== id;
    }
  });

  renderPauseState(pauseState, undefined);
  renderConsentState(consentState, undefined, undefined);
  panel.append(
    el('h2', {}, `Employee `, el('code', { 'data-testid': 'employee-shown' }, id)),
    el(
      'section',
      { class: 'card' },
      el('h3', {}, 'Pause capture'),
      pauseState,
      el(
        'div',
        { class: 'toolbar' },
        el('label', { for: 'pause-minutes' }, 'Minutes (1–120) '),
        minutes,
        el('button', { id: 'employee-pause', type: 'button', onclick: () => change('POST', 'pause', { minutes: Number(minutes.value) }) }, 'Pause'),
        el('button', { id: 'employee-resume', type: 'button', onclick: () => change('DELETE', 'pause') }, 'End pause'),
      ),
    ),
    el(
      'section',
      { class: 'card' },
      el('h3', {}, 'Consent'),
      consentState,
      el(
        'div',
        { class: 'toolbar' },
        el('button', { id: 'employee-opt-out', type: 'button', class: 'danger', onclick: () => change('POST', 'opt-out') }, 'Opt out'),
        el('button', { id: 'employee-opt-in', type: 'button', onclick: () => change('DELETE', 'opt-out') }, 'Opt back in'),
      ),
    ),
    el('section', { class: 'card' }, el('h3', {}, 'Exposure'), exposure),
    el(
      'section',
      { class: 'card danger-zone' },
      el('h3', {}, 'Erasure'),
      el('p', {}, 'Crypto-shredding: every data key of this employee is destroyed. Their records can never be decrypted again, by anyone. This cannot be undone.'),
      el('div', { class: 'toolbar' }, el('label', { for: 'erase-confirm' }, 'Type the employee id '), confirm, erase),
      receipt,
    ),
  );

  void (async () => {
    try {
      consent = await api.get<ConsentView>(employeePath(id, 'consent'));
      // A change made while the read was in flight is newer than the read.
      capture ??= consent.capture;
      renderPauseState(pauseState, capture);
      renderConsentState(consentState, consent, capture);
    } catch (err) {
      showError(panel, err);
    }
  })();
  void renderExposure(exposure, api, id);
}

export const privacyView: ConsoleView = {
  id: 'privacy',
  title: 'Employees',
  roles: ['privacy-officer'],
  async render(root: HTMLElement, api: Api) {
    const input = el('input', { id: 'employee-id', name: 'employee_id', type: 'text', placeholder: 'employee id', required: true, autocomplete: 'off', spellcheck: 'false' });
    const panel = el('div', { class: 'employee-panel' });
    const open = (ev: Event): void => {
      ev.preventDefault();
      clear(panel);
      const id = input.value.trim();
      if (!id) {
        showError(panel, new Error('enter an employee id'));
        return;
      }
      renderEmployee(panel, api, id);
    };
    root.append(
      heading('Employees', "One employee's capture: pause it, record their consent or opt-out, see who could read their records, erase them."),
      el('form', { class: 'toolbar', onsubmit: open }, el('label', { for: 'employee-id' }, 'Employee '), input, el('button', { id: 'employee-open', type: 'submit', class: 'primary' }, 'Open')),
      panel,
    );
  },
};
