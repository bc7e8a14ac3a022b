import { randomUUID } from 'node:crypto';
import swagger from '@fastify/swagger';
import Fastify, { type FastifyInstance, type FastifyRequest, type FastifyServerOptions } from 'fastify';
import type { AuditScope } from '../audit/index.js';
import { VaultError } from '../errors/index.js';
import type { VaultServices } from '../services/index.js';
import { authenticate, requireAccessDeclaration } from './auth.js';
import { errorBodySchema, errorHandler, frameworkErrorHandler } from './errors.js';
import { createMetrics } from './metrics.js';
import { ingestRoutes } from './routes/ingest.js';
import { opsRoutes } from './routes/ops.js';
import { policyRoutes } from './routes/policy.js';
import { auditRoutes } from './routes/audit.js';
import { datasetRoutes } from './routes/datasets.js';
import { collectionRoutes, OPTIONAL_BODIES } from './routes/collection.js';
import { subjectRightsRoutes, SUBJECT_RIGHTS_OPTIONAL_BODIES } from './routes/subject-rights.js';
import { keyRoutes } from './routes/keys.js';
import { consoleRoutes, consoleSecurityHeaders } from './routes/console.js';

declare module 'fastify' {
  interface FastifyRequest {
    /** Whether a service already audited a deny for this request (read by the error handler). */
    auditScope?: AuditScope;
  }
}

export interface HttpServerOptions {
  /** Fastify logger options (tests pass a stream to read every log line). */
  readonly logger?: FastifyServerOptions['logger'];
}

/** Builds the HTTP API on the vault's services. The caller listens (`app.listen`) or injects requests. */
export async function buildHttpServer(services: VaultServices, options: HttpServerOptions = {}): Promise<FastifyInstance> {
  const logger = options.logger ?? { level: services.settings.logLevel, redact: ['req.headers.authorization'] };
  const app = Fastify({
    logger: logger === false ? false : { ...(logger === true ? {} : logger), serializers: { ...(logger === true ? {} : logger.serializers), req: requestForLog((id) => services.edgeAudit.employeeRef(id)) } },
    bodyLimit: services.settings.maxBodyBytes,
    genReqId: () => randomUUID(),
    ajv: { customOptions: { removeAdditional: false, coerceTypes: false, useDefaults: true, allErrors: false } },
    return503OnClosing: true,
    frameworkErrors: frameworkErrorHandler,
  });
  app.removeContentTypeParser('text/plain');
  const metrics = createMetrics({
    programPaused: () => {
      const status = services.collection.programStatus();
      return { collection: status.collection.paused, exports: status.exports.paused };
    },
    retention: () => services.retention.totals(),
    streams: () => services.datasets.load(),
    sealed: () => services.ingest.chunksSealed(),
  });
  app.addSchema(errorBodySchema);
  app.setErrorHandler(errorHandler(services.edgeAudit));
  app.setNotFoundHandler((_request, reply) => reply.status(404).send({ error: 'not_found', message: 'no such route' }));
  app.addHook('onRoute', requireAccessDeclaration);
  app.addHook('onSend', consoleSecurityHeaders);
  // First hook: the rest of the request runs in its audit scope (fastify carries the async context
  // across body parsing), so the error handler knows whether a service already audited a deny.
  app.addHook('onRequest', (request, _reply, done) => {
    request.auditScope = { denyRecorded: false };
    services.edgeAudit.runInScope(request.auditScope, done);
  });
  app.addHook('onRequest', authenticate(services.access));
  // A path we serve, asked with a method it does not take, is a 405 naming the ones it does (RFC
  // 9110), not "no such route". Answered here, before fastify would want a body for QUERY.
  app.addHook('onRequest', async (request, reply) => {
    if (!request.is404) return;
    const url = request.url.split('?', 1)[0]!;
    const allowed = ROUTED_METHODS.filter((method) => app.findRoute({ method, url }) !== null);
    if (allowed.length === 0) return;
    void reply.header('allow', allowed.join(', '));
    throw new VaultError('ERR_METHOD_NOT_ALLOWED', 'this path does not take that method');
  });
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
    transformObject: (document) => {
      if (!('openapiObject' in document)) return document.swaggerObject;
      const paths = document.openapiObject.paths as Record<string, Record<string, { requestBody?: { required?: boolean } }>> | undefined;
      for (const [path, method] of [...OPTIONAL_BODIES, ...SUBJECT_RIGHTS_OPTIONAL_BODIES]) {
        const body = paths?.[path]?.[method]?.requestBody;
        if (body) body.required = false;
      }
      return document.openapiObject;
    },
  });
  await app.register(opsRoutes(services, metrics));
  await app.register(ingestRoutes(services, metrics));
  await app.register(policyRoutes(services));
  await app.register(auditRoutes(services));
  await app.register(datasetRoutes(services));
  await app.register(collectionRoutes(services, metrics));
  await app.register(subjectRightsRoutes(services, metrics));
  await app.register(keyRoutes(services));
  await app.register(consoleRoutes(services));
  return app;
}

// The methods a route here may take; HEAD comes with every GET.
const ROUTED_METHODS = ['GET', 'HEAD', 'POST', 'PUT', 'DELETE', 'PATCH'] as const;

const EMPLOYEE_PATH = /^(\/v1\/employees\/)([^/?#]+)/;
/** Query parameters that name an employee (an employee's token `sub` is their id, hence `actor`). */
const EMPLOYEE_PARAMS = ['employee_id', 'actor'];

function decoded(encoded: string): string {
  try {
    return decodeURIComponent(encoded.replaceAll('+', ' '));
  } catch {
    // Not valid percent-encoding: the text as sent.
    return encoded;
  }
}

/**
 * The `req` of the operator log: an employee id in the path or the query becomes the keyed
 * reference the audit log uses for it (`ref:...`), so the log names no one yet can be matched
 * with the audit events about the same employee.
 */
function requestForLog(employeeRef: (employeeId: string) => string) {
  const keyed = (encoded: string): string => `ref:${employeeRef(decoded(encoded))}`;
  return (request: FastifyRequest) => {
    const [path = '', query] = request.url.split(/\?(.*)/s, 2);
    let url = path.replace(EMPLOYEE_PATH, (_m, prefix: string, id: string) => `${prefix}${keyed(id)}`);
    if (query !== undefined) {
      const pairs = query.split('&').map((pair) => {
        const [name = '', value] = pair.split(/=(.*)/s, 2);
        return value !== undefined && EMPLOYEE_PARAMS.includes(decoded(name)) ? `${name}=${keyed(value)}` : pair;
      });
      url += `?${pairs.join('&')}`;
    }
    return { method: request.method, url, host: request.host, remoteAddress: request.ip, remotePort: request.socket?.remotePort };
  };
}
