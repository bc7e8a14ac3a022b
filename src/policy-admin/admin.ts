import { createHash } from 'node:crypto';
import type { AuditLog } from '../audit/index.js';
import type { Principal } from '../auth/index.js';
import {
  findActiveActivation,
  findBundle,
  inTransaction,
  insertActivation,
  insertApproval,
  insertBundle,
  listBundles,
  lockPolicyActivation,
  lockUnusedApproval,
  markApprovalUsed,
  type BundleListing,
  type StoredBundle,
  type VaultDatabase,
} from '../db/index.js';
import { VaultError } from '../errors/index.js';
import type { AccessDiff } from '../guard/index.js';
import { PolicyEvaluator, verifyBundle, type PolicyEngine, type TrustedBundleKey, type VerifiedBundle } from '../policy/index.js';
import { diffBundles, RevisionChecks, type BundleDiff, type CheckOptions } from './checks.js';

export const MAX_BUNDLE_BYTES = 16 * 1024 * 1024;

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

export interface PolicyAdminOptions extends CheckOptions {
  readonly log?: (event: Record<string, unknown>, message: string) => void;
}

const sha256 = (bytes: Uint8Array) => createHash('sha256').update(bytes).digest('hex');

/** The security team's workflow: stage a signed bundle, activate a staged revision, list them. */
export class PolicyAdmin {
  readonly #checks: RevisionChecks;

  constructor(
    private readonly database: VaultDatabase,
    private readonly trustedKeys: readonly TrustedBundleKey[],
    private readonly engine: PolicyEngine,
    private readonly audit: AuditLog,
    private readonly options: PolicyAdminOptions,
  ) {
    this.#checks = new RevisionChecks(database, trustedKeys, engine, audit, options);
  }

  async #staged(revision: string): Promise<StoredBundle> {
    const stored = await findBundle(this.database.db, revision);
    if (!stored) throw new VaultError('ERR_NOT_FOUND', `revision ${revision} is not staged`);
    return stored;
  }

  /**
   * Who would reach what under `after` compared with `before` (`policy diff OLD NEW`, and the
   * console's diff): each side a staged revision or the bytes of a signed bundle; `before`
   * undefined means the revision in force. Team reach and employee counts are themselves
   * sensitive: the diff is returned only once its `policy.diff` event is on the log.
   */
  async diff(principal: Principal, before: string | Buffer | undefined, after: string | Buffer): Promise<AccessDiff> {
    const load = async (ref: string | Buffer): Promise<VerifiedBundle> => verifyBundle(Buffer.isBuffer(ref) ? ref : (await this.#staged(ref)).archive, this.trustedKeys);
    const against = before ?? (await findActiveActivation(this.database.db))?.revision;
    if (against === undefined) throw new VaultError('ERR_NOT_FOUND', 'no revision is in force to diff against; name one with ?against=');
    const next = await load(after);
    const prior = await load(against);
    const access = await this.#checks.accessDiff({ bundle: next, evaluator: await PolicyEvaluator.load(next) }, { bundle: prior });
    // After the work and before the answer: if the event cannot be written, appendAlone throws and nothing is shown.
    await this.audit.appendAlone({
      action: 'policy.diff',
      decision: 'allow',
      actor: principal,
      policyRevision: next.revision,
      recordCount: access.teams.length,
      details: {
        revision: next.revision,
        sha256: next.sha256,
        against: prior.revision,
        against_sha256: prior.sha256,
        against_in_force: before === undefined,
        teams: access.teams.length,
        subjects: access.subjects,
        violations: access.violations.length,
        growth: access.growth.length,
      },
    });
    return access;
  }

  /**
   * The second security admin's approval of a revision that grows access: recorded for these
   * bytes against the activation in force now, and used by one activation by someone else.
   * A revision that breaches an invariant cannot be approved.
   */
  async approve(principal: Principal, revision: string): Promise<ApproveResult> {
    const stored = await this.#staged(revision);
    const { violations, access, againstActivation } = await this.#checks.check(stored);
    if (violations.length) return this.#refuse(principal, 'policy.approve', revision, 'invariant_violations', violations, access);
    await inTransaction(this.database, async (trx) => {
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
    const { policy: active } = await this.#checks.inForce();
    const diff: BundleDiff = { ...diffBundles(bundle, active?.bundle, this.#checks.listsOf), access: await this.#checks.accessDiff({ bundle, evaluator }, active) };
    await inTransaction(this.database, async (trx) => {
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
   * force (`approve`); the approval is used up. This instance serves the revision as soon as it
   * is committed, with the evaluator its checks compiled.
   */
  async activate(principal: Principal, revision: string): Promise<ActivateResult> {
    const stored = await this.#staged(revision);
    const { violations, access, againstActivation, loaded } = await this.#checks.check(stored);
    if (violations.length || !loaded) return this.#refuse(principal, 'policy.activate', revision, 'invariant_violations', violations, access);
    const growth = access?.growth ?? [];
    const outcome = await inTransaction(this.database, async (trx) => {
      await lockPolicyActivation(trx);
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
      return { raced: false as const, activation, previous: before?.revision ?? null, approvedBy };
    });
    if (outcome.raced) throw new VaultError('ERR_CONFLICT', 'another revision was activated while this one was being checked: activate again');
    if ('unapproved' in outcome) {
      const needs = `needs approval by a second security admin (activity-vault policy approve ${revision}, by someone other than ${principal.sub})`;
      return this.#refuse(principal, 'policy.activate', revision, 'growth_needs_second_admin', growth.map((g) => `${g}: ${needs}`), access);
    }
    this.engine.adopt(outcome.activation, loaded);
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

  /** Staged revisions, who staged, approved and activated each; the listing and its `policy.list` event commit together. */
  list(principal: Principal): Promise<BundleListing[]> {
    return this.audit.runAudited(
      (trx) => listBundles(trx),
      (bundles) => ({
        action: 'policy.list',
        decision: 'allow',
        actor: principal,
        recordCount: bundles.length,
        details: { bundles: bundles.length, active: bundles.find((b) => b.active)?.revision ?? null },
      }),
    );
  }
}
