import type { FastifyReply, FastifyRequest } from 'fastify';
import type { AccessGate } from '../access/index.js';
import type { Principal, Role } from '../auth/index.js';
import { isVaultError, VaultError } from '../errors/index.js';

declare module 'fastify' {
  interface FastifyRequest {
    principal?: Principal;
  }
  interface FastifyContextConfig {
    /** Roles allowed on the route. */
    roles?: Role[];
    /** Set on the few routes anyone may call; a route with neither is refused at registration. */
    public?: true;
  }
}

/**
 * An onRequest hook: runs before the body is read, so an anonymous caller cannot make us parse
 * 10 MiB. The access gate verifies the token and audits every refusal (401, 403).
 */
export function authenticate(access: Pick<AccessGate, 'authenticate'>) {
  return async (request: FastifyRequest, reply: FastifyReply): Promise<void> => {
    if (request.is404) return;
    const { roles, public: isPublic } = request.routeOptions.config;
    if (isPublic && !roles) return;
    if (!roles) throw new VaultError('ERR_FORBIDDEN', 'this route is not open');
    try {
      request.principal = await access.authenticate(request.headers.authorization, roles, {
        method: request.method,
        route: request.routeOptions.url ?? request.url,
        remoteAddress: request.ip,
      });
    } catch (err) {
      // RFC 7235: the challenge belongs to a 401 only; set on every request it stuck to the 200s too.
      if (isVaultError(err, 'ERR_UNAUTHENTICATED')) void reply.header('www-authenticate', 'Bearer');
      throw err;
    }
  };
}

/** The principal of an authenticated route; a route that forgot its `roles` config fails closed. */
export function principalOf(request: FastifyRequest): Principal {
  if (!request.principal) throw new VaultError('ERR_UNAUTHENTICATED', 'a bearer token is required');
  return request.principal;
}

/** An onRoute hook: every route states who may call it, so a forgotten `roles` cannot make one public. */
export function requireAccessDeclaration(route: { url: string; method: string | string[]; config?: { roles?: Role[]; public?: true } }): void {
  const config = route.config ?? {};
  if (!config.public && !(config.roles && config.roles.length > 0)) {
    throw new TypeError(`route ${String(route.method)} ${route.url} declares neither roles nor public`);
  }
}
