import type { AuditLog } from '../audit/index.js';
import type { Principal } from '../auth/index.js';
import { datasetsReachingEmployee, employeeExists, employeeRecordSummary, type AccessReportRow, type RecordSummaryRow, type VaultDatabase } from '../db/index.js';
import { VaultError } from '../errors/index.js';

/** A lease that reached an employee's records, as the employee's reports show it. */
export interface LeaseOfEmployee {
  readonly dataset_id: string;
  readonly decision_id: string;
  readonly requested_by: string;
  readonly teams: string[];
  readonly purpose: string;
  readonly policy_revision: string;
  readonly granted_at: string;
  readonly expires_at: string;
  readonly records_of_employee: number;
}

export function leaseOfEmployee(d: AccessReportRow): LeaseOfEmployee {
  return {
    dataset_id: d.datasetId,
    decision_id: d.decisionId,
    requested_by: d.requester,
    teams: d.teams,
    purpose: d.purpose,
    policy_revision: d.policyRevision,
    granted_at: d.createdAt.toISOString(),
    expires_at: d.expiresAt.toISOString(),
    records_of_employee: d.employeeRecords,
  };
}

export interface AccessReport {
  readonly employee_id: string;
  /** What is stored about the employee: records per month and kind, and how many datasets used them. */
  readonly summary: {
    readonly records: number;
    /** Of them, records whose key was destroyed (erased or expired): stored until deleted, never readable. */
    readonly unreadable: number;
    readonly by_month_and_kind: RecordSummaryRow[];
    readonly datasets: number;
  };
  readonly datasets: Array<LeaseOfEmployee & { streamed: { pages: number; records_served: number; first_at: string | null; last_at: string | null } }>;
}

const NOT_STREAMED = { pages: 0, records_served: 0, first_at: null, last_at: null } as const;

/** Whether `principal` may read the access report of `employeeId`: auditors and privacy officers any, an employee their own. */
export function mayReadAccessReport(principal: Principal, employeeId: string): boolean {
  if (principal.roles.some((r) => r === 'auditor' || r === 'privacy-officer')) return true;
  return !principal.roles.includes('employee') || principal.sub === employeeId;
}

/** "Who read my data": every dataset that reached an employee's records, when, by whom, for what, and its streams. */
export class AccessReports {
  constructor(private readonly deps: { readonly database: VaultDatabase; readonly audit: AuditLog }) {}

  async accessReport(principal: Principal, employeeId: string): Promise<AccessReport> {
    const { database, audit } = this.deps;
    const refuse = (error: VaultError, reason: string, severity: 'info' | 'high'): Promise<never> => audit.refuse(error, { action: 'employee.access_report', actor: principal, employeeId, reason, severity });
    if (!mayReadAccessReport(principal, employeeId)) {
      return refuse(new VaultError('ERR_FORBIDDEN', 'an employee may read only their own access report'), 'not_own_report', 'high');
    }
    if (!(await employeeExists(database.db, employeeId))) return refuse(new VaultError('ERR_NOT_FOUND', 'no such employee'), 'no_such_employee', 'info');
    const [datasets, stored] = await Promise.all([datasetsReachingEmployee(database.db, employeeId), employeeRecordSummary(database.db, employeeId)]);
    const streams = await audit.streamSummaries(datasets.map((d) => d.decisionId));
    const report: AccessReport = {
      employee_id: employeeId,
      summary: {
        records: stored.reduce((n, r) => n + r.records, 0),
        unreadable: stored.reduce((n, r) => n + r.unreadable, 0),
        by_month_and_kind: stored,
        datasets: datasets.length,
      },
      datasets: datasets.map((d) => ({ ...leaseOfEmployee(d), streamed: { ...(streams.get(d.decisionId) ?? NOT_STREAMED) } })),
    };
    await audit.appendAlone({ action: 'employee.access_report', decision: 'allow', actor: principal, employeeId, recordCount: report.datasets.length, details: { datasets: report.datasets.length } });
    return report;
  }
}
