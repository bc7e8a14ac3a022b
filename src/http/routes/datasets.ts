import { Readable } from 'node:stream';
import type { FastifyInstance } from 'fastify';
import { datasetRequestSchema, idSchemas, scopeJsonSchema, stringArray } from '../../model/index.js';
import { MAX_SHARDS } from '../../datasets/index.js';
import type { VaultServices } from '../../services/index.js';
import { principalOf } from '../auth.js';
import { bearerAuth, errorResponses } from '../errors.js';

// Decimal integers as the schema admits them; the stream refuses a shard outside 0..of-1 itself (400, audited).
const SHARD_INDEX_PATTERN = '^(?:0|[1-9][0-9]{0,3})$';
const SHARD_COUNT_PATTERN = '^(?:[1-9][0-9]{0,2}|10[01][0-9]|102[0-4])$';
if (MAX_SHARDS !== 1024) throw new TypeError('SHARD_COUNT_PATTERN no longer matches MAX_SHARDS');

const errorJson = (description: string) => ({ description, content: { 'application/json': { schema: { $ref: 'ErrorBody#' } } } });

/** The stream answers NDJSON when it streams and a JSON error body when it refuses: the document says both. */
const recordStreamResponses = {
  200: {
    description: 'NDJSON: one {cursor, subject, captured_at, kind, sensitivity, payload} object a line; cursor is opaque and valid only for this dataset',
    content: { 'application/x-ndjson': { schema: { type: 'string' } } },
  },
  '4xx': errorJson('refused: the error body'),
  '5xx': errorJson('failed: the error body with an error_id'),
} as const;

/** A lease that reached an employee's records (`LeaseOfEmployee`): the access report's datasets, exposure's open leases. */
export const leaseOfEmployeeProperties = {
  dataset_id: { type: 'string' },
  decision_id: { type: 'string' },
  requested_by: { type: 'string' },
  teams: stringArray,
  purpose: { type: 'string' },
  policy_revision: { type: 'string' },
  granted_at: { type: 'string' },
  expires_at: { type: 'string' },
  records_of_employee: { type: 'integer' },
} as const;

export function datasetRoutes(services: VaultServices) {
  return async (app: FastifyInstance): Promise<void> => {
    app.post('/v1/datasets', {
      config: { roles: ['training-job'] },
      schema: {
        tags: ['datasets'],
        summary: "Request a dataset: the policy's scope within the request, frozen in a lease of at most 24 h",
        security: bearerAuth,
        body: datasetRequestSchema,
        response: {
          201: {
            type: 'object',
            properties: {
              dataset_id: { type: 'string' },
              scope: scopeJsonSchema,
              record_count: { type: 'integer' },
              employee_count: { type: 'integer' },
              expires_at: { type: 'string' },
              policy_revision: { type: 'string' },
              decision_id: { type: 'string' },
            },
          },
          ...errorResponses,
        },
      },
      handler: async (request, reply) => reply.status(201).send(await services.datasets.request(principalOf(request), request.body)),
    });

    app.get('/v1/datasets/:id/records', {
      config: { roles: ['training-job'] },
      schema: {
        tags: ['datasets'],
        summary:
          'Stream the dataset as NDJSON ({cursor, subject, captured_at, kind, sensitivity, payload} a line); ?after=CURSOR resumes; ?shard=I&of=N streams one of N disjoint parts, split by subject',
        security: bearerAuth,
        params: { type: 'object', required: ['id'], properties: { id: idSchemas.datasetId } },
        querystring: {
          type: 'object',
          additionalProperties: false,
          properties: {
            after: { type: 'string', maxLength: 128 },
            shard: { type: 'string', pattern: SHARD_INDEX_PATTERN, description: `0 to of-1; with of` },
            of: { type: 'string', pattern: SHARD_COUNT_PATTERN, description: `1-${MAX_SHARDS}; with shard` },
          },
        },
        response: recordStreamResponses,
      },
      handler: async (request, reply) => {
        const query = request.query as { after?: string; shard?: string; of?: string };
        const stream = await services.datasets.openStream(principalOf(request), (request.params as { id: string }).id, {
          after: query.after,
          shard: { index: query.shard === undefined ? undefined : Number(query.shard), of: query.of === undefined ? undefined : Number(query.of) },
        });
        // One page ahead at most: a slow reader holds the server at one page of memory.
        const body = Readable.from(stream, { objectMode: true, highWaterMark: 1 });
        // An export freeze cuts the connection at once with a reset: what the socket still buffers
        // is discarded, not delivered, and the client cannot take the cut for the stream's end.
        const cutNow = () => {
          body.destroy(stream.cut.reason as Error);
          reply.raw.socket?.resetAndDestroy();
        };
        stream.cut.addEventListener('abort', cutNow, { once: true });
        const closed = () => {
          stream.cut.removeEventListener('abort', cutNow);
          stream.close();
        };
        reply.raw.once('close', closed);
        // A client that hung up while the first page was read is gone already: its close has fired.
        if (reply.raw.destroyed || request.raw.socket?.destroyed) closed();
        if (stream.cut.aborted) cutNow();
        return reply.type('application/x-ndjson').send(body);
      },
    });

    app.get('/v1/employees/:id/access-report', {
      config: { roles: ['auditor', 'privacy-officer', 'employee'] },
      schema: {
        tags: ['datasets'],
        summary: "Every dataset and decision that reached this employee's records",
        security: bearerAuth,
        params: { type: 'object', required: ['id'], properties: { id: idSchemas.employeeId } },
        response: {
          200: {
            type: 'object',
            properties: {
              employee_id: { type: 'string' },
              summary: {
                type: 'object',
                properties: {
                  records: { type: 'integer' },
                  unreadable: { type: 'integer' },
                  datasets: { type: 'integer' },
                  by_month_and_kind: {
                    type: 'array',
                    items: { type: 'object', properties: { month: { type: 'string' }, kind: { type: 'string' }, records: { type: 'integer' }, unreadable: { type: 'integer' } } },
                  },
                },
              },
              datasets: {
                type: 'array',
                items: {
                  type: 'object',
                  properties: {
                    ...leaseOfEmployeeProperties,
                    streamed: {
                      type: 'object',
                      properties: {
                        pages: { type: 'integer' },
                        records_served: { type: 'integer' },
                        first_at: { type: ['string', 'null'] },
                        last_at: { type: ['string', 'null'] },
                      },
                    },
                  },
                },
              },
            },
          },
          ...errorResponses,
        },
      },
      handler: async (request) => services.datasets.accessReport(principalOf(request), (request.params as { id: string }).id),
    });
  };
}
