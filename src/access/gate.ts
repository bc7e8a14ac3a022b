import { setTimeout as delay } from 'node:timers/promises';
import type { AuditLog } from '../audit/index.js';
import { assertRole, type Principal, type Role, type TokenVerifier } from '../auth/index.js';
import { isVaultError, loggableError, VaultError } from '../errors/index.js';
import { RefusalTally } from './refusals.js';

const BEARER = /^bearer ([A-Za-z0-9_-]+\.[A-Za-z0-9_-]*\.[A-Za-z0-9_-]*)$/i;

/** Where a request came from, for the audit event of a refusal. */
export interface RequestContext {
  readonly method: string;
  readonly route: string;
  readonly remoteAddress: string;
}

export interface AccessGateOptions {
  /** The operator log; alarms carry an `alarm` field. */
  readonly log?: (event: Record<string, unknown>, message: string) => void;
  /** Distinct (client address, reason) pairs tallied per second before the catch-all bucket. */
  readonly maxRefusalKeysPerSecond?: number;
  /** Refusals of one (client address, reason) pair in a second answered at once; later ones wait `refusalDelayMs`. */
  readonly promptRefusalsPerSecond?: number;
  readonly refusalDelayMs?: number;
}

/**
 * The door of every authenticated call: the bearer token verified, the role checked, and every
 * refusal audited. A refusal with no valid principal (401) is tallied per client address, reason
 * and second into one `auth.refused` event with a count, so an anonymous flood cannot queue a
 * durable append per request; a refusal of a verified principal (403) is one exact
 * `auth.forbidden` event. A source refused more than `promptRefusalsPerSecond` times in a second
 * gets its further 401s only after `refusalDelayMs`. The HTTP layer hands it the header; it never sees the token verifier.
 */
export class AccessGate {
  readonly #tokens: TokenVerifier;
  readonly #audit: AuditLog;
  readonly #log: (event: Record<string, unknown>, message: string) => void;
  readonly #refusals: RefusalTally;
  readonly #promptRefusals: number;
  readonly #refusalDelayMs: number;

  constructor(tokens: TokenVerifier, audit: AuditLog, options: AccessGateOptions) {
    this.#tokens = tokens;
    this.#audit = audit;
    this.#log = options.log ?? (() => {});
    this.#refusals = new RefusalTally({
      // Tallied refusals go to the log in one transaction per flush.
      write: (events) => audit.appendManyAlone(events),
      log: this.#log,
      maxKeysPerSecond: options.maxRefusalKeysPerSecond,
    });
    this.#promptRefusals = options.promptRefusalsPerSecond ?? 20;
    this.#refusalDelayMs = options.refusalDelayMs ?? 250;
  }

  async authenticate(authorization: string | undefined, roles: readonly Role[], context: RequestContext): Promise<Principal> {
    let principal: Principal | undefined;
    try {
      const match = BEARER.exec(authorization ?? '');
      if (!match) throw new VaultError('ERR_UNAUTHENTICATED', 'a bearer token is required', { internal: { reason: 'missing_token' } });
      principal = await this.#tokens.verify(match[1]!);
      assertRole(principal, ...roles);
      return principal;
    } catch (err) {
      if (isVaultError(err, 'ERR_UNAUTHENTICATED')) {
        const thisSecond = this.#refusals.count(context.remoteAddress, String(err.internal?.reason ?? 'invalid_token'), `${context.method} ${context.route}`);
        // A source that keeps failing waits for its answer: a flood over N connections is held to
        // N requests per delay instead of taking the event loop from legitimate callers.
        if (thisSecond > this.#promptRefusals) await delay(this.#refusalDelayMs);
      } else if (isVaultError(err, 'ERR_FORBIDDEN')) {
        await this.#audit
          .appendAlone({
            action: 'auth.forbidden',
            decision: 'deny',
            actor: principal ?? null,
            details: { ...(err.internal ?? {}), method: context.method, route: context.route, remote_address: context.remoteAddress },
          })
          .catch((auditErr: unknown) => this.#log({ alarm: 'audit_unavailable', error: loggableError(auditErr) }, 'refused request not audited'));
      }
      throw err;
    }
  }

  /** Not ready while refusals tallied by this gate cannot be written to the audit log. */
  refusalAuditCheck(): { ok: boolean; reason?: string } {
    return this.#refusals.healthy ? { ok: true } : { ok: false, reason: 'refused requests cannot be written to the audit log' };
  }

  /** Writes every refusal tallied so far; call before the database closes. */
  close(): Promise<void> {
    return this.#refusals.close();
  }
}
