import { randomUUID } from 'node:crypto';
import swagger from '@fastify/swagger';
import Fastify, { type FastifyInstance, type FastifyServerOptions } from 'fastify';
import type { VaultServices } from '../services/index.js';
import { authenticate, requireAccessDeclaration } from './auth.js';
import { errorBodySchema, handleError } from './errors.js';
import { createMetrics } from './metrics.js';
import { ingestRoutes } from './routes/ingest.js';
import { opsRoutes } from './routes/ops.js';
import { policyRoutes } from './routes/policy.js';
import { auditRoutes } from './routes/audit.js';
import { datasetRoutes } from './routes/datasets.js';

export interface HttpServerOptions {
  /** Fastify logger options (tests pass a stream to read every log line). */
  readonly logger?: FastifyServerOptions['logger'];
}

/** Builds the HTTP API on the vault's services. The caller listens (`app.listen`) or injects requests. */
export async function buildHttpServer(services: VaultServices, options: HttpServerOptions = {}): Promise<FastifyInstance> {
  const app = Fastify({
    logger: options.logger ?? { level: services.settings.logLevel, redact: ['req.headers.authorization'] },
    bodyLimit: services.settings.maxBodyBytes,
    genReqId: () => randomUUID(),
    ajv: { customOptions: { removeAdditional: false, coerceTypes: false, useDefaults: true, allErrors: false } },
    return503OnClosing: true,
  });
  app.removeContentTypeParser('text/plain');
  const metrics = createMetrics();
  app.addSchema(errorBodySchema);
  app.setErrorHandler(handleError);
  app.setNotFoundHandler((_request, reply) => reply.status(404).send({ error: 'not_found', message: 'no such route' }));
  app.addHook('onRoute', requireAccessDeclaration);
  app.addHook('onRequest', authenticate(services.access));
  app.addHook('onResponse', async (request, reply) => {
    const route = request.routeOptions.url ?? 'unmatched';
    metrics.requests.inc({ method: request.method, route, status: String(reply.statusCode) });
    metrics.latency.observe({ method: request.method, route }, reply.elapsedTime / 1000);
  });
  await app.register(swagger, {
    openapi: {
      openapi: '3.0.3',
      info: { title: 'activity-vault', version: '1', description: 'Encrypted, policy-gated, audited store of employee activity telemetry.' },
      components: { securitySchemes: { bearer: { type: 'http', scheme: 'bearer', bearerFormat: 'JWT' } } },
    },
  });
  await app.register(opsRoutes(services, metrics));
  await app.register(ingestRoutes(services, metrics));
  await app.register(policyRoutes(services));
  await app.register(auditRoutes(services));
  await app.register(datasetRoutes(services));
  return app;
}
