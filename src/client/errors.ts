/**
 * A refusal by the vault: `status` is the HTTP status, `error` the vault's error code
 * (`unauthenticated`, `policy_denied`, ...), `body` the whole error body (`decision_id`,
 * `violations`, `reasons`). A vault that cannot be reached is `unavailable` with status 0.
 */
export class VaultClientError extends Error {
  constructor(
    readonly status: number,
    readonly error: string,
    message: string,
    readonly body: Record<string, unknown> = {},
    options?: { cause?: unknown },
  ) {
    super(message, options);
    this.name = 'VaultClientError';
  }
}

/** Gateways answer these for a vault that is down or restarting; their bodies are not the vault's. */
const GATEWAY_UNAVAILABLE = new Set([502, 503, 504]);

/** A JSON object, or nothing: proxies answer with HTML, and a truncated body is no body. */
export function parseObject(text: string): Record<string, unknown> | undefined {
  try {
    const value: unknown = JSON.parse(text);
    return typeof value === 'object' && value !== null && !Array.isArray(value) ? (value as Record<string, unknown>) : undefined;
  } catch {
    return undefined;
  }
}

/** The refusal in a non-2xx answer, whatever its body holds. */
export async function refusalOf(response: Response): Promise<VaultClientError> {
  const body = parseObject(await response.text().catch(() => '')) ?? {};
  const error = typeof body.error === 'string' ? body.error : GATEWAY_UNAVAILABLE.has(response.status) ? 'unavailable' : 'http_error';
  const message = typeof body.message === 'string' ? body.message : `HTTP ${response.status} ${response.statusText}`.trim();
  return new VaultClientError(response.status, error, message, body);
}

/** No answer at all: refused connection, unknown host, reset before the headers. */
export function unreachable(url: string, cause: unknown): VaultClientError {
  return new VaultClientError(0, 'unavailable', `cannot reach the vault at ${url}`, {}, { cause });
}
