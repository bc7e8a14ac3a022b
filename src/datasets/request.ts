import { randomBytes, randomUUID } from 'node:crypto';
import type { Principal } from '../auth/index.js';
import { countEnrolledByOrgUnit, freezeLeaseSnapshot, inTransaction, insertLease, isRotationFence, recordDatasetReach, setLeaseReach, type LeaseRow } from '../db/index.js';
import { isVaultError, VaultError } from '../errors/index.js';
import { breachError, findInvariantBreach, findRecordsReachBreach, type BlastRadiusLimits, type InvariantBreach, type RosterReach } from '../guard/index.js';
import { isEmptyScope, narrowScope, policyRequestOf, scopeToJson, type DatasetRequest, type Scope, type ScopeJson } from '../model/index.js';
import type { RevisionedDecision } from '../policy/index.js';
import { LEASE_HOURS, nowOf, type DatasetDeps } from './deps.js';
import { refuseBreach } from './refusals.js';
import { parseDatasetRequest } from './request-body.js';

export interface DatasetGrant {
  readonly dataset_id: string;
  readonly scope: ScopeJson;
  readonly record_count: number;
  readonly employee_count: number;
  readonly expires_at: string;
  readonly policy_revision: string;
  readonly decision_id: string;
}

type Judged =
  | { readonly outcome: 'deny'; readonly reasons: string[]; readonly revision: string; readonly extra: Record<string, unknown> }
  | { readonly outcome: 'breach'; readonly breach: InvariantBreach; readonly granted: Scope; readonly revision: string; readonly limits: BlastRadiusLimits }
  | { readonly outcome: 'allow'; readonly scope: Scope; readonly granted: Scope; readonly revision: string; readonly reasons: string[]; readonly limits: BlastRadiusLimits };

/**
 * A training job's request becomes a policy decision, the decision passes the vault's invariants,
 * and what is left is frozen in a lease. Every outcome is audited: a deny on its own, an allow in
 * the transaction that writes the lease.
 */
export class DatasetRequests {
  readonly #deps: DatasetDeps;

  constructor(deps: DatasetDeps) {
    this.#deps = deps;
  }

  async request(principal: Principal, body: unknown): Promise<DatasetGrant> {
    const request = parseDatasetRequest(body);
    const decisionId = randomUUID();
    const policyRequest = policyRequestOf(request);
    const deny = async (reasons: string[], revision: string | null, extra: Record<string, unknown> = {}): Promise<never> => {
      await this.#deps.audit.appendAlone({
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

    if (this.#deps.exports.frozen()) {
      await this.#refuseFrozen(principal, decisionId, policyRequest, null);
      throw new VaultError('ERR_EXPORTS_FROZEN', 'exports are frozen; no dataset is granted until they resume', { details: { decision_id: decisionId } });
    }
    const decided = await this.#decide(principal, policyRequest, decisionId);
    const judged = this.#judge(principal, request, decided, await countEnrolledByOrgUnit(this.#deps.database.db));
    if (judged.outcome === 'deny') return deny(judged.reasons, judged.revision, judged.extra);
    const { revision, limits } = judged;
    const breachOf = (found: InvariantBreach): Promise<never> =>
      refuseBreach(this.#deps, found, 'SECURITY ALARM: a dataset decision breached a vault invariant and was denied', {
        action: 'policy.decision',
        actor: principal,
        decisionId,
        policyRevision: revision,
        details: { request: policyRequest, reasons: [found.reason], policy_scope: scopeToJson(judged.granted) },
      });
    if (judged.outcome === 'breach') return breachOf(judged.breach);
    const grant = () => this.#grantLease(principal, request, judged.scope, { decisionId, revision, reasons: judged.reasons, policyRequest, limits, breachOf });
    return grant().catch(async (err: unknown) => {
      // A KEK rotation began elsewhere and this instance has not loaded the new KEK: load it, wrap again, once.
      if (!isRotationFence(err)) throw err;
      await this.#deps.keyRing.refreshKeks();
      return grant();
    });
  }

  /**
   * What `principal` would be granted for `request` under the policy in force, judged exactly as a
   * real request is (policy, invariants, narrowing), with nothing written or audited: the caller
   * audits the question it answers with it. The records-reach check at grant time is not run.
   */
  async wouldGrant(principal: Principal, request: DatasetRequest, roster: RosterReach): Promise<Scope | undefined> {
    const decided = await this.#deps.policy.decide({
      subject: { sub: principal.sub, roles: principal.roles, teams: principal.teams, purpose: principal.purpose },
      action: 'dataset.request',
      request: policyRequestOf(request),
      now: nowOf(this.#deps).toISOString(),
    });
    const judged = this.#judge(principal, request, decided, roster);
    return judged.outcome === 'allow' ? judged.scope : undefined;
  }

  /** The policy's decision, then the vault's invariants on what it tried to grant, then the scope narrowed to the request. */
  #judge(principal: Principal, request: DatasetRequest, { decision, revision, grants }: RevisionedDecision, roster: RosterReach): Judged {
    if (!decision.allow || !decision.scope) return { outcome: 'deny', reasons: decision.reasons, revision, extra: decision.fault ? { fault: decision.fault } : {} };
    const granted = decision.scope;
    const limits: BlastRadiusLimits = { grants, roster, maxScopeFraction: this.#deps.maxScopeFraction, requestPurpose: request.purpose };
    const policyBreach = findInvariantBreach(principal, granted, limits);
    if (policyBreach) return { outcome: 'breach', breach: policyBreach, granted, revision, limits };
    const scope = narrowScope(granted, request);
    if (isEmptyScope(scope)) return { outcome: 'deny', reasons: ['empty_scope'], revision, extra: { policy_scope: scopeToJson(granted) } };
    const finalBreach = findInvariantBreach(principal, scope, limits);
    if (finalBreach) return { outcome: 'breach', breach: finalBreach, granted, revision, limits };
    return { outcome: 'allow', scope, granted, revision, reasons: decision.reasons, limits };
  }

  async #decide(principal: Principal, policyRequest: Record<string, unknown>, decisionId: string): Promise<RevisionedDecision> {
    try {
      return await this.#deps.policy.decide({
        subject: { sub: principal.sub, roles: principal.roles, teams: principal.teams, purpose: principal.purpose },
        action: 'dataset.request',
        request: policyRequest,
        now: nowOf(this.#deps).toISOString(),
      });
    } catch (err) {
      if (isVaultError(err, 'ERR_POLICY_UNAVAILABLE')) {
        await this.#deps.audit.appendAlone({ action: 'policy.decision', decision: 'deny', actor: principal, decisionId, recordCount: 0, details: { request: policyRequest, reasons: ['policy_unavailable'] } });
      }
      throw err;
    }
  }

  /**
   * Freezes the lease at the database's clock and snapshot, writes it, counts the records and
   * employees it reaches (as the RLS-confined reader), re-checks that reach, and audits the allow,
   * all in one transaction.
   */
  #refuseFrozen(principal: Principal, decisionId: string, policyRequest: Record<string, unknown>, revision: string | null) {
    return this.#deps.audit.appendAlone({
      action: 'policy.decision',
      decision: 'deny',
      actor: principal,
      decisionId,
      policyRevision: revision,
      recordCount: 0,
      details: { request: policyRequest, reasons: ['exports_frozen'] },
    });
  }

  async #grantLease(
    principal: Principal,
    request: DatasetRequest,
    scope: Scope,
    decided: {
      decisionId: string;
      revision: string;
      reasons: string[];
      policyRequest: Record<string, unknown>;
      limits: BlastRadiusLimits;
      breachOf: (found: InvariantBreach) => Promise<never>;
    },
  ): Promise<DatasetGrant> {
    const { audit, database, keyRing } = this.#deps;
    const { decisionId, revision } = decided;
    const view = scopeToJson(scope);
    const datasetId = randomUUID();
    const secret = randomBytes(32);
    const { wrapped, kekId } = await keyRing.wrapVaultSecret(`dataset:${datasetId}`, secret).finally(() => secret.fill(0));
    const unfrozen = {
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
      pseudonymKek: kekId,
    };
    let recordsBreach: InvariantBreach | undefined;
    const { counted, expiresAt } = await inTransaction(database, async (trx) => {
      await this.#deps.exports.assertExportsOpen(trx);
      const frozen = await freezeLeaseSnapshot(trx);
      const expiresAt = new Date(frozen.frozenAt.getTime() + LEASE_HOURS * 3600_000);
      const lease: LeaseRow = { ...unfrozen, ...frozen, createdAt: frozen.frozenAt, expiresAt, revokedAt: null, revokedRevision: null };
      await insertLease(trx, lease);
      const counted = await recordDatasetReach(trx, datasetId, lease);
      recordsBreach = findRecordsReachBreach(counted.employees, decided.limits);
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
          request: decided.policyRequest,
          reasons: decided.reasons,
          dataset_id: datasetId,
          scope: view,
          employee_count: counted.employees,
          expires_at: expiresAt.toISOString(),
        },
      });
      return { counted, expiresAt };
    }).catch(async (err: unknown) => {
      if (recordsBreach) return decided.breachOf(recordsBreach);
      if (isVaultError(err, 'ERR_EXPORTS_FROZEN')) await this.#refuseFrozen(principal, decisionId, decided.policyRequest, revision);
      throw err;
    });
    return {
      dataset_id: datasetId,
      scope: view,
      record_count: counted.records,
      employee_count: counted.employees,
      expires_at: expiresAt.toISOString(),
      policy_revision: revision,
      decision_id: decisionId,
    };
  }
}
