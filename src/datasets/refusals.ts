import type { Principal } from '../auth/index.js';
import { countEnrolledByOrgUnit, type LeaseRow } from '../db/index.js';
import { breachError, findInvariantBreach, type InvariantBreach } from '../guard/index.js';
import type { DatasetDeps } from './deps.js';

export interface BreachEvent {
  readonly action: string;
  readonly actor: Principal;
  readonly decisionId: string;
  readonly policyRevision: string;
  readonly details: Record<string, unknown>;
}

/**
 * A breached invariant: the alarm first, so a SIEM hears of it even if the audit log cannot take
 * the event, then the high-severity deny on the record, then the error for the caller.
 */
export async function refuseBreach(deps: Pick<DatasetDeps, 'audit' | 'log'>, found: InvariantBreach, message: string, event: BreachEvent): Promise<never> {
  const { actor, decisionId, policyRevision } = event;
  const datasetId = event.details.dataset_id;
  deps.log?.(
    { alarm: 'scope_breach', severity: 'high', invariant: found.code, reason: found.reason, actor: actor.sub, teams: actor.teams, policy_revision: policyRevision, decision_id: decisionId, ...(datasetId ? { dataset_id: datasetId } : {}) },
    message,
  );
  await deps.audit.appendAlone({
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
export async function assertLeaseStillGranted(deps: DatasetDeps, principal: Principal, lease: LeaseRow): Promise<void> {
  const { grants, revision } = deps.policy.grantsInForce();
  const found = findInvariantBreach(principal, lease, {
    grants,
    roster: await countEnrolledByOrgUnit(deps.database.db),
    maxScopeFraction: deps.maxScopeFraction,
    requestPurpose: lease.purpose,
  });
  if (!found) return;
  await refuseBreach(deps, found, 'SECURITY ALARM: a dataset stream is no longer within the grants in force and was refused', {
    action: 'dataset.stream',
    actor: principal,
    decisionId: lease.decisionId,
    policyRevision: revision,
    details: { dataset_id: lease.datasetId, reason: found.reason, lease_revision: lease.policyRevision },
  });
}
