import { isIP } from 'node:net';
import type { AuditEventInput } from '../audit/index.js';
import { loadDevSigningKey, type DevSigningKey, type Role } from '../auth/index.js';
import { VaultError } from '../errors/index.js';

/** What the console's development sign-in asks for: one role, as the mint form offers it. */
export interface DevTokenRequest {
  readonly role: Role;
  readonly sub: string;
  readonly teams?: readonly string[];
  readonly purpose?: string;
}

/** Where a mint request came from: the socket's address and the names the browser sent. */
export interface RequestOrigin {
  readonly remoteAddress: string;
  /** The Host header (with its port, if any). */
  readonly host: string | undefined;
  /** The Origin header, when the browser sent one. */
  readonly origin: string | undefined;
}

export interface DevTokenMintOptions {
  readonly env: 'development' | 'production';
  /** A VAULT_JWKS_FILE or VAULT_JWKS_URL is set: tokens come from an identity provider, never from us. */
  readonly jwksConfigured: boolean;
  readonly dataDir: string;
  readonly issuer: string;
  readonly audience: string;
  readonly maxTtlSeconds: number;
  readonly audit: { appendAlone(event: AuditEventInput): Promise<unknown> };
}

/** An hour, as `token mint` gives by default: long enough for a session at the console. */
const DEV_TOKEN_TTL_SECONDS = 3600;
const ACTION = 'console.dev_token';

/** 127.0.0.0/8, ::1, and IPv4 loopback mapped into IPv6. */
export function isLoopbackAddress(address: string): boolean {
  const v4 = address.startsWith('::ffff:') ? address.slice(7) : address;
  if (isIP(v4) === 4) return v4.split('.')[0] === '127';
  return address === '::1' || address === '0:0:0:0:0:0:0:1';
}

/** The host part of a Host header or an origin's authority, without port or brackets. */
function hostName(authority: string): string {
  const bracketed = /^\[([^\]]*)\](?::\d*)?$/.exec(authority);
  if (bracketed) return bracketed[1]!;
  return authority.replace(/:\d*$/, '');
}

function isLoopbackName(authority: string | undefined): boolean {
  if (authority === undefined) return false;
  const name = hostName(authority.trim().toLowerCase());
  return name === 'localhost' || isLoopbackAddress(name);
}

function originIsLoopback(origin: string | undefined): boolean {
  if (origin === undefined) return true;
  try {
    const url = new URL(origin);
    return (url.protocol === 'http:' || url.protocol === 'https:') && isLoopbackName(url.host);
  } catch {
    return false;
  }
}

/**
 * The console's development sign-in: a token signed with the development key, for a person at
 * the machine the vault runs on. Offered only when the vault runs in development with its own key
 * (no JWKS configured, so the minted token is the only kind it accepts anyway) and the request
 * comes from loopback under a loopback name: a page on another site that rebinds its DNS name to
 * 127.0.0.1 still sends its own name in Host and Origin, and is refused. Every mint, and every
 * refused one, is on the audit log, without the token.
 *
 * @example
 * const mint = new DevTokenMint({ env: 'development', jwksConfigured: false, dataDir, issuer, audience, maxTtlSeconds, audit });
 * const { token } = await mint.mint({ remoteAddress: '127.0.0.1', host: '127.0.0.1:8080', origin: undefined }, { role: 'auditor', sub: 'ada' });
 */
export class DevTokenMint {
  readonly #options: DevTokenMintOptions;
  #key: Promise<DevSigningKey> | undefined;

  constructor(options: DevTokenMintOptions) {
    this.#options = options;
  }

  /** Whether this vault can mint at all; when not, the routes that mint do not exist. */
  get available(): boolean {
    return this.#options.env === 'development' && !this.#options.jwksConfigured;
  }

  /** Whether a request from `from` is offered the mint (the console shows its form then). */
  offeredTo(from: RequestOrigin): boolean {
    return this.available && isLoopbackAddress(from.remoteAddress) && isLoopbackName(from.host) && originIsLoopback(from.origin);
  }

  /**
   * Resolves when the mint is offered to `from`; otherwise throws `ERR_NOT_FOUND`, as for any path
   * this vault does not serve. On a development vault the refusal is audited: someone not at the
   * machine asked for a token.
   */
  async admit(from: RequestOrigin): Promise<void> {
    if (this.offeredTo(from)) return;
    if (this.available) {
      await this.#options.audit.appendAlone({
        action: ACTION,
        decision: 'deny',
        severity: 'high',
        actor: null,
        details: { reason: 'not_loopback', remote_address: from.remoteAddress, host: from.host ?? null, origin: from.origin ?? null },
      });
    }
    throw new VaultError('ERR_NOT_FOUND', 'no such route');
  }

  /**
   * Signs a token for `request`, once `admit` lets `from` in; `ERR_INVALID_REQUEST` for a training
   * job without a purpose.
   */
  async mint(from: RequestOrigin, request: DevTokenRequest): Promise<{ token: string; expires_in: number }> {
    await this.admit(from);
    const minted = { sub: request.sub, roles: [request.role], teams: [...(request.teams ?? [])], purpose: request.purpose };
    if (request.role === 'training-job' && !request.purpose) throw new VaultError('ERR_INVALID_REQUEST', 'a training-job token needs a purpose');
    const ttlSeconds = Math.min(DEV_TOKEN_TTL_SECONDS, this.#options.maxTtlSeconds);
    this.#key ??= loadDevSigningKey(this.#options.dataDir);
    const key = await this.#key;
    const token = await key.sign({ ...minted, issuer: this.#options.issuer, audience: this.#options.audience, ttlSeconds });
    // The token is handed out only once its mint is durably on the log.
    await this.#options.audit.appendAlone({
      action: ACTION,
      decision: 'allow',
      actor: minted,
      details: { role: request.role, kid: key.kid, ttl_seconds: ttlSeconds, remote_address: from.remoteAddress },
    });
    return { token, expires_in: ttlSeconds };
  }
}
