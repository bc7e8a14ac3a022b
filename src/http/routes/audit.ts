import type { FastifyInstance } from 'fastify';
import { MAX_QUERY_LIMIT } from '../../audit/index.js';
import { VaultError } from '../../errors/index.js';
import type { Vault } from '../../main.js';
import { principalOf } from '../auth.js';
import { bearerAuth, errorResponses, stringArray } from '../errors.js';

const nullableString = { type: ['string', 'null'] } as const;

const eventSchema = {
  type: 'object',
  properties: {
    seq: { type: 'integer' },
    event_id: { type: 'string' },
    occurred_at: { type: 'string' },
    action: { type: 'string' },
    decision: { type: 'string' },
    severity: { type: 'string' },
    actor: nullableString,
    roles: stringArray,
    teams: stringArray,
    purpose: nullableString,
    employee_ref: nullableString,
    policy_revision: nullableString,
    record_count: { type: ['integer', 'null'] },
    decision_id: nullableString,
    details: { type: 'object', additionalProperties: true },
    hash: { type: 'string' },
  },
} as const;

const checkpointSchema = {
  type: 'object',
  properties: { seq: { type: 'integer' }, hash: { type: 'string' }, signed_at: { type: 'string' }, key_id: { type: 'string' }, signature: { type: 'string' } },
} as const;

const query = {
  type: 'object',
  additionalProperties: false,
  properties: {
    actor: { type: 'string', maxLength: 256 },
    team: { type: 'string', maxLength: 128 },
    employee_id: { type: 'string', maxLength: 128 },
    action: { type: 'string', maxLength: 64 },
    decision: { type: 'string', enum: ['allow', 'deny', 'info', 'error'] },
    from: { type: 'string', format: 'date-time' },
    to: { type: 'string', format: 'date-time' },
    limit: { type: 'string', pattern: '^[0-9]{1,4}$' },
    cursor: { type: 'string', maxLength: 64 },
  },
} as const;

type AuditQueryString = Partial<Record<'actor' | 'team' | 'employee_id' | 'action' | 'decision' | 'from' | 'to' | 'limit' | 'cursor', string>>;

export function auditRoutes(vault: Vault) {
  return async (app: FastifyInstance): Promise<void> => {
    app.get('/v1/audit/events', {
      config: { roles: ['auditor'] },
      schema: {
        tags: ['audit'],
        summary: `Query the access log, newest first (at most ${MAX_QUERY_LIMIT} a page; next_cursor continues)`,
        security: bearerAuth,
        querystring: query,
        response: { 200: { type: 'object', properties: { events: { type: 'array', items: eventSchema }, next_cursor: nullableString } }, ...errorResponses },
      },
      handler: async (request) => {
        const q = request.query as AuditQueryString;
        const limit = q.limit === undefined ? undefined : Number(q.limit);
        if (limit !== undefined && (limit < 1 || limit > MAX_QUERY_LIMIT)) throw new VaultError('ERR_INVALID_REQUEST', `limit must be 1-${MAX_QUERY_LIMIT}`);
        const result = await vault.audit.query({
          ...(q.actor !== undefined ? { actor: q.actor } : {}),
          ...(q.team !== undefined ? { team: q.team } : {}),
          ...(q.employee_id !== undefined ? { employeeId: q.employee_id } : {}),
          ...(q.action !== undefined ? { action: q.action } : {}),
          ...(q.decision !== undefined ? { decision: q.decision } : {}),
          ...(q.from !== undefined ? { from: new Date(q.from) } : {}),
          ...(q.to !== undefined ? { to: new Date(q.to) } : {}),
          ...(limit !== undefined ? { limit } : {}),
          ...(q.cursor !== undefined ? { cursor: q.cursor } : {}),
        });
        const { employee_id: employeeId, ...filters } = q;
        await vault.audit.appendAlone({
          action: 'audit.query',
          decision: 'allow',
          actor: principalOf(request),
          ...(employeeId !== undefined ? { employeeId } : {}),
          recordCount: result.events.length,
          details: { filters, by_employee: employeeId !== undefined },
        });
        return result;
      },
    });

    app.get('/v1/audit/verify', {
      config: { roles: ['auditor'] },
      schema: {
        tags: ['audit'],
        summary: 'Check the hash chain end to end, the head and every signed checkpoint',
        security: bearerAuth,
        response: {
          200: { type: 'object', properties: { ok: { type: 'boolean' }, checked: { type: 'integer' }, broken_at: { type: 'integer' }, reason: { type: 'string' } } },
          ...errorResponses,
        },
      },
      handler: async (request) => {
        const result = await vault.audit.verify();
        if (!result.ok) request.log.error({ alarm: 'audit_chain_broken', broken_at: result.broken_at, reason: result.reason }, 'audit chain verification failed');
        // Recorded after the walk: a broken chain refuses appends, and the result still reaches the auditor.
        await vault.audit
          .appendAlone({ action: 'audit.verify', decision: result.ok ? 'info' : 'error', severity: result.ok ? 'info' : 'high', actor: principalOf(request), details: { ...result } })
          .catch(() => undefined);
        return result;
      },
    });

    app.get('/v1/audit/checkpoints', {
      config: { roles: ['auditor'] },
      schema: {
        tags: ['audit'],
        summary: 'Signed checkpoints and the Ed25519 public key to check them with',
        security: bearerAuth,
        response: {
          200: {
            type: 'object',
            properties: {
              public_key: { type: 'object', properties: { key_id: { type: 'string' }, pem: { type: 'string' }, jwk: { type: 'object', additionalProperties: true } } },
              checkpoints: { type: 'array', items: checkpointSchema },
            },
          },
          ...errorResponses,
        },
      },
      handler: async () => ({
        public_key: {
          key_id: vault.audit.keyId,
          pem: vault.audit.publicKey.export({ type: 'spki', format: 'pem' }) as string,
          jwk: { ...vault.audit.publicKey.export({ format: 'jwk' }), kid: vault.audit.keyId },
        },
        checkpoints: await vault.audit.checkpoints(100),
      }),
    });

    app.post('/v1/audit/checkpoints', {
      config: { roles: ['auditor', 'security-admin'] },
      schema: { tags: ['audit'], summary: 'Sign a checkpoint of the newest event now', security: bearerAuth, response: { 201: checkpointSchema, 200: { type: 'object' }, ...errorResponses } },
      handler: async (_request, reply) => {
        const checkpoint = await vault.audit.checkpoint();
        return checkpoint ? reply.status(201).send(checkpoint) : reply.status(200).send({});
      },
    });
  };
}
