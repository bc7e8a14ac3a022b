import { loadPolicy } from '@open-policy-agent/opa-wasm';
import { VaultError } from '../errors/index.js';
import { scopeFromPolicyResult, type Scope } from '../model/index.js';
import { ENTRYPOINT, type VerifiedBundle } from './bundle.js';

export interface PolicyDecision {
  readonly allow: boolean;
  /** CONTRACT's `scope`, converted once from the policy's JSON. */
  readonly scope: Scope | undefined;
  readonly reasons: string[];
  /** Why evaluation itself failed (throw, undefined or malformed result): for the audit log only. */
  readonly fault?: string;
}

export interface PolicyInput {
  readonly subject: { sub: string; roles: readonly string[]; teams: readonly string[]; purpose: string | undefined };
  readonly action: string;
  readonly request: Record<string, unknown>;
  /** RFC 3339 time of the decision: wasm has no clock of its own. */
  readonly now: string;
}

export const MAX_INPUT_BYTES = 64 * 1024;
/** WebAssembly pages of 64 KiB: 16 MiB at the most for one policy instance. */
const MEMORY = { initial: 5, maximum: 256 } as const;

type LoadedPolicy = Awaited<ReturnType<typeof loadPolicy>>;

function deny(reason: string, fault?: string): PolicyDecision {
  return { allow: false, scope: undefined, reasons: [reason], ...(fault ? { fault } : {}) };
}

const isStringList = (v: unknown, max: number): v is string[] =>
  Array.isArray(v) && v.length <= max && v.every((x) => typeof x === 'string' && x.length <= 256);

/** Checks the policy's answer against CONTRACT's shape; anything else is a deny. */
export function decisionFromResultSet(resultSet: unknown): PolicyDecision {
  if (!Array.isArray(resultSet) || resultSet.length === 0) return deny('policy_undefined', 'empty result set');
  if (resultSet.length > 1) return deny('policy_result_malformed', 'more than one result');
  const result = (resultSet[0] as { result?: unknown } | null)?.result as Record<string, unknown> | undefined;
  if (typeof result !== 'object' || result === null) return deny('policy_result_malformed', 'result is not an object');
  if (typeof result.allow !== 'boolean') return deny('policy_result_malformed', 'allow is not a boolean');
  const reasons = result.reasons ?? [];
  if (!isStringList(reasons, 64)) return deny('policy_result_malformed', 'reasons is not a list of strings');
  if (!result.allow) return { allow: false, scope: undefined, reasons: reasons.length ? reasons : ['policy_denied'] };
  const scope = scopeFromPolicyResult(result.scope);
  if (!scope) return deny('policy_result_malformed', 'allow without a well-formed scope');
  return { allow: true, scope, reasons };
}

function describe(err: unknown): string {
  const text = typeof err === 'string' ? err : err instanceof Error ? err.message : JSON.stringify(err);
  return String(text).slice(0, 200);
}

/**
 * One policy revision, evaluated in-process with opa-wasm. Evaluation never throws: a throw, an
 * undefined or a malformed result is a deny with a reason, and an instance that threw is thrown
 * away (its memory may be in any state) and rebuilt for the next call.
 */
export class PolicyEvaluator {
  static #compilations = 0;
  readonly revision: string;
  readonly #wasm: ArrayBuffer;
  readonly #data: Record<string, unknown>;
  #instance: LoadedPolicy | undefined;

  private constructor(revision: string, wasm: ArrayBuffer, data: Record<string, unknown>, instance: LoadedPolicy) {
    this.revision = revision;
    this.#wasm = wasm;
    this.#data = data;
    this.#instance = instance;
  }

  /** Compiles the bundle's module; throws `ERR_BUNDLE_REJECTED` if it does not load or lacks the entrypoint. */
  static async load(bundle: Pick<VerifiedBundle, 'revision' | 'wasm' | 'data'>): Promise<PolicyEvaluator> {
    // An ArrayBuffer of exactly the module's bytes: never a Node Buffer, whose pool may hold more.
    const wasm = bundle.wasm.buffer.slice(bundle.wasm.byteOffset, bundle.wasm.byteOffset + bundle.wasm.byteLength) as ArrayBuffer;
    const instance = await PolicyEvaluator.#instantiate(wasm, bundle.data);
    return new PolicyEvaluator(bundle.revision, wasm, bundle.data, instance);
  }

  /** Policy modules compiled in this process so far (each load, and each rebuild after a throw). */
  static get compilations(): number {
    return PolicyEvaluator.#compilations;
  }

  static async #instantiate(wasm: ArrayBuffer, data: Record<string, unknown>): Promise<LoadedPolicy> {
    PolicyEvaluator.#compilations += 1;
    try {
      const policy = await loadPolicy(wasm, { ...MEMORY });
      if (!Object.prototype.hasOwnProperty.call(policy.entrypoints, ENTRYPOINT)) throw new Error(`no entrypoint ${ENTRYPOINT}`);
      policy.setData(data);
      return policy;
    } catch (err) {
      throw new VaultError('ERR_BUNDLE_REJECTED', `policy module does not load: ${describe(err)}`, { cause: err });
    }
  }

  /** The bundle's `grants`, which the vault's invariants check every scope against. */
  get grants(): unknown {
    return this.#data.grants;
  }

  async evaluate(input: PolicyInput): Promise<PolicyDecision> {
    if (JSON.stringify(input).length > MAX_INPUT_BYTES) return deny('policy_input_too_large');
    let instance = this.#instance;
    if (!instance) {
      try {
        instance = this.#instance = await PolicyEvaluator.#instantiate(this.#wasm, this.#data);
      } catch (err) {
        return deny('policy_error', describe(err));
      }
    }
    let resultSet: unknown;
    try {
      resultSet = instance.evaluate(input, ENTRYPOINT);
    } catch (err) {
      if (this.#instance === instance) this.#instance = undefined;
      return deny('policy_error', describe(err));
    }
    return decisionFromResultSet(resultSet);
  }
}
