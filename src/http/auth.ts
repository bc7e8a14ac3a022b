import type { FastifyReply, FastifyRequest } from 'fastify';
import type { AuditLog } from '../audit/index.js';
import { assertRole, type Principal, type Role, type TokenVerifier } from '../auth/index.js';
import { isVaultError, VaultError } from '../errors/index.js';

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

/**
 * An onRequest hook: runs before the body is read, so an anonymous caller cannot make us parse
 * 10 MiB. Every refusal (401, 403) is written to the audit log with its precise reason.
 */
export function authenticate(tokens: TokenVerifier, audit: AuditLog) {
  return async (request: FastifyRequest, reply: FastifyReply): Promise<void> => {
    const roles = request.routeOptions.config.roles;
    if (!roles) return;
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
