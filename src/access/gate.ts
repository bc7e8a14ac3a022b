import type { AuditLog } from '../audit/index.js';
import { assertRole, type Principal, type Role, type TokenVerifier } from '../auth/index.js';
import { isVaultError, VaultError } from '../errors/index.js';

const BEARER = /^bearer ([A-Za-z0-9_-]+\.[A-Za-z0-9_-]*\.[A-Za-z0-9_-]*)$/i;

/** Where a request came from, for the audit event of a refusal. */
export interface RequestContext {
  readonly method: string;
  readonly route: string;
  readonly remoteAddress: string;
}

/**
 * The door of every authenticated call: the bearer token verified, the role checked, and every
 * refusal (401, 403) written to the audit log with its precise reason. The HTTP layer hands it
 * the header; it never sees the token verifier.
 */
export class AccessGate {
  constructor(
    private readonly tokens: TokenVerifier,
    private readonly audit: AuditLog,
    private readonly log?: (event: Record<string, unknown>, message: string) => void,
  ) {}

  async authenticate(authorization: string | undefined, roles: readonly Role[], context: RequestContext): Promise<Principal> {
    let principal: Principal | undefined;
    try {
      const match = BEARER.exec(authorization ?? '');
      if (!match) throw new VaultError('ERR_UNAUTHENTICATED', 'a bearer token is required', { internal: { reason: 'missing_token' } });
      principal = await this.tokens.verify(match[1]!);
      assertRole(principal, ...roles);
      return principal;
    } catch (err) {
      if (isVaultError(err, 'ERR_UNAUTHENTICATED') || isVaultError(err, 'ERR_FORBIDDEN')) {
        await this.audit
          .appendAlone({
            action: err.code === 'ERR_UNAUTHENTICATED' ? 'auth.unauthenticated' : 'auth.forbidden',
            decision: 'deny',
            actor: principal ?? null,
            details: { ...(err.internal ?? {}), method: context.method, route: context.route, remote_address: context.remoteAddress },
          })
          .catch((auditErr: unknown) => this.log?.({ alarm: 'audit_unavailable', error: (auditErr as Error).message }, 'refused request not audited'));
      }
      throw err;
    }
  }
}
