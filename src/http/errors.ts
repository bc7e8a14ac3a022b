import { randomUUID } from 'node:crypto';
import type { FastifyError, FastifyReply, FastifyRequest } from 'fastify';
import { publicErrorName, VaultError, type VaultErrorCode } from '../errors/index.js';

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
  ERR_NOT_FOUND: 404,
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
  FST_ERR_CTP_INVALID_JSON_BODY: ['ERR_INVALID_REQUEST', 'request body is not valid JSON'],
  FST_ERR_CTP_EMPTY_JSON_BODY: ['ERR_INVALID_REQUEST', 'request body is empty'],
  FST_ERR_CTP_INVALID_CONTENT_LENGTH: ['ERR_INVALID_REQUEST', 'content-length does not match the body'],
};

function toVaultError(err: FastifyError | Error): VaultError | undefined {
  if (err instanceof VaultError) return err;
  const fe = err as FastifyError;
  if (fe.validation) {
    const first = fe.validation[0];
    const where = `${fe.validationContext ?? 'request'}${first?.instancePath ?? ''}`;
    return new VaultError('ERR_INVALID_REQUEST', `${where} ${first?.message ?? 'is invalid'}`);
  }
  const mapped = fe.code ? FRAMEWORK_ERRORS[fe.code] : undefined;
  if (mapped) return new VaultError(mapped[0], mapped[1]);
  // Node's JSON.parse messages quote the input; never let one through.
  if (err instanceof SyntaxError || (fe.statusCode !== undefined && fe.statusCode >= 400 && fe.statusCode < 500)) {
    return new VaultError('ERR_INVALID_REQUEST', 'malformed request');
  }
  return undefined;
}

/**
 * Every error leaves as `{"error","message"}`. Known errors carry their safe message; anything
 * else is a 500 with an opaque id, and the cause is logged by name and code only.
 */
export function handleError(err: FastifyError | Error, request: FastifyRequest, reply: FastifyReply): void {
  const known = toVaultError(err);
  if (known && HTTP_STATUS[known.code] < 500) {
    request.log.info({ error: known.code, ...(known.internal ?? {}) }, 'request refused');
    void reply.status(HTTP_STATUS[known.code]).send({ error: publicErrorName(known.code), message: known.message, ...safeDetails(known) });
    return;
  }
  const errorId = randomUUID();
  const status = known ? HTTP_STATUS[known.code] : 500;
  const code = known?.code ?? 'ERR_INTERNAL';
  request.log.error({ error_id: errorId, error: code, cause: { name: err.name, code: (err as { code?: unknown }).code } }, 'request failed');
  void reply.status(status).send({
    error: publicErrorName(code),
    message: status === 503 ? 'the vault cannot serve this request right now' : 'internal error',
    error_id: errorId,
  });
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
