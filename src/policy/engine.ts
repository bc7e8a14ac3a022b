import fs from 'node:fs/promises';
import { Classifier, type ClassifierLists } from '../classify/index.js';
import {
  findActiveActivation,
  findBundle,
  inTransaction,
  insertActivation,
  insertBundle,
  lockDefaultPolicyInstall,
  type Activation,
  type VaultDatabase,
} from '../db/index.js';
import { VaultError } from '../errors/index.js';
import { verifyBundle, type TrustedBundleKey, type VerifiedBundle } from './bundle.js';
import { PolicyEvaluator, type PolicyDecision, type PolicyInput } from './evaluator.js';

export const POLICY_CHANNEL = 'vault_policy';
export const DEFAULT_BUNDLE_ACTOR = 'system:default-bundle';

export interface PolicyEngineOptions {
  readonly database: VaultDatabase;
  readonly trustedKeys: readonly TrustedBundleKey[];
  /** Staged and activated when the store has never had an activation. */
  readonly defaultBundleFile?: string | undefined;
  /** The lists a bundle that carries none is classified with: policies/classification/data.json as shipped. */
  readonly builtinClassifierLists: ClassifierLists;
  /** Backstop for a missed notification; activations are picked up within this interval at worst. */
  readonly pollIntervalMs?: number;
  readonly log?: (event: Record<string, unknown>, message: string) => void;
}

export interface RevisionedDecision {
  readonly decision: PolicyDecision;
  readonly revision: string;
  /** The grants of the same revision, for the vault's own invariants. */
  readonly grants: unknown;
}

/** The classifier of the revision in force, and where its lists came from. */
export interface ClassifierInForce {
  readonly classifier: Classifier;
  readonly revision: string;
  /** `bundle`: the revision's own `data.classification`; `builtin`: it carries none, the shipped lists apply. */
  readonly lists: 'bundle' | 'builtin';
  /** The lists themselves, for a classifier built elsewhere (an ingest worker thread). */
  readonly source: ClassifierLists;
}

/** The activation an instance serves, with the bundle it verified and the evaluator it compiled for it. */
export interface PolicyInForce {
  readonly activationId: string;
  readonly bundle: VerifiedBundle;
  readonly evaluator: PolicyEvaluator;
}

/**
 * The policy in force in this instance. Every activation (NOTIFY, or the poll) swaps the
 * evaluator by replacing one reference, so a request already evaluating finishes on the revision
 * it started with and the next one sees the new one. A bundle that fails verification when loaded
 * leaves the instance with no policy: no decision is made until a valid one is active.
 */
export class PolicyEngine {
  readonly #options: PolicyEngineOptions;
  #active: PolicyEvaluator | undefined;
  #bundle: VerifiedBundle | undefined;
  #classifier: ClassifierInForce | undefined;
  #activationId: string | undefined;
  #adoptions = 0;
  #unavailable = 'no policy loaded yet';
  #refresh: Promise<void> = Promise.resolve();
  #timer: NodeJS.Timeout | undefined;
  #unlisten: (() => Promise<void>) | undefined;

  constructor(options: PolicyEngineOptions) {
    this.#options = options;
  }

  async start(): Promise<void> {
    await this.#installDefaultIfNone().catch((err) => this.#log({ error: describe(err) }, 'default policy bundle not installed'));
    await this.refresh();
    this.#unlisten = await this.#options.database.listen(POLICY_CHANNEL, () => void this.refresh()).catch(() => undefined);
    this.#timer = setInterval(() => void this.refresh(), this.#options.pollIntervalMs ?? 500);
    this.#timer.unref();
  }

  async stop(): Promise<void> {
    clearInterval(this.#timer);
    await this.#unlisten?.();
    await this.#refresh;
  }

  /** Loads the newest activation if it is not the one in force. Calls are serialised. */
  refresh(): Promise<void> {
    this.#refresh = this.#refresh.then(() => this.#load()).catch(() => {});
    return this.#refresh;
  }

  get revision(): string | undefined {
    return this.#active?.revision;
  }

  readiness(): { ok: boolean; reason?: string } {
    return this.#active ? { ok: true } : { ok: false, reason: this.#unavailable };
  }

  /** Evaluates under the revision in force; throws `ERR_POLICY_UNAVAILABLE` when there is none. */
  async decide(input: PolicyInput): Promise<RevisionedDecision> {
    const evaluator = this.#active;
    if (!evaluator) throw new VaultError('ERR_POLICY_UNAVAILABLE', 'no valid policy is active', { internal: { reason: this.#unavailable } });
    return { decision: await evaluator.evaluate(input), revision: evaluator.revision, grants: evaluator.grants };
  }

  /**
   * The classifier built from the lists of the revision in force (or the shipped ones when it
   * carries none); throws `ERR_POLICY_UNAVAILABLE` when no revision is in force, so nothing is
   * classified with lists the security team may have replaced.
   */
  classifierInForce(): ClassifierInForce {
    const classifier = this.#classifier;
    if (!classifier) throw new VaultError('ERR_POLICY_UNAVAILABLE', 'no valid policy is active', { internal: { reason: this.#unavailable } });
    return classifier;
  }

  /** The lists `bundle` classifies with once in force. */
  classifierListsOf(bundle: Pick<VerifiedBundle, 'classifierLists'>): ClassifierLists {
    return bundle.classifierLists ?? this.#options.builtinClassifierLists;
  }

  /** The activation served now, its verified bundle and its evaluator; undefined while no valid policy is. */
  policyInForce(): PolicyInForce | undefined {
    const [activationId, bundle, evaluator] = [this.#activationId, this.#bundle, this.#active];
    return activationId !== undefined && bundle && evaluator ? { activationId, bundle, evaluator } : undefined;
  }

  /**
   * Puts in force an activation this instance has just committed, with the bundle its caller
   * verified and the evaluator it compiled, so that the refresh the activation triggers finds it
   * in force and neither verifies nor compiles it again. An activation older than the one in force
   * is ignored.
   *
   * @example
   * const activation = await inTransaction(database, (trx) => insertActivation(trx, bundle.revision, admin));
   * engine.adopt(activation, { bundle, evaluator });
   */
  adopt(activation: Pick<Activation, 'activationId' | 'revision' | 'activatedBy'>, policy: { bundle: VerifiedBundle; evaluator: PolicyEvaluator }): void {
    if (policy.bundle.revision !== activation.revision || policy.evaluator.revision !== activation.revision) {
      throw new TypeError('the adopted bundle and evaluator must be of the activated revision');
    }
    if (this.#activationId !== undefined && BigInt(activation.activationId) <= BigInt(this.#activationId)) return;
    this.#adoptions += 1;
    this.#serve(policy.bundle, policy.evaluator);
    this.#activationId = activation.activationId;
    this.#log({ revision: activation.revision, activated_by: activation.activatedBy }, 'policy revision in force');
  }

  /** The grants of the revision in force; throws `ERR_POLICY_UNAVAILABLE` when there is none. */
  grantsInForce(): { grants: unknown; revision: string } {
    const evaluator = this.#active;
    if (!evaluator) throw new VaultError('ERR_POLICY_UNAVAILABLE', 'no valid policy is active', { internal: { reason: this.#unavailable } });
    return { grants: evaluator.grants, revision: evaluator.revision };
  }

  async #load(): Promise<void> {
    const { database, trustedKeys } = this.#options;
    // A load that began before an adoption may have read an older activation: the adopted one
    // stands, and anything newer is picked up by the next refresh.
    const adoptions = this.#adoptions;
    const activation = await findActiveActivation(database.db);
    if (adoptions !== this.#adoptions) return;
    if (!activation) {
      this.#serve(undefined, undefined);
      this.#unavailable = 'no policy bundle has been activated';
      return;
    }
    if (activation.activationId === this.#activationId) return;
    if (activation.revision === this.#active?.revision) {
      this.#activationId = activation.activationId;
      return;
    }
    try {
      const stored = await findBundle(database.db, activation.revision);
      if (!stored) throw new VaultError('ERR_BUNDLE_REJECTED', 'the active revision has no stored bundle');
      const verified = await verifyBundle(stored.archive, trustedKeys);
      if (verified.revision !== activation.revision || verified.sha256 !== stored.sha256) {
        throw new VaultError('ERR_BUNDLE_REJECTED', 'the stored bundle does not match its revision record');
      }
      const evaluator = await PolicyEvaluator.load(verified);
      if (adoptions !== this.#adoptions) return;
      this.#serve(verified, evaluator);
      this.#activationId = activation.activationId;
      this.#log({ revision: activation.revision, activated_by: activation.activatedBy }, 'policy revision in force');
    } catch (err) {
      if (adoptions !== this.#adoptions) return;
      this.#serve(undefined, undefined);
      this.#activationId = activation.activationId;
      this.#unavailable = `active revision ${activation.revision} cannot be used: ${describe(err)}`;
      this.#log({ revision: activation.revision, error: describe(err), alarm: 'policy_unavailable' }, 'active policy bundle refused');
    }
  }

  #serve(bundle: VerifiedBundle | undefined, evaluator: PolicyEvaluator | undefined): void {
    this.#active = evaluator;
    this.#bundle = bundle;
    this.#classifier =
      bundle && evaluator
        ? (() => {
            const source = this.classifierListsOf(bundle);
            return { classifier: new Classifier(source), revision: bundle.revision, lists: bundle.classifierLists ? 'bundle' : 'builtin', source } as const;
          })()
        : undefined;
  }

  async #installDefaultIfNone(): Promise<void> {
    const file = this.#options.defaultBundleFile;
    if (!file) return;
    const { db } = this.#options.database;
    if (await findActiveActivation(db)) return;
    const verified = await verifyBundle(await fs.readFile(file), this.#options.trustedKeys);
    await inTransaction(db, async (trx) => {
      await lockDefaultPolicyInstall(trx);
      if (await findActiveActivation(trx)) return;
      if (!(await findBundle(trx, verified.revision))) {
        await insertBundle(trx, { ...verified, stagedBy: DEFAULT_BUNDLE_ACTOR });
      }
      await insertActivation(trx, verified.revision, DEFAULT_BUNDLE_ACTOR);
    });
  }

  #log(event: Record<string, unknown>, message: string): void {
    this.#options.log?.(event, message);
  }
}

function describe(err: unknown): string {
  return err instanceof Error ? err.message : String(err);
}
