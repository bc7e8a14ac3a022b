/**
 * The console's only door to the vault: same-origin fetch with the tab's bearer token. Every error
 * the vault answers becomes an ApiError that carries the vault's code, so views show it verbatim.
 */
export class ApiError extends Error {
  readonly status: number;
  readonly code: string;
  readonly decisionId?: string;
  readonly reasons?: readonly string[];
  readonly violations?: readonly string[];

  constructor(status: number, code: string, message: string, extra: { decisionId?: string; reasons?: readonly string[]; violations?: readonly string[] } = {}) {
    super(message);
    this.name = 'ApiError';
    this.status = status;
    this.code = code;
    if (extra.decisionId !== undefined) this.decisionId = extra.decisionId;
    if (extra.reasons !== undefined) this.reasons = extra.reasons;
    if (extra.violations !== undefined) this.violations = extra.violations;
  }
}

type Query = Record<string, string | undefined>;

function withQuery(path: string, query?: Query): string {
  if (!query) return path;
  const params = new URLSearchParams();
  for (const [k, v] of Object.entries(query)) if (v !== undefined && v !== '') params.set(k, v);
  const qs = params.toString();
  return qs ? `${path}${path.includes('?') ? '&' : '?'}${qs}` : path;
}

async function toApiError(res: Response): Promise<ApiError> {
  let body: unknown;
  try {
    body = await res.json();
  } catch {
    body = undefined;
  }
  const b = (body && typeof body === 'object' ? body : {}) as Record<string, unknown>;
  const code = typeof b.error === 'string' ? b.error : `http_${res.status}`;
  const message = typeof b.message === 'string' ? b.message : res.statusText || 'request failed';
  const strings = (v: unknown): string[] | undefined => (Array.isArray(v) ? v.filter((x): x is string => typeof x === 'string') : undefined);
  const extra: { decisionId?: string; reasons?: string[]; violations?: string[] } = {};
  if (typeof b.decision_id === 'string') extra.decisionId = b.decision_id;
  const reasons = strings(b.reasons);
  if (reasons) extra.reasons = reasons;
  const violations = strings(b.violations);
  if (violations) extra.violations = violations;
  return new ApiError(res.status, code, message, extra);
}

export class Api {
  readonly #token: string;

  constructor(token: string) {
    this.#token = token;
  }

  #headers(json: boolean): Headers {
    const h = new Headers({ accept: 'application/json' });
    if (this.#token) h.set('authorization', `Bearer ${this.#token}`);
    if (json) h.set('content-type', 'application/json');
    return h;
  }

  async #call(method: string, path: string, body?: unknown): Promise<Response> {
    let res: Response;
    try {
      res = await fetch(path, {
        method,
        headers: this.#headers(body !== undefined),
        body: body === undefined ? null : JSON.stringify(body),
        credentials: 'omit',
        cache: 'no-store',
        referrerPolicy: 'no-referrer',
      });
    } catch (err) {
      throw new ApiError(0, 'network_error', err instanceof Error ? err.message : 'the vault did not answer');
    }
    if (!res.ok) throw await toApiError(res);
    return res;
  }

  async get<T>(path: string, query?: Query): Promise<T> {
    const res = await this.#call('GET', withQuery(path, query));
    return (await res.json()) as T;
  }

  /** For the NDJSON and text routes (an employee's own records). */
  async getText(path: string, query?: Query): Promise<string> {
    const res = await this.#call('GET', withQuery(path, query));
    return res.text();
  }

  async send<T>(method: 'POST' | 'PUT' | 'DELETE', path: string, body?: unknown): Promise<T> {
    const res = await this.#call(method, path, body);
    if (res.status === 204) return undefined as T;
    const text = await res.text();
    return (text ? JSON.parse(text) : undefined) as T;
  }
}
