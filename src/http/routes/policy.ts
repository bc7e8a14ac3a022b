import type { FastifyInstance } from 'fastify';
import { VaultError } from '../../errors/index.js';
import type { VaultServices } from '../../services/index.js';
import { MAX_BUNDLE_BYTES } from '../../policy-admin/index.js';
import { principalOf } from '../auth.js';
import { idSchemas, stringArray } from '../../model/index.js';
import { bearerAuth, errorResponses } from '../errors.js';

const revisionParam = {
  type: 'object',
  required: ['revision'],
  properties: { revision: idSchemas.policyRevision },
} as const;
const BUNDLE_MEDIA_TYPES = ['application/gzip', 'application/x-gzip', 'application/octet-stream'];
const bundleBody = { type: 'string', format: 'binary', minLength: 1, maxLength: MAX_BUNDLE_BYTES, description: 'a signed OPA bundle (tar.gz), as `opa build` or `activity-vault policy build` writes it' } as const;

const accessDiffSchema = {
  type: 'object',
  properties: {
    against: { type: ['string', 'null'] },
    revision: { type: 'string' },
    subjects: { type: 'integer' },
    evaluations: { type: 'integer' },
    teams: {
      type: 'array',
      items: {
        type: 'object',
        properties: {
          team: { type: 'string' },
          units_before: stringArray,
          units_after: stringArray,
          gained: stringArray,
          lost: stringArray,
          employees_before: { type: 'integer' },
          employees_after: { type: 'integer' },
        },
      },
    },
    violations: stringArray,
    growth: stringArray,
  },
} as const;

export function policyRoutes(services: VaultServices) {
  return async (app: FastifyInstance): Promise<void> => {
    app.addContentTypeParser([...BUNDLE_MEDIA_TYPES], { parseAs: 'buffer', bodyLimit: MAX_BUNDLE_BYTES }, (_req, body, done) => done(null, body));

    app.post('/v1/policy/bundles', {
      // The body is raw bytes that ajv cannot validate, so fastify gets no body schema; the document
      // still has to say one is required and in which media types (a fuzzer sent none and got 415).
      config: { roles: ['security-admin'], swaggerTransform: ({ schema, url }) => ({ schema: { ...schema, consumes: BUNDLE_MEDIA_TYPES, body: bundleBody }, url }) },
      schema: {
        tags: ['policy'],
        summary: 'Stage a signed OPA bundle (application/gzip); it is verified, stored and diffed against the active one',
        security: bearerAuth,
        response: {
          201: {
            type: 'object',
            required: ['revision', 'status', 'diff'],
            properties: {
              revision: { type: 'string' },
              status: { type: 'string' },
              sha256: { type: 'string' },
              diff: {
                type: 'object',
                properties: {
                  against: { type: ['string', 'null'] },
                  policy_module_changed: { type: 'boolean' },
                  grants: { type: 'object', properties: { added: stringArray, removed: stringArray, changed: stringArray } },
                  classification: {
                    type: 'object',
                    properties: {
                      lists: { type: 'string', enum: ['bundle', 'builtin'] },
                      changed: { type: 'array', items: { type: 'object', properties: { list: { type: 'string' }, added: stringArray, removed: stringArray } } },
                    },
                  },
                  access: accessDiffSchema,
                },
              },
            },
          },
          ...errorResponses,
        },
      },
      handler: async (request, reply) => {
        if (!Buffer.isBuffer(request.body)) throw new VaultError('ERR_UNSUPPORTED_MEDIA_TYPE', 'send the bundle as application/gzip');
        return reply.status(201).send(await services.policyAdmin.stage(principalOf(request), request.body));
      },
    });

    app.post('/v1/policy/bundles/:revision/activate', {
      config: { roles: ['security-admin'] },
      schema: {
        tags: ['policy'],
        summary: 'Activate a staged revision in every instance (409 policy_rejected with the violations)',
        security: bearerAuth,
        params: revisionParam,
        response: {
          200: {
            type: 'object',
            properties: { revision: { type: 'string' }, status: { type: 'string' }, previous: { type: ['string', 'null'] }, approved_by: { type: 'string' } },
          },
          ...errorResponses,
        },
      },
      handler: async (request) => services.policyAdmin.activate(principalOf(request), (request.params as { revision: string }).revision),
    });

    app.post('/v1/policy/bundles/:revision/approve', {
      config: { roles: ['security-admin'] },
      schema: {
        tags: ['policy'],
        summary: "A second security admin's approval of a revision that grows access, against the revision in force; used by one activation by someone else",
        security: bearerAuth,
        params: revisionParam,
        response: {
          200: {
            type: 'object',
            properties: { revision: { type: 'string' }, approved_by: { type: 'string' }, against: { type: ['string', 'null'] }, growth: stringArray },
          },
          ...errorResponses,
        },
      },
      handler: async (request) => services.policyAdmin.approve(principalOf(request), (request.params as { revision: string }).revision),
    });

    app.get('/v1/policy/bundles/:revision/diff', {
      config: { roles: ['security-admin', 'auditor'] },
      schema: {
        tags: ['policy'],
        summary: 'Who would gain and lose which org units if a staged revision replaced another (by default the one in force)',
        security: bearerAuth,
        params: revisionParam,
        querystring: { type: 'object', additionalProperties: false, properties: { against: idSchemas.policyRevision } },
        response: { 200: accessDiffSchema, ...errorResponses },
      },
      handler: async (request) =>
        services.policyAdmin.diff(principalOf(request), (request.query as { against?: string }).against, (request.params as { revision: string }).revision),
    });

    app.get('/v1/policy/bundles', {
      config: { roles: ['security-admin', 'auditor'] },
      schema: {
        tags: ['policy'],
        summary: 'Staged revisions, who staged and last activated each, which is active',
        security: bearerAuth,
        response: {
          200: {
            type: 'object',
            properties: {
              active: { type: ['string', 'null'] },
              bundles: {
                type: 'array',
                items: {
                  type: 'object',
                  properties: {
                    revision: { type: 'string' },
                    sha256: { type: 'string' },
                    signed_by: { type: 'string' },
                    staged_by: { type: 'string' },
                    staged_at: { type: 'string', format: 'date-time' },
                    activated_by: { type: ['string', 'null'] },
                    activated_at: { type: ['string', 'null'], format: 'date-time' },
                    active: { type: 'boolean' },
                    approved_by: { type: ['string', 'null'] },
                    approved_at: { type: ['string', 'null'], format: 'date-time' },
                    approval_used: { type: 'boolean' },
                  },
                },
              },
            },
          },
          ...errorResponses,
        },
      },
      handler: async (request) => {
        const bundles = await services.policyAdmin.list(principalOf(request));
        return {
          active: bundles.find((b) => b.active)?.revision ?? null,
          bundles: bundles.map((b) => ({
            revision: b.revision,
            sha256: b.sha256,
            signed_by: b.signedBy,
            staged_by: b.stagedBy,
            staged_at: b.stagedAt,
            activated_by: b.lastActivatedBy,
            activated_at: b.lastActivatedAt,
            active: b.active,
            approved_by: b.approvedBy,
            approved_at: b.approvedAt,
            approval_used: b.approvalUsed,
          })),
        };
      },
    });
  };
}
