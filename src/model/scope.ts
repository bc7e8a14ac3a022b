/**
 * What a dataset may contain. The one shape of a scope inside the vault; the policy speaks JSON,
 * and `policyRequestOf`, `scopeFromPolicyResult` and `scopeToJson` are the only conversions.
 */
export interface Scope {
  readonly orgUnits: readonly string[];
  readonly kinds: readonly string[];
  readonly maxSensitivity: number;
  readonly from: Date;
  readonly to: Date;
}

/** A scope as the policy returns it and as the API shows it. */
export interface ScopeJson {
  readonly org_units: string[];
  readonly kinds: string[];
  readonly max_sensitivity: number;
  readonly from: string;
  readonly to: string;
}

/** A dataset request as a training job sends it (`POST /v1/datasets`). */
export type DatasetRequestJson = Pick<ScopeJson, 'from' | 'to'> & Partial<Pick<ScopeJson, 'org_units' | 'kinds' | 'max_sensitivity'>> & { readonly purpose: string };

/**
 * What a training job asks for: a scope whose empty lists mean "all the grant allows" and whose
 * sensitivity, when absent, is the grant's.
 */
export interface DatasetRequest extends Omit<Scope, 'maxSensitivity'> {
  readonly purpose: string;
  readonly maxSensitivity: number | undefined;
}

const MAX_RESULT_UNITS = 10_000;
const MAX_RESULT_KINDS = 256;

const isStringList = (v: unknown, max: number): v is string[] =>
  Array.isArray(v) && v.length <= max && v.every((x) => typeof x === 'string' && x.length <= 256);

const instant = (v: unknown): Date | undefined => {
  if (typeof v !== 'string' || v.length > 64) return undefined;
  const ms = Date.parse(v);
  return Number.isFinite(ms) ? new Date(ms) : undefined;
};

export function scopeToJson(scope: Scope): ScopeJson {
  return {
    org_units: [...scope.orgUnits],
    kinds: [...scope.kinds],
    max_sensitivity: scope.maxSensitivity,
    from: scope.from.toISOString(),
    to: scope.to.toISOString(),
  };
}

/** The `request` of the policy input for a dataset request. */
export function policyRequestOf(request: DatasetRequest): Record<string, unknown> {
  return {
    purpose: request.purpose,
    kinds: [...request.kinds],
    org_units: [...request.orgUnits],
    from: request.from.toISOString(),
    to: request.to.toISOString(),
    ...(request.maxSensitivity === undefined ? {} : { max_sensitivity: request.maxSensitivity }),
  };
}

/** The policy's `scope`, checked for shape; undefined when it is not a well-formed scope. */
export function scopeFromPolicyResult(raw: unknown): Scope | undefined {
  if (typeof raw !== 'object' || raw === null) return undefined;
  const s = raw as Record<string, unknown>;
  const from = instant(s.from);
  const to = instant(s.to);
  if (!isStringList(s.org_units, MAX_RESULT_UNITS) || !isStringList(s.kinds, MAX_RESULT_KINDS) || !Number.isInteger(s.max_sensitivity) || !from || !to) {
    return undefined;
  }
  return { orgUnits: s.org_units, kinds: s.kinds, maxSensitivity: s.max_sensitivity as number, from, to };
}

const narrowList = (granted: readonly string[], asked: readonly string[]) =>
  [...new Set(asked.length === 0 ? granted : granted.filter((x) => asked.includes(x)))].sort();

/** The vault's own intersection: never wider than what the job asked for, whatever the policy granted. */
export function narrowScope(granted: Scope, request: DatasetRequest): Scope {
  return {
    orgUnits: narrowList(granted.orgUnits, request.orgUnits),
    kinds: narrowList(granted.kinds, request.kinds),
    maxSensitivity: Math.min(granted.maxSensitivity, request.maxSensitivity ?? granted.maxSensitivity),
    from: new Date(Math.max(granted.from.getTime(), request.from.getTime())),
    to: new Date(Math.min(granted.to.getTime(), request.to.getTime())),
  };
}

export function isEmptyScope(scope: Scope): boolean {
  return scope.orgUnits.length === 0 || scope.kinds.length === 0 || scope.from >= scope.to;
}
