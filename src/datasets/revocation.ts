import type { Principal } from '../auth/index.js';
import { revokeLease, type LeaseRow } from '../db/index.js';
import { isVaultError, VaultError } from '../errors/index.js';
import { policyRequestOf, type Scope } from '../model/index.js';
import type { PolicyDecision, RevisionedDecision } from '../policy/index.js';
import { nowOf, type DatasetDeps } from './deps.js';

/** Why the policy in force no longer grants a lease; empty when it still grants all of it. */
function revocationReasons(decision: PolicyDecision, lease: Scope): string[] {
  if (!decision.allow || !decision.scope) return decision.reasons.length ? [...decision.reasons] : ['policy_denied'];
  return coversScope(decision.scope, lease) ? [] : ['scope_narrowed'];
}

function coversScope(granted: Scope, lease: Scope): boolean {
  return (
    lease.orgUnits.every((u) => granted.orgUnits.includes(u)) &&
    lease.kinds.every((k) => granted.kinds.includes(k)) &&
    lease.maxSensitivity <= granted.maxSensitivity &&
    granted.from <= lease.from &&
    granted.to >= lease.to
  );
}

/**
 * Decides the lease's request again under the revision in force, as the subject it was granted
 * to (its requester, teams and purpose), whenever a stream opens or resumes. A deny, or a scope
 * narrower than the lease's, revokes the lease for good and audits the deny with the revision and
 * reasons in the same transaction; a later revision does not revive it. Any deny counts, a policy
 * fault included: the revision in force is the only authority on whether data may still leave.
 */
export async function assertLeaseNotRevoked(deps: DatasetDeps, principal: Principal, lease: LeaseRow): Promise<void> {
  // The lease's frozen scope as an explicit request: the policy must still grant every part of it.
  const request = policyRequestOf(lease);
  const { decision, revision } = await decideAgain(deps, principal, lease, request);
  const reasons = revocationReasons(decision, lease);
  if (reasons.length === 0) return;
  await deps.audit.runAudited(
    (trx) => revokeLease(trx, lease.datasetId, revision),
    () => ({
      action: 'dataset.stream',
      decision: 'deny',
      actor: principal,
      decisionId: lease.decisionId,
      policyRevision: revision,
      recordCount: 0,
      details: { dataset_id: lease.datasetId, reason: 'lease_revoked', reasons, request, lease_revision: lease.policyRevision, ...(decision.fault ? { fault: decision.fault } : {}) },
    }),
  );
  throw revokedError(lease);
}

export function revokedError(lease: Pick<LeaseRow, 'decisionId'>): VaultError {
  return new VaultError('ERR_LEASE_REVOKED', 'the policy in force no longer grants this dataset', { details: { decision_id: lease.decisionId } });
}

async function decideAgain(deps: DatasetDeps, principal: Principal, lease: LeaseRow, request: Record<string, unknown>): Promise<RevisionedDecision> {
  try {
    return await deps.policy.decide({
      subject: { sub: lease.requester, roles: principal.roles, teams: lease.teams, purpose: lease.purpose },
      action: 'dataset.request',
      request,
      now: nowOf(deps).toISOString(),
    });
  } catch (err) {
    if (isVaultError(err, 'ERR_POLICY_UNAVAILABLE')) {
      await deps.audit.appendAlone({
        action: 'dataset.stream',
        decision: 'deny',
        actor: principal,
        decisionId: lease.decisionId,
        recordCount: 0,
        details: { dataset_id: lease.datasetId, reason: 'policy_unavailable' },
      });
    }
    throw err;
  }
}
