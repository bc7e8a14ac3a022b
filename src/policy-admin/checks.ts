import type { AuditLog } from '../audit/index.js';
import { compareClassifierLists, type ClassifierListChange, type ClassifierLists } from '../classify/index.js';
import { countEnrolledByOrgUnit, findActiveActivation, findBundle, type StoredBundle, type VaultDatabase } from '../db/index.js';
import { VaultError } from '../errors/index.js';
import { computeAccessDiff, grantsOf, type AccessDiff } from '../guard/index.js';
import { PolicyEvaluator, verifyBundle, type PolicyEngine, type PolicyInput, type TrustedBundleKey, type VerifiedBundle } from '../policy/index.js';

export interface BundleDiff {
  /** The revision compared against: the one in force, or null when none is. */
  readonly against: string | null;
  readonly policy_module_changed: boolean;
  readonly grants: { readonly added: string[]; readonly removed: string[]; readonly changed: string[] };
  /** The classifier's lists, entry by entry; a removal is growth (content no longer recognised as sensitive). */
  readonly classification: { readonly lists: 'bundle' | 'builtin'; readonly changed: ClassifierListChange[] };
  /** Who would reach what, before and after; invariant violations; growth that needs a second admin. */
  readonly access: AccessDiff;
}

/** A verified bundle and, when one was compiled already, its evaluator. */
export interface ComparedPolicy {
  readonly bundle: VerifiedBundle;
  readonly evaluator?: PolicyEvaluator | undefined;
}

export interface CheckedRevision {
  readonly violations: string[];
  readonly access: AccessDiff | undefined;
  readonly againstActivation: string | null;
  /** The revision verified and compiled: set whenever it got as far as its probes. */
  readonly loaded: { readonly bundle: VerifiedBundle; readonly evaluator: PolicyEvaluator } | undefined;
}

export interface CheckOptions {
  /** Declared record kinds, probed by the access diff. */
  readonly kinds: readonly string[];
  readonly maxScopeFraction: number;
}

/** How far back the audit log is searched for teams that hold tokens. */
const RECENT_TEAMS_DAYS = 30;

/**
 * What changed from `current` to `next`: the module, which teams' grants were added, removed or
 * changed, and the classifier's lists (`listsOf` gives a bundle's lists, the shipped ones when it
 * carries none).
 */
export function diffBundles(
  next: VerifiedBundle,
  current: VerifiedBundle | undefined,
  listsOf: (bundle: VerifiedBundle) => ClassifierLists,
): Omit<BundleDiff, 'access'> {
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
    classification: { lists: next.classifierLists ? 'bundle' : 'builtin', changed: current ? compareClassifierLists(listsOf(next), listsOf(current)) : [] },
  };
}

const MAX_NAMED_ENTRIES = 10;

/** Entries a revision removes from the lists in force: each list that loses any is growth that needs a second security admin. */
export function classifierListsWeakening(changes: readonly ClassifierListChange[]): string[] {
  return changes
    .filter((c) => c.removed.length > 0)
    .map((c) => {
      const named = c.removed.slice(0, MAX_NAMED_ENTRIES).map((e) => JSON.stringify(e)).join(', ');
      const more = c.removed.length > MAX_NAMED_ENTRIES ? ` and ${c.removed.length - MAX_NAMED_ENTRIES} more` : '';
      return `classifier list ${c.list} drops ${c.removed.length} ${c.removed.length === 1 ? 'entry' : 'entries'}: ${named}${more}`;
    });
}

/** Inputs every bundle must answer with a well-formed decision before it may be activated. */
export function probeInputs(bundle: VerifiedBundle): PolicyInput[] {
  const now = new Date().toISOString();
  const request = { purpose: 'probe', org_units: [], kinds: [], from: '2026-01-01T00:00:00.000Z', to: '2026-01-02T00:00:00.000Z' };
  const teams = [[], [''], ['probe-unknown-team'], ...Object.keys(grantsOf(bundle.data.grants)).map((t) => [t])];
  const roles = [['training-job'], ['ingest-agent'], ['auditor'], []];
  return teams.flatMap((t) =>
    roles.map((r) => ({ subject: { sub: 'probe', roles: r, teams: t, purpose: 'probe' }, action: 'dataset.request', request, now })),
  );
}

async function probeViolations(evaluator: PolicyEvaluator, bundle: VerifiedBundle): Promise<string[]> {
  const violations: string[] = [];
  for (const input of probeInputs(bundle)) {
    const decision = await evaluator.evaluate(input);
    if (decision.fault) violations.push(`${decision.reasons[0]} for roles [${input.subject.roles}] teams [${input.subject.teams}]: ${decision.fault}`);
  }
  return violations;
}

/** The checks a revision passes before it is staged, approved or activated: probes and the access diff against the one in force. */
export class RevisionChecks {
  constructor(
    private readonly database: VaultDatabase,
    private readonly trustedKeys: readonly TrustedBundleKey[],
    private readonly engine: PolicyEngine,
    private readonly audit: AuditLog,
    private readonly options: CheckOptions,
  ) {}

  /** The bundle's lists, or the shipped ones when it carries none. */
  readonly listsOf = (bundle: VerifiedBundle): ClassifierLists => this.engine.classifierListsOf(bundle);

  /**
   * Evaluates `next` and `against` over the subject x scope matrix on today's roster. Entries
   * `next` removes from the classifier's lists in force count as growth too.
   */
  async accessDiff(next: { bundle: VerifiedBundle; evaluator: PolicyEvaluator }, against: ComparedPolicy | undefined): Promise<AccessDiff> {
    const since = new Date(Date.now() - RECENT_TEAMS_DAYS * 86_400_000);
    const [roster, recentTeams, active] = await Promise.all([
      countEnrolledByOrgUnit(this.database.db),
      this.audit.teamsSeenSince(since),
      against ? (against.evaluator ?? PolicyEvaluator.load(against.bundle)) : undefined,
    ]);
    const access = await computeAccessDiff({ next: next.evaluator, active, roster, recentTeams, kinds: this.options.kinds, maxScopeFraction: this.options.maxScopeFraction });
    const weakening = against ? classifierListsWeakening(compareClassifierLists(this.listsOf(next.bundle), this.listsOf(against.bundle))) : [];
    return weakening.length ? { ...access, growth: [...access.growth, ...weakening] } : access;
  }

  /**
   * The activation in force and its policy. The engine's, verified and compiled when it was put
   * in force, when the engine serves that very activation; otherwise verified here (undefined
   * when it no longer verifies) and compiled when compared.
   */
  async inForce(): Promise<{ activationId: string | null; policy: ComparedPolicy | undefined }> {
    const activation = await findActiveActivation(this.database.db);
    if (!activation) return { activationId: null, policy: undefined };
    const served = this.engine.policyInForce();
    if (served?.activationId === activation.activationId) return { activationId: activation.activationId, policy: served };
    const stored = await findBundle(this.database.db, activation.revision);
    const bundle = stored ? await verifyBundle(stored.archive, this.trustedKeys).catch(() => undefined) : undefined;
    return { activationId: activation.activationId, policy: bundle && { bundle } };
  }

  /** Verifies a staged revision again, probes it and diffs it against the activation in force. */
  async check(stored: StoredBundle): Promise<CheckedRevision> {
    const violations: string[] = [];
    let access: AccessDiff | undefined;
    let loaded: CheckedRevision['loaded'];
    const inForce = await this.inForce();
    try {
      const bundle = await verifyBundle(stored.archive, this.trustedKeys);
      // The activating instance puts this very bundle in force: it must be what its record says.
      if (bundle.revision !== stored.revision || bundle.sha256 !== stored.sha256) {
        throw new VaultError('ERR_BUNDLE_REJECTED', 'the stored bundle does not match its revision record');
      }
      const evaluator = await PolicyEvaluator.load(bundle);
      loaded = { bundle, evaluator };
      violations.push(...(await probeViolations(evaluator, bundle)));
      access = await this.accessDiff(loaded, inForce.policy);
      violations.push(...access.violations);
    } catch (err) {
      violations.push(err instanceof Error ? err.message : String(err));
    }
    return { violations, access, againstActivation: inForce.activationId, loaded };
  }
}
