import type { FastifyReply, FastifyRequest } from 'fastify';
import { assertRole, type Principal, type Role, type TokenVerifier } from '../auth/index.js';
import { VaultError } from '../errors/index.js';

declare module 'fastify' {
  interface FastifyRequest {
    principal?: Principal;
  }
  interface FastifyContextConfig {
    /** Roles allowed on the route; a route without it is public. */
    roles?: Role[];
  }
}

const BEARER = /^Bearer ([A-Za-z0-9_-]+\.[A-Za-z0-9_-]*\.[A-Za-z0-9_-]*)$/;

/** An onRequest hook: runs before the body is read, so an anonymous caller cannot make us parse 10 MiB. */
export function authenticate(tokens: TokenVerifier) {
  return async (request: FastifyRequest, reply: FastifyReply): Promise<void> => {
    const roles = request.routeOptions.config.roles;
    if (!roles) return;
    void reply.header('www-authenticate', 'Bearer');
    const match = BEARER.exec(request.headers.authorization ?? '');
    if (!match) throw new VaultError('ERR_UNAUTHENTICATED', 'a bearer token is required', { internal: { reason: 'missing_token' } });
    request.principal = await tokens.verify(match[1]!);
    assertRole(request.principal, ...roles);
  };
}

/** The principal of an authenticated route; a route that forgot its `roles` config fails closed. */
export function principalOf(request: FastifyRequest): Principal {
  if (!request.principal) throw new VaultError('ERR_UNAUTHENTICATED', 'a bearer token is required');
  return request.principal;
}
