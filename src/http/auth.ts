import type { FastifyReply, FastifyRequest } from 'fastify';
import type { AuditLog } from '../audit/index.js';
import { assertRole, type Principal, type Role, type TokenVerifier } from '../auth/index.js';
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

const BEARER = /^bearer ([A-Za-z0-9_-]+\.[A-Za-z0-9_-]*\.[A-Za-z0-9_-]*)$/i;

/**
 * An onRequest hook: runs before the body is read, so an anonymous caller cannot make us parse
 * 10 MiB. Every refusal (401, 403) is written to the audit log with its precise reason.
 */
export function authenticate(tokens: TokenVerifier, audit: AuditLog) {
  return async (request: FastifyRequest, reply: FastifyReply): Promise<void> => {
    if (request.is404) return;
    const { roles, public: isPublic } = request.routeOptions.config;
    if (isPublic && !roles) return;
    if (!roles) throw new VaultError('ERR_FORBIDDEN', 'this route is not open');
    void reply.header('www-authenticate', 'Bearer');
    let principal: Principal | undefined;
    try {
      const match = BEARER.exec(request.headers.authorization ?? '');
      if (!match) throw new VaultError('ERR_UNAUTHENTICATED', 'a bearer token is required', { internal: { reason: 'missing_token' } });
      principal = await tokens.verify(match[1]!);
      assertRole(principal, ...roles);
      request.principal = principal;
    } catch (err) {
      if (isVaultError(err, 'ERR_UNAUTHENTICATED') || isVaultError(err, 'ERR_FORBIDDEN')) {
        await audit
          .appendAlone({
            action: err.code === 'ERR_UNAUTHENTICATED' ? 'auth.unauthenticated' : 'auth.forbidden',
            decision: 'deny',
            actor: principal ?? null,
            details: { ...(err.internal ?? {}), method: request.method, route: request.routeOptions.url ?? request.url, remote_address: request.ip },
          })
          .catch((auditErr: unknown) => request.log.error({ alarm: 'audit_unavailable', error: (auditErr as Error).message }, 'refused request not audited'));
      }
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
