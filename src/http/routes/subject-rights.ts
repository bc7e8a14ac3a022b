import { Readable } from 'node:stream';
import type { FastifyInstance } from 'fastify';
import { idSchemas, stringArray, timestampSchema } from '../../model/index.js';
import type { VaultServices } from '../../services/index.js';
import { principalOf } from '../auth.js';
import { bearerAuth, errorResponses } from '../errors.js';
import type { HttpMetrics } from '../metrics.js';
import { leaseOfEmployeeProperties } from './datasets.js';

const employeeParams = { type: 'object', required: ['id'], properties: { id: idSchemas.employeeId } } as const;
const integerList = { type: 'array', items: { type: 'integer' } } as const;
const errorJson = (description: string) => ({ description, content: { 'application/json': { schema: { $ref: 'ErrorBody#' } } } });

const receiptView = {
  type: 'object',
  properties: {
    employee_id: { type: 'string' },
    receipt: {
      type: 'object',
      properties: {
        type: { type: 'string' },
        erasure_id: { type: 'string' },
        employee_ref: { type: 'string' },
        key_versions_destroyed: integerList,
        key_versions_destroyed_before: integerList,
        records_unreadable: { type: 'integer' },
        erased_at: { type: 'string' },
        audit_event_id: { type: 'string' },
      },
    },
    statement: { type: 'string', description: 'base64 of the signed bytes (the receipt as canonical JSON)' },
    signature: { type: 'string', description: 'base64 Ed25519 signature over the statement' },
    key_id: { type: 'string' },
    public_key_pem: { type: 'string' },
  },
} as const;

const pathView = {
  type: 'object',
  properties: { purpose: { type: 'string' }, org_units: stringArray, kinds: stringArray, max_sensitivity: { type: 'integer' } },
} as const;

const exposureView = {
  type: 'object',
  properties: {
    employee_id: { type: 'string' },
    policy_revision: { type: 'string' },
    computed_at: { type: 'string' },
    org_units: stringArray,
    teams: { type: 'array', items: { type: 'object', properties: { team: { type: 'string' }, paths: { type: 'array', items: pathView } } } },
    open_leases: { type: 'array', items: { type: 'object', properties: leaseOfEmployeeProperties } },
  },
} as const;

/** Operations whose body may be left out (fastify-swagger marks every declared body required). */
export const SUBJECT_RIGHTS_OPTIONAL_BODIES: ReadonlyArray<readonly [path: string, method: 'post']> = [['/v1/employees/{id}/erase', 'post']];

export function subjectRightsRoutes(services: VaultServices, metrics: HttpMetrics) {
  const { subjectRights } = services;
  return async (app: FastifyInstance): Promise<void> => {
    app.post('/v1/employees/:id/erase', {
      config: { roles: ['privacy-officer'] },
      schema: {
        tags: ['subject-rights'],
        summary: "Erase an employee by crypto-shredding: every data key of theirs is destroyed, their records can never be opened again; answers a signed receipt",
        security: bearerAuth,
        params: employeeParams,
        body: { type: ['object', 'null'], additionalProperties: false, properties: {} },
        response: { 200: receiptView, ...errorResponses },
      },
      handler: async (request) => {
        const receipt = await subjectRights.erase(principalOf(request), (request.params as { id: string }).id);
        metrics.erasures.inc();
        metrics.keysDestroyed.inc({ cause: 'erasure' }, receipt.receipt.key_versions_destroyed.length);
        return receipt;
      },
    });

    app.get('/v1/employees/:id/records', {
      config: { roles: ['employee', 'privacy-officer'] },
      schema: {
        tags: ['subject-rights'],
        summary: "The employee's own records, decrypted, as NDJSON ({event_id, captured_at, kind, sensitivity, categories?, payload} a line): the access and portability request",
        security: bearerAuth,
        params: employeeParams,
        querystring: { type: 'object', additionalProperties: false, properties: { from: timestampSchema, to: timestampSchema } },
        response: {
          200: { description: 'NDJSON, oldest record first', content: { 'application/x-ndjson': { schema: { type: 'string' } } } },
          '4xx': errorJson('refused: the error body'),
          '5xx': errorJson('failed: the error body with an error_id'),
        },
      },
      handler: async (request, reply) => {
        const stream = await subjectRights.open(principalOf(request), (request.params as { id: string }).id, request.query as { from?: string; to?: string });
        const body = Readable.from(stream, { objectMode: true, highWaterMark: 1 });
        reply.raw.once('close', () => stream.close());
        return reply.type('application/x-ndjson').header('content-disposition', 'attachment; filename="my-activity-records.ndjson"').send(body);
      },
    });

    app.get('/v1/employees/:id/exposure', {
      config: { roles: ['employee', 'auditor', 'privacy-officer'] },
      schema: {
        tags: ['subject-rights'],
        summary: "Who could read this employee's records now: teams, purposes, kinds and levels a dataset request would be granted under the policy in force, and the open leases that hold them",
        security: bearerAuth,
        params: employeeParams,
        response: { 200: exposureView, ...errorResponses },
      },
      handler: async (request) => subjectRights.exposure(principalOf(request), (request.params as { id: string }).id),
    });
  };
}
