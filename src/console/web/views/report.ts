import type { Api } from '../api.js';
import { clear, el, heading, showError, table, time, withLoading } from '../dom.js';
import type { ConsoleView } from '../view.js';

export interface AccessReport {
  employee_id: string;
  summary: {
    records: number;
    unreadable: number;
    datasets: number;
    by_month_and_kind: { month: string; kind: string; records: number; unreadable: number }[];
  };
  datasets: {
    dataset_id: string;
    decision_id: string;
    requested_by: string;
    teams: string[];
    purpose: string;
    policy_revision: string;
    granted_at: string;
    expires_at: string;
    records_of_employee: number;
    streamed: { pages: number; records_served: number; first_at: string | null; last_at: string | null };
  }[];
}

/**
 * Fetches and shows one employee's access report into `container`: `[data-testid=report-summary]`
 * and `table#report-datasets`. Shared by the auditor's report view and the employee's own view.
 */
export async function renderAccessReport(container: HTMLElement, api: Api, employeeId: string): Promise<AccessReport | undefined> {
  clear(container);
  const report = await withLoading(container, container, () => api.get<AccessReport>(`/v1/employees/${encodeURIComponent(employeeId)}/access-report`));
  if (!report) return undefined;
  const s = report.summary;
  container.appendChild(
    el(
      'section',
      { 'data-testid': 'report-summary', class: 'summary' },
      el('div', { class: 'stat' }, el('span', { class: 'stat-value' }, s.datasets), el('span', { class: 'stat-label' }, s.datasets === 1 ? 'dataset reached these records' : 'datasets reached these records')),
      el('div', { class: 'stat' }, el('span', { class: 'stat-value' }, s.records), el('span', { class: 'stat-label' }, 'records held')),
      el('div', { class: 'stat' }, el('span', { class: 'stat-value' }, s.unreadable), el('span', { class: 'stat-label' }, 'unreadable (erased keys)')),
    ),
  );
  container.appendChild(el('h2', {}, 'Datasets'));
  container.appendChild(
    table(
      [
        { label: 'Granted', value: (d) => time(d.granted_at) },
        { label: 'Dataset', value: (d) => el('code', {}, d.dataset_id) },
        { label: 'Requested by', value: (d) => d.requested_by },
        { label: 'Teams', value: (d) => d.teams.join(', ') },
        { label: 'Purpose', value: (d) => d.purpose },
        { label: 'Records of employee', value: (d) => d.records_of_employee, className: 'num' },
        { label: 'Records streamed', value: (d) => d.streamed.records_served, className: 'num' },
        { label: 'Last streamed', value: (d) => time(d.streamed.last_at) },
        { label: 'Expires', value: (d) => time(d.expires_at) },
        { label: 'Policy revision', value: (d) => el('code', {}, d.policy_revision) },
      ],
      report.datasets,
      { id: 'report-datasets', empty: 'No dataset has reached these records.', rowAttrs: (d) => ({ 'data-dataset': d.dataset_id }) },
    ),
  );
  if (s.by_month_and_kind.length > 0) {
    container.appendChild(el('h2', {}, 'Records by month and kind'));
    container.appendChild(
      table(
        [
          { label: 'Month', value: (r) => r.month },
          { label: 'Kind', value: (r) => r.kind },
          { label: 'Records', value: (r) => r.records, className: 'num' },
          { label: 'Unreadable', value: (r) => r.unreadable, className: 'num' },
        ],
        s.by_month_and_kind,
        { id: 'report-months' },
      ),
    );
  }
  return report;
}

export const reportView: ConsoleView = {
  id: 'report',
  title: 'Access report',
  roles: ['auditor', 'privacy-officer'],
  async render(root, api) {
    const out = el('div', { class: 'report-out' });
    const input = el('input', { id: 'report-employee', name: 'employee_id', type: 'text', placeholder: 'employee id', required: true, autocomplete: 'off' });
    const run = async (ev: Event): Promise<void> => {
      ev.preventDefault();
      const id = input.value.trim();
      if (!id) {
        showError(out, new Error('enter an employee id'));
        return;
      }
      await renderAccessReport(out, api, id);
    };
    root.append(
      heading('Access report', "Every dataset and decision that reached one employee's records."),
      el('form', { class: 'toolbar', onsubmit: run }, el('label', {}, 'Employee ', input), el('button', { id: 'report-run', type: 'submit', class: 'primary' }, 'Show report')),
      out,
    );
  },
};
