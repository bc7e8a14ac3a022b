import type { FastifyInstance } from 'fastify';
import { MAX_PAYLOAD_DEPTH, MAX_ROSTER_BATCH } from '../../ingest/index.js';
import { idSchemas, plainText, stringArray, timestampSchema } from '../../model/index.js';
import type { VaultServices } from '../../services/index.js';
import { principalOf } from '../auth.js';
import { bearerAuth, errorResponses } from '../errors.js';
import type { HttpMetrics } from '../metrics.js';

const rosterBody = {
  type: 'object',
  required: ['employees'],
  additionalProperties: false,
  properties: {
    employees: {
      type: 'array',
      minItems: 1,
      maxItems: MAX_ROSTER_BATCH,
      items: {
        type: 'object',
        required: ['employee_id', 'org_unit', 'region', 'enrolled'],
        additionalProperties: false,
        properties: {
          employee_id: idSchemas.employeeId,
          org_unit: idSchemas.orgUnit,
          region: plainText(64, 1),
          enrolled: { type: 'boolean' },
          consent: {
            type: 'object',
            description: 'The collection manifest version the employee consented to, and when (not in the future). Without it, enrolment is consent to the version in force.',
            required: ['manifest_version', 'consented_at'],
            additionalProperties: false,
            properties: { manifest_version: { type: 'integer', minimum: 1, maximum: 2147483647 }, consented_at: timestampSchema },
          },
        },
      },
    },
  },
} as const;

const recordsBody = {
  type: 'object',
  required: ['records'],
  additionalProperties: false,
  properties: {
    records: {
      type: 'array',
      description:
        'Up to 5,000 records of {event_id (a random UUID, version 4 or 7), employee_id, captured_at (RFC 3339), kind, ' +
        `payload (any JSON nested at most ${MAX_PAYLOAD_DEPTH} deep), sensitivity? (0-4)}. ` +
        'Each record is checked on its own and reported by index (rejected: invalid_record, unknown_kind, unknown_employee). ' +
        'A key named __proto__, or constructor holding prototype, anywhere in the body refuses the whole body (400 invalid_request).',
    },
  },
} as const;

const ingestResponse = {
  type: 'object',
  required: ['accepted', 'duplicates', 'dropped', 'rejected'],
  properties: {
    accepted: { type: 'integer' },
    duplicates: { type: 'integer' },
    dropped: { type: 'array', items: { type: 'object', properties: { index: { type: 'integer' }, reason: { type: 'string' }, categories: stringArray } } },
    rejected: {
      type: 'array',
      items: { type: 'object', properties: { index: { type: 'integer' }, error: { type: 'string' }, message: { type: 'string' } } },
    },
  },
} as const;

export function ingestRoutes(services: VaultServices, metrics: HttpMetrics) {
  return async (app: FastifyInstance): Promise<void> => {
    app.put('/v1/employees', {
      config: { roles: ['privacy-officer'] },
      schema: {
        tags: ['roster'],
        summary: 'Upsert the employee roster; new employees get a fresh data key',
        security: bearerAuth,
        body: rosterBody,
        response: {
          200: {
            type: 'object',
            properties: { upserted: { type: 'integer' }, created: { type: 'integer' }, consents_recorded: { type: 'integer' }, erased_not_reenrolled: stringArray },
          },
          ...errorResponses,
        },
      },
      handler: async (request) => services.roster.upsert(principalOf(request), request.body),
    });

    app.post('/v1/records', {
      config: { roles: ['ingest-agent'] },
      schema: { tags: ['ingest'], summary: 'Ingest a batch of activity records', security: bearerAuth, body: recordsBody, response: { 200: ingestResponse, ...errorResponses } },
      handler: async (request) => {
        const result = await services.ingest.ingest((request.body as { records: unknown }).records, principalOf(request));
        metrics.recordsIngested.inc(result.accepted);
        metrics.recordsDuplicate.inc(result.duplicates);
        for (const d of result.dropped) {
          metrics.recordsDropped.inc({ reason: d.reason });
          for (const category of d.categories ?? []) metrics.recordsSensitive.inc({ category });
        }
        for (const r of result.rejected) metrics.recordsRejected.inc({ error: r.error });
        return result;
      },
    });
  };
}
