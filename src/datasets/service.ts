import { createHmac, randomBytes, randomUUID } from 'node:crypto';
import type { AuditLog } from '../audit/index.js';
import type { Principal } from '../auth/index.js';
import { dataKeyId, type KeyRing, type StoredDataKey } from '../crypto/index.js';
import {
  auditEventsForDecisions,
  countEnrolledByOrgUnit,
  datasetsReachingEmployee,
  employeeExists,
  employeeKeyStates,
  findLease,
  insertLease,
  readScopePage,
  recordDatasetReach,
  setLeaseReach,
  type DatasetScope,
  type LeaseRow,
  type VaultDatabase,
} from '../db/index.js';
import { isVaultError, VaultError } from '../errors/index.js';
import { breachError, findInvariantBreach, findRecordsReachBreach, type BlastRadiusLimits, type InvariantBreach } from '../guard/index.js';
import type { PolicyEngine } from '../policy/index.js';
import { formatCursor, parseCursor, type StreamPosition } from './cursor.js';
import { parseDatasetRequest, type DatasetRequest } from './request.js';

export const LEASE_HOURS = 24;
export const PAGE_RECORDS = 5000;

export interface DatasetGrant {
  readonly dataset_id: string;
  readonly scope: { org_units: string[]; kinds: string[]; max_sensitivity: number; from: string; to: string };
  readonly record_count: number;
  readonly employee_count: number;
  readonly expires_at: string;
  readonly policy_revision: string;
  readonly decision_id: string;
}

export interface DatasetDeps {
  readonly database: VaultDatabase;
  readonly keyRing: KeyRing;
  readonly audit: AuditLog;
  readonly policy: PolicyEngine;
  /** Most of all enrolled employees one decision may reach (VAULT_MAX_SCOPE_FRACTION). */
  readonly maxScopeFraction: number;
  readonly now?: () => Date;
  /** Operator log; alarms carry an `alarm` field a SIEM can match on. */
  readonly log?: (event: Record<string, unknown>, message: string) => void;
}

const intersect = (a: readonly string[], b: readonly string[]) => [...new Set(b.length === 0 ? a : a.filter((x) => b.includes(x)))].sort();

function requestForPolicy(r: DatasetRequest): Record<string, unknown> {
  return {
    purpose: r.purpose,
    kinds: r.kinds,
    org_units: r.orgUnits,
    from: r.from.toISOString(),
    to: r.to.toISOString(),
    ...(r.maxSensitivity === undefined ? {} : { max_sensitivity: r.maxSensitivity }),
  };
}

function pageBody(prefixes: readonly string[], payloads: readonly Buffer[]): Buffer {
  let size = 0;
  for (let i = 0; i < prefixes.length; i++) size += prefixes[i]!.length + payloads[i]!.length + 2;
  const body = Buffer.allocUnsafe(size);
  let at = 0;
  for (let i = 0; i < prefixes.length; i++) {
    at += body.write(prefixes[i]!, at, 'latin1');
    at += payloads[i]!.copy(body, at);
    body[at++] = 0x7d;
    body[at++] = 0x0a;
    payloads[i]!.fill(0);
  }
  return body;
}

/**
 * Training jobs' datasets: a request becomes a policy decision, the decision a lease whose scope is
 * frozen, and the lease a stream of decrypted records. Every step is audited in the transaction
 * that does it; a page is sent only after its audit event committed.
 */
export class DatasetService {
  readonly #deps: DatasetDeps;

  constructor(deps: DatasetDeps) {
    this.#deps = deps;
  }

  #now(): Date {
    return this.#deps.now?.() ?? new Date();
  }

  async request(principal: Principal, body: unknown): Promise<DatasetGrant> {
    const request = parseDatasetRequest(body);
    const { audit, policy, database, keyRing } = this.#deps;
    const decisionId = randomUUID();
    const policyRequest = requestForPolicy(request);
    const deny = async (reasons: string[], revision: string | null, extra: Record<string, unknown> = {}): Promise<never> => {
      await audit.appendAlone({
        action: 'policy.decision',
        decision: 'deny',
        actor: principal,
        policyRevision: revision,
        decisionId,
        recordCount: 0,
        details: { request: policyRequest, reasons, ...extra },
      });
      throw new VaultError('ERR_POLICY_DENIED', 'the policy does not allow this dataset', { details: { decision_id: decisionId, reasons } });
    };

    let decided;
    try {
      decided = await policy.decide({
        subject: { sub: principal.sub, roles: principal.roles, teams: principal.teams, purpose: principal.purpose },
        action: 'dataset.request',
        request: policyRequest,
        now: this.#now().toISOString(),
      });
    } catch (err) {
      if (isVaultError(err, 'ERR_POLICY_UNAVAILABLE')) {
        await audit.appendAlone({ action: 'policy.decision', decision: 'deny', actor: principal, decisionId, recordCount: 0, details: { request: policyRequest, reasons: ['policy_unavailable'] } });
      }
      throw err;
    }
    const { decision, revision, grants } = decided;
    if (!decision.allow || !decision.scope) return deny(decision.reasons, revision, decision.fault ? { fault: decision.fault } : {});

    // The vault's own invariants, on what the policy tried to grant: a breach is a deny and an alarm.
    const granted = decision.scope;
    const limits: BlastRadiusLimits = { grants, roster: await countEnrolledByOrgUnit(database.db), maxScopeFraction: this.#deps.maxScopeFraction, requestPurpose: request.purpose };
    const breachOf = (found: InvariantBreach): Promise<never> =>
      this.#refuseBreach(found, 'SECURITY ALARM: a dataset decision breached a vault invariant and was denied', {
        action: 'policy.decision',
        actor: principal,
        decisionId,
        policyRevision: revision,
        details: { request: policyRequest, reasons: [found.reason], policy_scope: granted },
      });
    const policyBreach = findInvariantBreach(principal, granted, limits);
    if (policyBreach) return breachOf(policyBreach);

    // The vault's own intersection: never wider than what the job asked for, whatever the policy said.
    const scope: DatasetScope = {
      orgUnits: intersect(granted.org_units, request.orgUnits),
      kinds: intersect(granted.kinds, request.kinds),
      maxSensitivity: Math.min(granted.max_sensitivity, request.maxSensitivity ?? granted.max_sensitivity),
      from: new Date(Math.max(Date.parse(granted.from), request.from.getTime())),
      to: new Date(Math.min(Date.parse(granted.to), request.to.getTime())),
      frozenAt: this.#now(),
    };
    if (scope.orgUnits.length === 0 || scope.kinds.length === 0 || scope.from >= scope.to) return deny(['empty_scope'], revision, { policy_scope: granted });
    const finalBreach = findInvariantBreach(principal, { org_units: scope.orgUnits, kinds: scope.kinds, max_sensitivity: scope.maxSensitivity }, limits);
    if (finalBreach) return breachOf(finalBreach);

    const view = this.#scopeView(scope);
    const datasetId = randomUUID();
    const expiresAt = new Date(scope.frozenAt.getTime() + LEASE_HOURS * 3600_000);
    const { wrapped } = await keyRing.wrapVaultSecret(`dataset:${datasetId}`, randomBytes(32));
    let recordsBreach: InvariantBreach | undefined;
    const reach = await database.db.transaction().execute(async (trx) => {
      const lease: LeaseRow = {
        ...scope,
        datasetId,
        decisionId,
        requester: principal.sub,
        teams: [...principal.teams],
        purpose: request.purpose,
        policyRevision: revision,
        recordCount: 0,
        employeeCount: 0,
        pseudonymKey: wrapped,
        createdAt: scope.frozenAt,
        expiresAt,
      };
      await insertLease(trx, lease);
      const counted = await recordDatasetReach(trx, datasetId, scope);
      recordsBreach = findRecordsReachBreach(counted.employees, limits);
      if (recordsBreach) throw breachError(recordsBreach);
      await setLeaseReach(trx, datasetId, counted);
      await audit.append(trx, {
        action: 'policy.decision',
        decision: 'allow',
        actor: principal,
        policyRevision: revision,
        decisionId,
        recordCount: counted.records,
        details: {
          request: policyRequest,
          reasons: decision.reasons,
          dataset_id: datasetId,
          scope: view,
          employee_count: counted.employees,
          expires_at: expiresAt.toISOString(),
        },
      });
      return counted;
    }).catch((err: unknown) => {
      if (recordsBreach) return breachOf(recordsBreach);
      throw err;
    });
    return {
      dataset_id: datasetId,
      scope: view,
      record_count: reach.records,
      employee_count: reach.employees,
      expires_at: expiresAt.toISOString(),
      policy_revision: revision,
      decision_id: decisionId,
    };
  }

  /**
   * A breached invariant: the alarm first, so a SIEM hears of it even if the audit log cannot take
   * the event, then the high-severity deny on the record, then the error for the caller.
   */
  async #refuseBreach(
    found: InvariantBreach,
    message: string,
    event: { action: string; actor: Principal; decisionId: string; policyRevision: string; details: Record<string, unknown> },
  ): Promise<never> {
    const { actor, decisionId, policyRevision } = event;
    const datasetId = event.details.dataset_id;
    this.#deps.log?.(
      { alarm: 'scope_breach', severity: 'high', invariant: found.code, reason: found.reason, actor: actor.sub, teams: actor.teams, policy_revision: policyRevision, decision_id: decisionId, ...(datasetId ? { dataset_id: datasetId } : {}) },
      message,
    );
    await this.#deps.audit.appendAlone({
      ...event,
      decision: 'deny',
      severity: 'high',
      recordCount: 0,
      details: { ...event.details, invariant: found.code, detail: found.detail, alarm: 'scope_breach' },
    });
    throw breachError(found, { decision_id: decisionId });
  }

  /**
   * A lease is re-checked against the grants in force whenever a stream opens: a revision that
   * narrowed a grant, or a token whose claims changed, stops a stream granted under the old one.
   */
  async #assertLeaseStillGranted(principal: Principal, lease: LeaseRow): Promise<void> {
    const { grants, revision } = this.#deps.policy.grantsInForce();
    const found = findInvariantBreach(
      principal,
      { org_units: lease.orgUnits, kinds: lease.kinds, max_sensitivity: lease.maxSensitivity },
      { grants, roster: await countEnrolledByOrgUnit(this.#deps.database.db), maxScopeFraction: this.#deps.maxScopeFraction, requestPurpose: lease.purpose },
    );
    if (!found) return;
    await this.#refuseBreach(found, 'SECURITY ALARM: a dataset stream is no longer within the grants in force and was refused', {
      action: 'dataset.stream',
      actor: principal,
      decisionId: lease.decisionId,
      policyRevision: revision,
      details: { dataset_id: lease.datasetId, reason: found.reason, lease_revision: lease.policyRevision },
    });
  }

  #scopeView(scope: DatasetScope): DatasetGrant['scope'] {
    return { org_units: [...scope.orgUnits], kinds: [...scope.kinds], max_sensitivity: scope.maxSensitivity, from: scope.from.toISOString(), to: scope.to.toISOString() };
  }

  /**
   * Checks that `principal` may stream the lease now, then returns its pages as NDJSON buffers.
   * The first page is read before returning, so a refusal (or an audit log that cannot record
   * the read) still becomes a status code rather than a cut stream.
   */
  async openStream(principal: Principal, datasetId: string, after: string | undefined): Promise<AsyncIterable<Buffer>> {
    const { audit, database, keyRing } = this.#deps;
    const lease = /^[0-9a-f-]{36}$/i.test(datasetId) ? await findLease(database.db, datasetId) : undefined;
    const refuse = async (code: 'ERR_NOT_FOUND' | 'ERR_FORBIDDEN' | 'ERR_LEASE_EXPIRED', reason: string, message: string): Promise<never> => {
      await audit.appendAlone({
        action: 'dataset.stream',
        decision: 'deny',
        severity: code === 'ERR_FORBIDDEN' ? 'high' : 'info',
        actor: principal,
        ...(lease ? { decisionId: lease.decisionId, policyRevision: lease.policyRevision } : {}),
        recordCount: 0,
        details: { dataset_id: datasetId, reason },
      });
      throw new VaultError(code, message);
    };
    if (!lease) return refuse('ERR_NOT_FOUND', 'no_such_dataset', 'no such dataset');
    if (lease.requester !== principal.sub) return refuse('ERR_FORBIDDEN', 'not_the_requester', 'only the job that requested this dataset may read it');
    if (lease.expiresAt <= this.#now()) return refuse('ERR_LEASE_EXPIRED', 'lease_expired', 'this dataset lease has expired');
    await this.#assertLeaseStillGranted(principal, lease);
    const start = after === undefined ? undefined : parseCursor(after, lease.orgUnits.length);
    const pseudonymKey = await keyRing.unwrapVaultSecret(`dataset:${datasetId}`, lease.pseudonymKey);
    const pages = this.#pages(principal, lease, pseudonymKey, start);
    const first = await pages.next();
    async function* all(): AsyncGenerator<Buffer> {
      try {
        if (!first.done) yield first.value;
        yield* pages;
      } finally {
        pseudonymKey.fill(0);
      }
    }
    return all();
  }

  async *#pages(principal: Principal, lease: LeaseRow, pseudonymKey: Buffer, start: StreamPosition | undefined): AsyncGenerator<Buffer> {
    const { audit, database, keyRing } = this.#deps;
    const pseudonyms = new Map<string, string>();
    const subjectOf = (employeeId: string): string => {
      let p = pseudonyms.get(employeeId);
      if (!p) {
        p = createHmac('sha256', pseudonymKey).update(employeeId).digest().subarray(0, 16).toString('base64url');
        pseudonyms.set(employeeId, p);
      }
      return p;
    };
    for (let unit = start?.unit ?? 0; unit < lease.orgUnits.length; unit++) {
      let position = start && unit === start.unit ? { capturedAt: new Date(start.capturedAtMs), eventId: start.eventId } : undefined;
      for (;;) {
        if (lease.expiresAt <= this.#now()) return;
        const page = await database.db.transaction().execute(async (trx) => {
          const rows = await readScopePage(trx, lease, lease.orgUnits[unit]!, position, PAGE_RECORDS);
          const states = await employeeKeyStates(trx, [...new Set(rows.map((r) => r.employee_id))]);
          const stored: StoredDataKey[] = [];
          // Only the key versions this page's records were sealed under, each once.
          const needed = new Set<string>();
          for (const row of rows) {
            const id = dataKeyId(row.employee_id, row.dek_version);
            const wrappedKey = states.get(row.employee_id)?.keys.get(row.dek_version);
            if (!wrappedKey || needed.has(id)) continue;
            needed.add(id);
            stored.push({ employeeId: row.employee_id, dekVersion: row.dek_version, wrappedKey });
          }
          const skipped = { not_enrolled: 0, erased: 0, failed_authentication: 0 };
          // Each line is an ASCII prefix, the decrypted payload's bytes as they are, and `}\n`:
          // written once into the page's buffer, never decoded to a string and encoded back.
          const prefixes: string[] = [];
          const payloads: Buffer[] = [];
          const zeroPayloads = (): void => void payloads.forEach((p) => p.fill(0));
          await keyRing.withDataKeys(stored, async (keys) => {
            for (const row of rows) {
              const state = states.get(row.employee_id);
              const key = keys.get(dataKeyId(row.employee_id, row.dek_version));
              if (!state?.enrolled) {
                skipped.not_enrolled++;
                continue;
              }
              if (!key) {
                skipped.erased++;
                continue;
              }
              try {
                const plaintext = keyRing.decryptRecord(
                  key,
                  { eventId: row.event_id, employeeId: row.employee_id, orgUnit: row.org_unit, kind: row.kind, capturedAt: row.captured_at, sensitivity: row.sensitivity, dekVersion: row.dek_version },
                  row.envelope,
                );
                const cursor = formatCursor({ unit, capturedAtMs: row.captured_at.getTime(), eventId: row.event_id });
                prefixes.push(`{"cursor":"${cursor}","subject":"${subjectOf(row.employee_id)}","captured_at":"${row.captured_at.toISOString()}","kind":"${row.kind}","sensitivity":${row.sensitivity},"payload":`);
                payloads.push(plaintext);
              } catch (err) {
                if (!isVaultError(err, 'ERR_DECRYPT_FAILED')) throw err;
                skipped.failed_authentication++;
              }
            }
          }).catch((err: unknown) => {
            zeroPayloads();
            throw err;
          });
          const body = pageBody(prefixes, payloads);
          const last = rows.at(-1);
          const done = rows.length < PAGE_RECORDS;
          await audit.append(trx, {
            action: 'dataset.stream',
            decision: 'allow',
            severity: skipped.failed_authentication > 0 ? 'high' : 'info',
            actor: principal,
            decisionId: lease.decisionId,
            policyRevision: lease.policyRevision,
            recordCount: prefixes.length,
            details: {
              dataset_id: lease.datasetId,
              org_unit: lease.orgUnits[unit],
              records: prefixes.length,
              bytes: body.length,
              skipped,
              ...(done && unit === lease.orgUnits.length - 1 ? { stream_end: true } : {}),
            },
          });
          return { body, last, done };
        });
        if (page.body.length > 0) yield page.body;
        if (page.done || !page.last) break;
        position = { capturedAt: page.last.captured_at, eventId: page.last.event_id };
      }
    }
  }

  /** Every dataset that reached this employee's records: when, by whom, for what, and its streams. */
  async accessReport(principal: Principal, employeeId: string): Promise<AccessReport> {
    const { database, audit } = this.#deps;
    if (principal.roles.includes('employee') && !principal.roles.some((r) => r === 'auditor' || r === 'privacy-officer') && principal.sub !== employeeId) {
      throw new VaultError('ERR_FORBIDDEN', 'an employee may read only their own access report');
    }
    if (!(await employeeExists(database.db, employeeId))) throw new VaultError('ERR_NOT_FOUND', 'no such employee');
    const datasets = await datasetsReachingEmployee(database.db, employeeId);
    const events = await auditEventsForDecisions(database.db, datasets.map((d) => d.decisionId));
    const report: AccessReport = {
      employee_id: employeeId,
      datasets: datasets.map((d) => {
        const streams = events.filter((e) => e.decision_id === d.decisionId && e.action === 'dataset.stream' && e.decision === 'allow');
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
          streamed: {
            pages: streams.length,
            records_served: streams.reduce((n, e) => n + (e.record_count ?? 0), 0),
            first_at: streams[0]?.occurred_at.toISOString() ?? null,
            last_at: streams.at(-1)?.occurred_at.toISOString() ?? null,
          },
        };
      }),
    };
    await audit.appendAlone({ action: 'employee.access_report', decision: 'allow', actor: principal, employeeId, recordCount: report.datasets.length, details: { datasets: report.datasets.length } });
    return report;
  }
}

export interface AccessReport {
  readonly employee_id: string;
  readonly datasets: Array<{
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
  }>;
}
