import type { FastifyInstance } from 'fastify';
import type { VaultServices } from '../../services/index.js';
import type { HttpMetrics } from '../metrics.js';

const checkSchema = {
  type: 'object',
  required: ['ok'],
  properties: { ok: { type: 'boolean' }, reason: { type: 'string' } },
} as const;

const readinessSchema = {
  type: 'object',
  required: ['ready', 'checks'],
  properties: { ready: { type: 'boolean' }, checks: { type: 'object', additionalProperties: checkSchema } },
} as const;

export function opsRoutes(services: VaultServices, metrics: HttpMetrics) {
  return async (app: FastifyInstance): Promise<void> => {
    app.get('/healthz', {
      config: { public: true },
      schema: { tags: ['operations'], summary: 'Liveness', response: { 200: { type: 'object', properties: { status: { type: 'string' } } } } },
      handler: async () => ({ status: 'ok' }),
    });
    app.get('/readyz', {
      config: { public: true },
      schema: { tags: ['operations'], summary: 'Readiness: database and keys', response: { 200: readinessSchema, 503: readinessSchema } },
      handler: async (_request, reply) => {
        const readiness = await services.readiness();
        return reply.status(readiness.ready ? 200 : 503).send(readiness);
      },
    });
    app.get('/metrics', {
      config: { public: true },
      schema: { tags: ['operations'], summary: 'Prometheus metrics', produces: ['text/plain'] },
      handler: async (_request, reply) => reply.type(metrics.registry.contentType).send(await metrics.registry.metrics()),
    });
    app.get('/openapi.json', {
      config: { public: true },
      schema: { tags: ['operations'], summary: 'This OpenAPI document', hide: true },
      handler: async () => app.swagger(),
    });
  };
}
