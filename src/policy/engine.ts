import fs from 'node:fs/promises';
import { sql } from 'kysely';
import { findActiveActivation, findBundle, insertActivation, insertBundle, type VaultDatabase } from '../db/index.js';
import { VaultError } from '../errors/index.js';
import { verifyBundle, type TrustedBundleKey } from './bundle.js';
import { PolicyEvaluator, type PolicyDecision, type PolicyInput } from './evaluator.js';

export const POLICY_CHANNEL = 'vault_policy';
export const DEFAULT_BUNDLE_ACTOR = 'system:default-bundle';

export interface PolicyEngineOptions {
  readonly database: VaultDatabase;
  readonly trustedKeys: readonly TrustedBundleKey[];
  /** Staged and activated when the store has never had an activation. */
  readonly defaultBundleFile?: string | undefined;
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

/**
 * The policy in force in this instance. Every activation (NOTIFY, or the poll) swaps the
 * evaluator by replacing one reference, so a request already evaluating finishes on the revision
 * it started with and the next one sees the new one. A bundle that fails verification when loaded
 * leaves the instance with no policy: no decision is made until a valid one is active.
 */
export class PolicyEngine {
  readonly #options: PolicyEngineOptions;
  #active: PolicyEvaluator | undefined;
  #activationId: string | undefined;
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

  /** The grants of the revision in force; throws `ERR_POLICY_UNAVAILABLE` when there is none. */
  grantsInForce(): { grants: unknown; revision: string } {
    const evaluator = this.#active;
    if (!evaluator) throw new VaultError('ERR_POLICY_UNAVAILABLE', 'no valid policy is active', { internal: { reason: this.#unavailable } });
    return { grants: evaluator.grants, revision: evaluator.revision };
  }

  async #load(): Promise<void> {
    const { database, trustedKeys } = this.#options;
    const activation = await findActiveActivation(database.db);
    if (!activation) {
      this.#active = undefined;
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
      this.#active = await PolicyEvaluator.load(verified);
      this.#activationId = activation.activationId;
      this.#log({ revision: activation.revision, activated_by: activation.activatedBy }, 'policy revision in force');
    } catch (err) {
      this.#active = undefined;
      this.#activationId = activation.activationId;
      this.#unavailable = `active revision ${activation.revision} cannot be used: ${describe(err)}`;
      this.#log({ revision: activation.revision, error: describe(err), alarm: 'policy_unavailable' }, 'active policy bundle refused');
    }
  }

  async #installDefaultIfNone(): Promise<void> {
    const file = this.#options.defaultBundleFile;
    if (!file) return;
    const { db } = this.#options.database;
    if (await findActiveActivation(db)) return;
    const verified = await verifyBundle(await fs.readFile(file), this.#options.trustedKeys);
    await db.transaction().execute(async (trx) => {
      await sql`select pg_advisory_xact_lock(hashtext('vault_policy_default'))`.execute(trx);
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
