import type { FastifyInstance } from 'fastify';
import { MAX_QUERY_LIMIT, STATS_DEFAULT_DAYS, STATS_MAX_DAYS } from '../../audit/index.js';
import type { VaultServices } from '../../services/index.js';
import { principalOf } from '../auth.js';
import { VaultError } from '../../errors/index.js';
import { idSchemas, parseTimestamp, plainText, stringArray, timestampSchema } from '../../model/index.js';
import { bearerAuth, errorResponses } from '../errors.js';

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

// The document must say what the trail accepts (a fuzzer found `limit=0` declared valid, then refused).
const LIMIT_PATTERN = '^(?:[1-9][0-9]{0,2}|1000)$';
if (MAX_QUERY_LIMIT !== 1000) throw new TypeError('LIMIT_PATTERN no longer matches MAX_QUERY_LIMIT');

const query = {
  type: 'object',
  additionalProperties: false,
  properties: {
    actor: plainText(256),
    team: plainText(128),
    employee_id: idSchemas.employeeId,
    action: plainText(64),
    decision: { type: 'string', enum: ['allow', 'deny', 'info', 'error'] },
    from: timestampSchema,
    to: timestampSchema,
    limit: { type: 'string', pattern: LIMIT_PATTERN, description: `1-${MAX_QUERY_LIMIT}` },
    cursor: { type: 'string', maxLength: 64 },
  },
} as const;

const hourSchema = { type: 'string', format: 'date-time', description: 'UTC, truncated to the hour' } as const;

const statsQuery = {
  type: 'object',
  additionalProperties: false,
  properties: { from: timestampSchema, to: timestampSchema },
} as const;

const statsSchema = {
  type: 'object',
  required: ['from', 'to', 'decisions_per_hour', 'records_per_team_day', 'alarms_per_hour'],
  properties: {
    from: { type: 'string', format: 'date-time' },
    to: { type: 'string', format: 'date-time' },
    decisions_per_hour: {
      type: 'array',
      description: 'hours with at least one allow or deny, oldest first',
      items: { type: 'object', required: ['hour', 'allow', 'deny'], properties: { hour: hourSchema, allow: { type: 'integer' }, deny: { type: 'integer' } } },
    },
    records_per_team_day: {
      type: 'array',
      description: 'records of allowed stream pages, per research team of the lease and UTC day',
      items: {
        type: 'object',
        required: ['day', 'team', 'records'],
        properties: { day: { type: 'string', format: 'date' }, team: { type: 'string' }, records: { type: 'integer' } },
      },
    },
    alarms_per_hour: {
      type: 'array',
      description: 'hours with at least one alarm (a high-severity deny or error), oldest first',
      items: { type: 'object', required: ['hour', 'alarms'], properties: { hour: hourSchema, alarms: { type: 'integer' } } },
    },
  },
} as const;

const alarmsQuery = {
  type: 'object',
  additionalProperties: false,
  properties: {
    from: timestampSchema,
    to: timestampSchema,
    limit: { type: 'string', pattern: LIMIT_PATTERN, description: `1-${MAX_QUERY_LIMIT}` },
    cursor: { type: 'string', maxLength: 64 },
  },
} as const;

const alarmSchema = {
  type: 'object',
  required: ['seq', 'at', 'action', 'actor', 'teams', 'decision', 'reason', 'details', 'decision_id', 'policy_revision'],
  properties: {
    seq: { type: 'integer' },
    at: { type: 'string', format: 'date-time' },
    action: { type: 'string' },
    actor: nullableString,
    teams: stringArray,
    decision: { type: 'string', enum: ['deny', 'error'] },
    reason: nullableString,
    details: { type: 'object', additionalProperties: true },
    decision_id: nullableString,
    policy_revision: nullableString,
  },
} as const;

type AuditQueryString = Partial<Record<'actor' | 'team' | 'employee_id' | 'action' | 'decision' | 'from' | 'to' | 'limit' | 'cursor', string>>;

/** A bound of the time filter; the schema's `date-time` admits instants (year 0, 10000 in UTC) the database cannot compare. */
function instant(text: string, field: 'from' | 'to'): Date {
  const ms = parseTimestamp(text);
  if (ms === undefined || Number.isNaN(ms)) throw new VaultError('ERR_INVALID_REQUEST', `${field} must be an RFC 3339 timestamp with a zone, in the years 0001-9999`);
  return new Date(ms);
}

export function auditRoutes(services: VaultServices) {
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
        return services.auditTrail.query(principalOf(request), {
          ...(q.actor !== undefined ? { actor: q.actor } : {}),
          ...(q.team !== undefined ? { team: q.team } : {}),
          ...(q.employee_id !== undefined ? { employeeId: q.employee_id } : {}),
          ...(q.action !== undefined ? { action: q.action } : {}),
          ...(q.decision !== undefined ? { decision: q.decision } : {}),
          ...(q.from !== undefined ? { from: instant(q.from, 'from') } : {}),
          ...(q.to !== undefined ? { to: instant(q.to, 'to') } : {}),
          ...(q.limit !== undefined ? { limit: Number(q.limit) } : {}),
          ...(q.cursor !== undefined ? { cursor: q.cursor } : {}),
        });
      },
    });

    app.get('/v1/audit/stats', {
      config: { roles: ['auditor', 'security-admin'] },
      schema: {
        tags: ['audit'],
        summary: `Decisions per hour (allow, deny), records streamed per team and day, alarms per hour: from the access log, over at most ${STATS_MAX_DAYS} days (default the last ${STATS_DEFAULT_DAYS})`,
        security: bearerAuth,
        querystring: statsQuery,
        response: { 200: statsSchema, ...errorResponses },
      },
      handler: async (request) => {
        const q = request.query as { from?: string; to?: string };
        return services.auditTrail.stats(principalOf(request), {
          ...(q.from !== undefined ? { from: instant(q.from, 'from') } : {}),
          ...(q.to !== undefined ? { to: instant(q.to, 'to') } : {}),
        });
      },
    });

    app.get('/v1/audit/alarms', {
      config: { roles: ['auditor', 'security-admin'] },
      schema: {
        tags: ['audit'],
        summary: `Alarms (high-severity refusals and failures: scope breaches, refused activations, ...), newest first (at most ${MAX_QUERY_LIMIT} a page; next_cursor continues)`,
        description:
          "An auditor reads every alarm whole. A security admin reads only refused policy revisions, scope breaches and refused streams, failed key rotations, refused development mints and a broken chain, with a fixed set of detail fields and `actor` null unless it names a service or an administrator: no employee id.",
        security: bearerAuth,
        querystring: alarmsQuery,
        response: { 200: { type: 'object', required: ['alarms', 'next_cursor'], properties: { alarms: { type: 'array', items: alarmSchema }, next_cursor: nullableString } }, ...errorResponses },
      },
      handler: async (request) => {
        const q = request.query as { from?: string; to?: string; limit?: string; cursor?: string };
        return services.auditTrail.alarms(principalOf(request), {
          ...(q.from !== undefined ? { from: instant(q.from, 'from') } : {}),
          ...(q.to !== undefined ? { to: instant(q.to, 'to') } : {}),
          ...(q.limit !== undefined ? { limit: Number(q.limit) } : {}),
          ...(q.cursor !== undefined ? { cursor: q.cursor } : {}),
        });
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
      handler: async (request) => services.auditTrail.verify(principalOf(request)),
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
      handler: async (request) => services.auditTrail.checkpoints(principalOf(request), 100),
    });

    app.post('/v1/audit/checkpoints', {
      config: { roles: ['auditor', 'security-admin'] },
      schema: { tags: ['audit'], summary: 'Sign a checkpoint of the newest event now', security: bearerAuth, response: { 201: checkpointSchema, 200: { type: 'object' }, ...errorResponses } },
      handler: async (request, reply) => {
        const checkpoint = await services.auditTrail.signCheckpoint(principalOf(request));
        return checkpoint ? reply.status(201).send(checkpoint) : reply.status(200).send({});
      },
    });
  };
}
