import { randomUUID } from 'node:crypto';
import type { FastifyError, FastifyReply, FastifyRequest } from 'fastify';
import { publicErrorName, VaultError, type VaultErrorCode } from '../errors/index.js';
import { isEmployeeId } from '../model/index.js';
import type { EdgeAudit } from '../services/index.js';

/** The one table from error code to HTTP status. README's "Error codes" section mirrors it (tested). */
export const HTTP_STATUS: Readonly<Record<VaultErrorCode, number>> = {
  ERR_INVALID_REQUEST: 400,
  ERR_INVALID_RECORD: 400,
  ERR_UNKNOWN_EMPLOYEE: 400,
  ERR_UNKNOWN_KIND: 400,
  ERR_UNAUTHENTICATED: 401,
  ERR_FORBIDDEN: 403,
  ERR_POLICY_DENIED: 403,
  ERR_SUBJECT_INCOMPLETE: 403,
  ERR_SCOPE_NOT_EXPLICIT: 403,
  ERR_SCOPE_OUTSIDE_GRANT: 403,
  ERR_SCOPE_TOO_WIDE: 403,
  ERR_SENSITIVITY_FORBIDDEN: 403,
  ERR_LEASE_EXPIRED: 410,
  ERR_LEASE_REVOKED: 403,
  ERR_NOT_FOUND: 404,
  ERR_METHOD_NOT_ALLOWED: 405,
  ERR_CONFLICT: 409,
  ERR_POLICY_REJECTED: 409,
  ERR_BUNDLE_REJECTED: 422,
  ERR_BATCH_TOO_LARGE: 413,
  ERR_BODY_TOO_LARGE: 413,
  ERR_UNSUPPORTED_MEDIA_TYPE: 415,
  ERR_DECRYPT_FAILED: 500,
  ERR_INTERNAL: 500,
  ERR_CONFIG: 500,
  ERR_KEY_UNAVAILABLE: 503,
  ERR_UNAVAILABLE: 503,
  ERR_POLICY_UNAVAILABLE: 503,
  ERR_PROGRAM_PAUSED: 503,
  ERR_EXPORTS_FROZEN: 503,
};

/** Route schema pieces every route plugin shares. */
export const errorResponses = { '4xx': { $ref: 'ErrorBody#' }, '5xx': { $ref: 'ErrorBody#' } } as const;
export const bearerAuth = [{ bearer: [] }];

export const errorBodySchema = {
  $id: 'ErrorBody',
  type: 'object',
  required: ['error', 'message'],
  properties: {
    error: { type: 'string' },
    message: { type: 'string' },
    decision_id: { type: 'string' },
    error_id: { type: 'string' },
    violations: { type: 'array', items: { type: 'string' } },
    reasons: { type: 'array', items: { type: 'string' } },
    details: { type: 'object', additionalProperties: true },
  },
} as const;

const FRAMEWORK_ERRORS: Record<string, [VaultErrorCode, string]> = {
  FST_ERR_CTP_BODY_TOO_LARGE: ['ERR_BODY_TOO_LARGE', 'request body is larger than the limit'],
  FST_ERR_CTP_INVALID_MEDIA_TYPE: ['ERR_UNSUPPORTED_MEDIA_TYPE', 'unsupported content type'],
  // The parser also refuses valid JSON with a `__proto__` or `constructor.prototype` key (prototype
  // poisoning) and does not say which it was: the message names both.
  FST_ERR_CTP_INVALID_JSON_BODY: ['ERR_INVALID_REQUEST', 'request body is not valid JSON, or has a __proto__ or constructor.prototype key'],
  FST_ERR_CTP_EMPTY_JSON_BODY: ['ERR_INVALID_REQUEST', 'request body is empty'],
  FST_ERR_CTP_INVALID_CONTENT_LENGTH: ['ERR_INVALID_REQUEST', 'content-length does not match the body'],
};

/**
 * SQLSTATEs of a value the caller sent that the database cannot hold: text with U+0000 (22021),
 * an untranslatable character (22P05), a date or number out of range (22007-22009, 22003). The
 * edge should have refused these; when one slips through it is still the caller's input, a 400.
 */
const STORE_REFUSED_VALUE = new Set(['22021', '22P05', '22007', '22008', '22009', '22003']);

function toVaultError(err: FastifyError | Error): VaultError | undefined {
  if (err instanceof VaultError) return err;
  const fe = err as FastifyError;
  if (fe.validation) {
    const first = fe.validation[0];
    const where = `${fe.validationContext ?? 'request'}${first?.instancePath ?? ''}`;
    // A pattern's text is the schema's, never the input, but "must match /^[^\u0000-...]/" helps nobody.
    const what = first?.keyword === 'pattern' ? 'has characters or a form that is not allowed' : (first?.message ?? 'is invalid');
    return new VaultError('ERR_INVALID_REQUEST', `${where} ${what}`);
  }
  const mapped = fe.code ? FRAMEWORK_ERRORS[fe.code] : undefined;
  if (mapped) return new VaultError(mapped[0], mapped[1]);
  // The rotation fence (migration 20261203T1700): this instance has not loaded the new KEK yet.
  if (fe.code === 'VK001') return new VaultError('ERR_UNAVAILABLE', 'a KEK rotation is starting; retry in a second', { internal: { sqlstate: fe.code } });
  if (typeof fe.code === 'string' && STORE_REFUSED_VALUE.has(fe.code)) {
    return new VaultError('ERR_INVALID_REQUEST', 'the request holds a value the store cannot keep (a control character, or a date outside 0001-9999)', {
      internal: { sqlstate: fe.code, alarm: 'edge_validation_gap' },
    });
  }
  // Node's JSON.parse messages quote the input; never let one through.
  if (err instanceof SyntaxError || (fe.statusCode !== undefined && fe.statusCode >= 400 && fe.statusCode < 500)) {
    return new VaultError('ERR_INVALID_REQUEST', 'malformed request');
  }
  return undefined;
}

/**
 * Fastify's `frameworkErrors`: the router refuses a malformed percent-encoding or a path segment
 * over `maxParamLength` before any route or hook runs, and by default answers in its own shape,
 * quoting the URL (which may hold an employee id) and with 414 for what the route schema calls a
 * 400. These leave like every other malformed request: 400 `invalid_request`, nothing echoed.
 */
export function frameworkErrorHandler(err: FastifyError, request: FastifyRequest, reply: FastifyReply): void {
  const known = err.code === 'FST_ERR_BAD_URL' || err.code === 'FST_ERR_MAX_PARAM_LENGTH';
  const code: VaultErrorCode = known ? 'ERR_INVALID_REQUEST' : 'ERR_INTERNAL';
  const errorId = known ? undefined : randomUUID();
  request.log[known ? 'info' : 'error']({ error: code, error_id: errorId, cause: { code: err.code } }, known ? 'request refused' : 'request failed');
  void reply
    .status(HTTP_STATUS[code])
    .send({ error: publicErrorName(code), message: known ? 'the URL is malformed or a path segment is too long' : 'internal error', ...(errorId ? { error_id: errorId } : {}) });
}

/**
 * 503s the vault answers on purpose, not for a failure: their message and details reach the caller,
 * with `Retry-After` in seconds.
 */
const RETRY_AFTER_SECONDS: Partial<Record<VaultErrorCode, number>> = { ERR_PROGRAM_PAUSED: 60, ERR_EXPORTS_FROZEN: 60 };

interface Outcome {
  /** A refusal the vault decided (any 4xx, or a deliberate 503), not a failure. */
  readonly refused: boolean;
  readonly status: number;
  readonly code: VaultErrorCode;
  readonly message: string;
  readonly errorId: string | undefined;
}

/**
 * Every error leaves as `{"error","message"}`. Known errors carry their safe message; anything
 * else is a 500 with an opaque id, and the cause is logged by name and code only. Before the
 * answer, the error is audited unless a service already recorded a deny for this request: every
 * 5xx (`http.error`) and every 4xx of an authenticated caller (`http.refused`), with the route,
 * method, status and code, never the body or the token. Anonymous refusals are the access gate's
 * to tally. An error that cannot be audited raises an alarm in the operator log and is still answered.
 */
export function errorHandler(edge: Pick<EdgeAudit, 'record'>) {
  return async function handleError(err: FastifyError | Error, request: FastifyRequest, reply: FastifyReply): Promise<FastifyReply> {
    const known = toVaultError(err);
    const status = known ? HTTP_STATUS[known.code] : 500;
    const code = known?.code ?? 'ERR_INTERNAL';
    const internal = known?.internal ?? {};
    const retryAfter = RETRY_AFTER_SECONDS[code];
    let outcome: Outcome;
    if (status < 500 || retryAfter !== undefined) {
      request.log[internal.alarm ? 'warn' : 'info']({ error: code, ...internal }, 'request refused');
      outcome = { refused: true, status, code, message: known!.message, errorId: undefined };
    } else {
      const errorId = randomUUID();
      request.log.error({ error_id: errorId, error: code, cause: { name: err.name, code: (err as { code?: unknown }).code } }, 'request failed');
      outcome = { refused: false, status, code, message: status === 503 ? 'the vault cannot serve this request right now' : 'internal error', errorId };
    }
    await auditError(edge, request, outcome, typeof internal.sqlstate === 'string' ? internal.sqlstate : undefined);
    const body = known && outcome.refused ? { ...safeDetails(known) } : { error_id: outcome.errorId };
    if (retryAfter !== undefined) void reply.header('retry-after', String(retryAfter));
    return reply.status(status).send({ error: publicErrorName(code), message: outcome.message, ...body });
  };
}

async function auditError(edge: Pick<EdgeAudit, 'record'>, request: FastifyRequest, outcome: Outcome, sqlstate: string | undefined): Promise<void> {
  const { principal } = request;
  if (request.auditScope?.denyRecorded || (outcome.refused && !principal)) return;
  const route = request.routeOptions.url ?? 'unmatched';
  const params = request.params as { id?: unknown } | undefined;
  const employeeId = route.startsWith('/v1/employees/:id') && isEmployeeId(params?.id) ? params.id : undefined;
  const failed = !outcome.refused;
  try {
    await edge.record({
      action: failed ? 'http.error' : 'http.refused',
      decision: failed ? 'error' : 'deny',
      severity: failed ? 'high' : 'info',
      actor: principal ?? null,
      ...(employeeId === undefined ? {} : { employeeId }),
      details: {
        method: request.method,
        route,
        status: outcome.status,
        error: publicErrorName(outcome.code),
        ...(failed ? { error_id: outcome.errorId } : { message: outcome.message }),
        ...(sqlstate ? { sqlstate } : {}),
      },
    });
  } catch (auditErr) {
    request.log.error(
      { alarm: 'audit_unavailable', error: publicErrorName(outcome.code), status: outcome.status, error_id: outcome.errorId, cause: { name: (auditErr as Error).name, code: (auditErr as { code?: unknown }).code } },
      'failed or refused request not audited',
    );
  }
}

function safeDetails(err: VaultError): Record<string, unknown> {
  if (!err.details) return {};
  const { decision_id, violations, reasons, ...rest } = err.details;
  return {
    ...(typeof decision_id === 'string' ? { decision_id } : {}),
    ...(Array.isArray(violations) ? { violations } : {}),
    ...(Array.isArray(reasons) ? { reasons } : {}),
    ...(Object.keys(rest).length ? { details: rest } : {}),
  };
}
