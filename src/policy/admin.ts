import { createHash } from 'node:crypto';
import { sql } from 'kysely';
import type { AuditLog } from '../audit/index.js';
import type { Principal } from '../auth/index.js';
import {
  countEnrolledByOrgUnit,
  findActiveActivation,
  findBundle,
  insertActivation,
  insertBundle,
  listBundles,
  teamsInAuditSince,
  insertApproval,
  lockUnusedApproval,
  markApprovalUsed,
  type BundleListing,
  type StoredBundle,
  type VaultDatabase,
} from '../db/index.js';
import { VaultError } from '../errors/index.js';
import { computeAccessDiff, grantsOf, type AccessDiff } from '../guard/index.js';
import { verifyBundle, type TrustedBundleKey, type VerifiedBundle } from './bundle.js';
import type { PolicyEngine } from './engine.js';
import { PolicyEvaluator, type PolicyInput } from './evaluator.js';

export const MAX_BUNDLE_BYTES = 16 * 1024 * 1024;

export interface BundleDiff {
  /** The revision compared against: the one in force, or null when none is. */
  readonly against: string | null;
  readonly policy_module_changed: boolean;
  readonly grants: { readonly added: string[]; readonly removed: string[]; readonly changed: string[] };
  /** Who would reach what, before and after; invariant violations; growth that needs a second admin. */
  readonly access: AccessDiff;
}

export interface StageResult {
  readonly revision: string;
  readonly status: 'staged';
  readonly sha256: string;
  readonly diff: BundleDiff;
}

export interface ActivateResult {
  readonly revision: string;
  readonly status: 'active';
  readonly previous: string | null;
  /** Set when the revision grows a team's reach: the second security admin who activated it. */
  readonly approved_by?: string;
}

export interface ApproveResult {
  readonly revision: string;
  readonly approved_by: string;
  /** The revision in force the approval was given against. */
  readonly against: string | null;
  readonly growth: string[];
}

export interface PolicyAdminOptions {
  /** Declared record kinds, probed by the access diff. */
  readonly kinds: readonly string[];
  readonly maxScopeFraction: number;
  readonly log?: (event: Record<string, unknown>, message: string) => void;
}

/** How far back the audit log is searched for teams that hold tokens. */
const RECENT_TEAMS_DAYS = 30;

const sha256 = (bytes: Uint8Array) => createHash('sha256').update(bytes).digest('hex');

function diffBundles(next: VerifiedBundle, current: VerifiedBundle | undefined): Omit<BundleDiff, 'access'> {
  const before = grantsOf(current?.data.grants);
  const after = grantsOf(next.data.grants);
  const teams = (o: Record<string, unknown>) => Object.keys(o).sort();
  return {
    against: current?.revision ?? null,
    policy_module_changed: !current || !current.wasm.equals(next.wasm),
    grants: {
      added: teams(after).filter((t) => !(t in before)),
      removed: teams(before).filter((t) => !(t in after)),
      changed: teams(after).filter((t) => t in before && JSON.stringify(before[t]) !== JSON.stringify(after[t])),
    },
  };
}

/** Inputs every bundle must answer with a well-formed decision before it may be activated. */
function probeInputs(bundle: VerifiedBundle): PolicyInput[] {
  const now = new Date().toISOString();
  const request = { purpose: 'probe', org_units: [], kinds: [], from: '2026-01-01T00:00:00.000Z', to: '2026-01-02T00:00:00.000Z' };
  const teams = [[], [''], ['probe-unknown-team'], ...Object.keys(grantsOf(bundle.data.grants)).map((t) => [t])];
  const roles = [['training-job'], ['ingest-agent'], ['auditor'], []];
  return teams.flatMap((t) =>
    roles.map((r) => ({ subject: { sub: 'probe', roles: r, teams: t, purpose: 'probe' }, action: 'dataset.request', request, now })),
  );
}

/** The security team's workflow: stage a signed bundle, activate a staged revision, list them. */
export class PolicyAdmin {
  constructor(
    private readonly database: VaultDatabase,
    private readonly trustedKeys: readonly TrustedBundleKey[],
    private readonly engine: PolicyEngine,
    private readonly audit: AuditLog,
    private readonly options: PolicyAdminOptions,
  ) {}

  /** Evaluates `next` and `against` over the subject x scope matrix on today's roster. */
  async #accessDiff(next: PolicyEvaluator, against: VerifiedBundle | undefined): Promise<AccessDiff> {
    const since = new Date(Date.now() - RECENT_TEAMS_DAYS * 86_400_000);
    const [roster, recentTeams, active] = await Promise.all([
      countEnrolledByOrgUnit(this.database.db),
      teamsInAuditSince(this.database.db, since),
      against ? PolicyEvaluator.load(against) : undefined,
    ]);
    return computeAccessDiff({ next, active, roster, recentTeams, kinds: this.options.kinds, maxScopeFraction: this.options.maxScopeFraction });
  }

  async #staged(revision: string): Promise<StoredBundle> {
    const stored = await findBundle(this.database.db, revision);
    if (!stored) throw new VaultError('ERR_NOT_FOUND', `revision ${revision} is not staged`);
    return stored;
  }

  /** `policy diff OLD NEW`: each side a staged revision or the bytes of a signed bundle. */
  async diff(before: string | Buffer, after: string | Buffer): Promise<AccessDiff> {
    const load = async (ref: string | Buffer): Promise<VerifiedBundle> => verifyBundle(Buffer.isBuffer(ref) ? ref : (await this.#staged(ref)).archive, this.trustedKeys);
    const next = await load(after);
    return this.#accessDiff(await PolicyEvaluator.load(next), await load(before));
  }

  /** The activation in force and its bundle (undefined when it no longer verifies). */
  async #inForce(): Promise<{ activationId: string | null; bundle: VerifiedBundle | undefined }> {
    const activation = await findActiveActivation(this.database.db);
    const stored = activation && (await findBundle(this.database.db, activation.revision));
    const bundle = stored ? await verifyBundle(stored.archive, this.trustedKeys).catch(() => undefined) : undefined;
    return { activationId: activation?.activationId ?? null, bundle };
  }

  /** Verifies a staged revision again, probes it and diffs it against the activation in force. */
  async #check(revision: string): Promise<{ stored: StoredBundle; violations: string[]; access: AccessDiff | undefined; againstActivation: string | null }> {
    const stored = await this.#staged(revision);
    const violations: string[] = [];
    let access: AccessDiff | undefined;
    const inForce = await this.#inForce();
    try {
      const bundle = await verifyBundle(stored.archive, this.trustedKeys);
      const evaluator = await PolicyEvaluator.load(bundle);
      for (const input of probeInputs(bundle)) {
        const decision = await evaluator.evaluate(input);
        if (decision.fault) violations.push(`${decision.reasons[0]} for roles [${input.subject.roles}] teams [${input.subject.teams}]: ${decision.fault}`);
      }
      access = await this.#accessDiff(evaluator, inForce.bundle);
      violations.push(...access.violations);
    } catch (err) {
      violations.push(err instanceof Error ? err.message : String(err));
    }
    return { stored, violations, access, againstActivation: inForce.activationId };
  }

  /**
   * The second security admin's approval of a revision that grows access: recorded for these
   * bytes against the activation in force now, and used by one activation by someone else.
   * A revision that breaches an invariant cannot be approved.
   */
  async approve(principal: Principal, revision: string): Promise<ApproveResult> {
    const { stored, violations, access, againstActivation } = await this.#check(revision);
    if (violations.length) return this.#refuse(principal, 'policy.approve', revision, 'invariant_violations', violations, access);
    await this.database.db.transaction().execute(async (trx) => {
      await insertApproval(trx, { revision, sha256: stored.sha256, againstActivation, approvedBy: principal.sub });
      await this.audit.append(trx, {
        action: 'policy.approve',
        decision: 'allow',
        severity: 'high',
        actor: principal,
        policyRevision: revision,
        details: { revision, sha256: stored.sha256, against: access?.against ?? null, growth: access?.growth ?? [], teams: access?.teams ?? [] },
      });
    });
    return { revision, approved_by: principal.sub, against: access?.against ?? null, growth: access?.growth ?? [] };
  }

  /** Verifies and stores a bundle; staging the same bytes twice is a no-op, other bytes under a used revision a conflict. */
  async stage(principal: Principal, archive: Buffer): Promise<StageResult> {
    if (archive.length === 0) throw new VaultError('ERR_INVALID_REQUEST', 'the body must be a gzipped OPA bundle');
    if (archive.length > MAX_BUNDLE_BYTES) throw new VaultError('ERR_BODY_TOO_LARGE', 'bundle is larger than 16 MiB');
    let bundle: VerifiedBundle;
    let evaluator: PolicyEvaluator;
    try {
      bundle = await verifyBundle(archive, this.trustedKeys);
      evaluator = await PolicyEvaluator.load(bundle);
    } catch (err) {
      await this.audit.appendAlone({
        action: 'policy.stage',
        decision: 'deny',
        severity: 'high',
        actor: principal,
        details: { sha256: sha256(archive), reason: err instanceof Error ? err.message : String(err), ...((err as VaultError).details ?? {}) },
      });
      throw err;
    }
    const { bundle: active } = await this.#inForce();
    const diff: BundleDiff = { ...diffBundles(bundle, active), access: await this.#accessDiff(evaluator, active) };
    await this.database.db.transaction().execute(async (trx) => {
      const existing = await findBundle(trx, bundle.revision);
      if (existing && existing.sha256 !== bundle.sha256) {
        throw new VaultError('ERR_CONFLICT', `revision ${bundle.revision} is already staged with different contents`);
      }
      if (!existing) await insertBundle(trx, { ...bundle, stagedBy: principal.sub });
      await this.audit.append(trx, {
        action: 'policy.stage',
        decision: 'allow',
        actor: principal,
        policyRevision: bundle.revision,
        details: { revision: bundle.revision, sha256: bundle.sha256, signed_by: bundle.signedBy, already_staged: Boolean(existing), diff },
      });
    });
    return { revision: bundle.revision, status: 'staged', sha256: bundle.sha256, diff };
  }

  /**
   * Activates a staged revision after verifying it again, probing it, and diffing who it lets
   * reach what against the revision in force. A bundle that throws, answers malformed decisions or
   * lets any subject breach a vault invariant is refused (409, every violation listed, a
   * high-severity audit event and an alarm), whoever asks. A bundle that grows a team's reach or
   * grant is refused too, unless another security admin approved it against the activation in
   * force (`approve`); the approval is used up.
   */
  async activate(principal: Principal, revision: string): Promise<ActivateResult> {
    const { stored, violations, access, againstActivation } = await this.#check(revision);
    if (violations.length) return this.#refuse(principal, 'policy.activate', revision, 'invariant_violations', violations, access);
    const growth = access?.growth ?? [];
    const outcome = await this.database.db.transaction().execute(async (trx) => {
      await sql`select pg_advisory_xact_lock(hashtext('vault_policy_activation'))`.execute(trx);
      const before = await findActiveActivation(trx);
      if ((before?.activationId ?? null) !== againstActivation) return { raced: true as const };
      const approval = growth.length
        ? await lockUnusedApproval(trx, { revision, sha256: stored.sha256, againstActivation, activator: principal.sub })
        : undefined;
      if (growth.length && !approval) return { raced: false as const, unapproved: true as const };
      const activation = await insertActivation(trx, revision, principal.sub);
      if (approval) await markApprovalUsed(trx, approval.approvalId, activation.activationId);
      const approvedBy = approval?.approvedBy;
      await this.audit.append(trx, {
        action: 'policy.activate',
        decision: 'allow',
        severity: growth.length ? 'high' : 'info',
        actor: principal,
        policyRevision: revision,
        details: { revision, previous: before?.revision ?? null, staged_by: stored.stagedBy, ...(approvedBy ? { approved_by: approvedBy, growth } : {}), teams: access?.teams ?? [] },
      });
      return { raced: false as const, previous: before?.revision ?? null, approvedBy };
    });
    if (outcome.raced) throw new VaultError('ERR_CONFLICT', 'another revision was activated while this one was being checked: activate again');
    if ('unapproved' in outcome) {
      const needs = `needs approval by a second security admin (activity-vault policy approve ${revision}, by someone other than ${principal.sub})`;
      return this.#refuse(principal, 'policy.activate', revision, 'growth_needs_second_admin', growth.map((g) => `${g}: ${needs}`), access);
    }
    await this.engine.refresh();
    return { revision, status: 'active', previous: outcome.previous, ...(outcome.approvedBy ? { approved_by: outcome.approvedBy } : {}) };
  }

  async #refuse(principal: Principal, action: string, revision: string, reason: string, violations: string[], access: AccessDiff | undefined): Promise<never> {
    // The alarm goes out first: if the audit log cannot take the event, the SIEM still hears of it.
    this.options.log?.(
      { alarm: 'activation_refused', severity: 'high', action, reason, revision, actor: principal.sub, violations: violations.slice(0, 20) },
      'SECURITY ALARM: a policy activation was refused',
    );
    await this.audit.appendAlone({
      action,
      decision: 'deny',
      severity: 'high',
      actor: principal,
      policyRevision: revision,
      details: { revision, reason, violations, alarm: 'activation_refused', ...(access ? { teams: access.teams } : {}) },
    });
    throw new VaultError('ERR_POLICY_REJECTED', reason === 'invariant_violations' ? 'the bundle failed its pre-activation checks' : 'the bundle grows access and needs a second security admin', {
      details: { violations },
    });
  }

  list(): Promise<BundleListing[]> {
    return listBundles(this.database.db);
  }
}
