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
  /** Names of the request's headers (lower case): a proxy announces itself in some of them. */
  readonly headerNames: readonly string[];
}

/** Counts an anonymous refusal per source, reason and second, without waiting for the database (`RefusalTally`). */
export interface MintRefusals {
  count(source: string, reason: string, route: string, sample?: Readonly<Record<string, unknown>>): number;
}

export interface DevTokenMintOptions {
  readonly env: 'development' | 'production';
  /** A VAULT_JWKS_FILE or VAULT_JWKS_URL is set: tokens come from an identity provider, never from us. */
  readonly jwksConfigured: boolean;
  /** VAULT_CONSOLE_DEV_TOKEN: the operator asked for the mint. */
  readonly enabled: boolean;
  readonly dataDir: string;
  readonly issuer: string;
  readonly audience: string;
  readonly maxTtlSeconds: number;
  readonly audit: { appendAlone(event: AuditEventInput): Promise<unknown> };
  /** Where refused mint requests are tallied (one high-severity `console.dev_token` event per source, reason and second). */
  readonly refusals: MintRefusals;
}

/** Why a mint request is refused; the words of the audit event's `reason`. */
export type MintRefusal = 'not_loopback' | 'forwarded' | 'host_not_loopback' | 'origin_missing' | 'origin_not_own' | 'invalid_request';

/** An hour, as `token mint` gives by default: long enough for a session at the console. */
const DEV_TOKEN_TTL_SECONDS = 3600;
export const DEV_TOKEN_ACTION = 'console.dev_token';
const ROUTE = 'POST /console/dev-token';
/** What of a Host or Origin header an audit event keeps: a name is at most 253 characters, and a flood of 8 KB ones must not fill the log. */
const MAX_HEADER_SAMPLE = 255;

/** 127.0.0.0/8, ::1, and IPv4 loopback mapped into IPv6. */
export function isLoopbackAddress(address: string): boolean {
  const v4 = address.startsWith('::ffff:') ? address.slice(7) : address;
  if (isIP(v4) === 4) return v4.split('.')[0] === '127';
  return address === '::1' || address === '0:0:0:0:0:0:0:1';
}

/** Headers a proxy (or a client pretending to be behind one) adds: the socket's address is then not the caller's. */
function isProxyHeader(name: string): boolean {
  return name === 'forwarded' || name === 'via' || name === 'x-real-ip' || name.startsWith('x-forwarded-');
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

/** Scheme, host and port of `text` as a URL (`http://localhost:80` and `http://localhost` are one), or undefined. */
function originOf(text: string): string | undefined {
  try {
    const url = new URL(text);
    return url.protocol === 'http:' ? url.origin : undefined;
  } catch {
    return undefined;
  }
}

/** The vault serves plain HTTP: its own origin is `http://` and the Host the request was sent to. */
function ownOrigin(host: string): string | undefined {
  return /^[^\s/?#@\\]+$/.test(host) ? originOf(`http://${host}`) : undefined;
}

const cut = (text: string | undefined): string | null => (text === undefined ? null : text.slice(0, MAX_HEADER_SAMPLE));

/**
 * The console's development sign-in: a token signed with the development key, for a person at
 * the machine the vault runs on. Offered only when the operator asked for it
 * (`VAULT_CONSOLE_DEV_TOKEN=1`) on a vault in development with its own key (no JWKS configured,
 * so the minted token is the only kind it accepts anyway), and only to a browser on the vault's
 * own page: a loopback socket, a loopback Host, the vault's own Origin, and no header a proxy
 * adds. A page on another site that rebinds its name to 127.0.0.1 sends its own Host and Origin;
 * a page on another local port sends its own Origin; a proxy on the machine forwards from
 * loopback, usually with X-Forwarded-For or Via. A proxy that adds none of them, another local
 * user, or a script that forges the Origin still gets a token: hence opt-in. Every mint is
 * audited without the token; refusals are tallied per source, reason and second.
 *
 * @example
 * const mint = new DevTokenMint({ env: 'development', jwksConfigured: false, enabled: true, dataDir, issuer, audience, maxTtlSeconds, audit, refusals });
 * const from = { remoteAddress: '127.0.0.1', host: '127.0.0.1:8080', origin: 'http://127.0.0.1:8080', headerNames: ['host', 'origin'] };
 * const { token } = await mint.mint(from, { role: 'auditor', sub: 'ada' });
 */
export class DevTokenMint {
  readonly #options: DevTokenMintOptions;
  #key: Promise<DevSigningKey> | undefined;

  constructor(options: DevTokenMintOptions) {
    this.#options = options;
  }

  /** Whether this vault can mint at all; when not, the routes that mint do not exist. */
  get available(): boolean {
    return this.#options.enabled && this.#options.env === 'development' && !this.#options.jwksConfigured;
  }

  /**
   * Whether a page loaded from `from` is offered the mint (the console shows its form then). A
   * same-origin GET carries no Origin, so here an absent one passes; the mint itself requires it.
   */
  offeredTo(from: RequestOrigin): boolean {
    if (!this.available) return false;
    const refusal = refusalOf(from);
    return refusal === undefined || refusal === 'origin_missing';
  }

  /**
   * Resolves when `from` may mint; otherwise throws `ERR_NOT_FOUND`, as for any path this vault
   * does not serve, and tallies the refusal: someone not at the machine asked for a token.
   */
  async admit(from: RequestOrigin): Promise<void> {
    const refusal = this.available ? refusalOf(from) : undefined;
    if (this.available && refusal === undefined) return;
    if (refusal !== undefined) this.refuse(from, refusal);
    throw new VaultError('ERR_NOT_FOUND', 'no such route');
  }

  /** Tallies a refused mint request (an anonymous caller: there is no actor to name). */
  refuse(from: RequestOrigin, reason: MintRefusal): void {
    if (!this.available) return;
    this.#options.refusals.count(from.remoteAddress, reason, ROUTE, { host: cut(from.host), origin: cut(from.origin) });
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
    // The token is handed out only once its mint is durably on the log. Whoever asked is
    // anonymous: the subject is what was issued, not who acted.
    await this.#options.audit.appendAlone({
      action: DEV_TOKEN_ACTION,
      decision: 'allow',
      actor: null,
      details: {
        subject: minted.sub,
        role: request.role,
        teams: minted.teams,
        ...(minted.purpose !== undefined ? { purpose: minted.purpose } : {}),
        kid: key.kid,
        ttl_seconds: ttlSeconds,
        remote_address: from.remoteAddress,
      },
    });
    return { token, expires_in: ttlSeconds };
  }
}

/** Why `from` may not mint, or undefined when it may. */
function refusalOf(from: RequestOrigin): MintRefusal | undefined {
  if (!isLoopbackAddress(from.remoteAddress)) return 'not_loopback';
  if (from.headerNames.some(isProxyHeader)) return 'forwarded';
  if (!isLoopbackName(from.host)) return 'host_not_loopback';
  if (from.origin === undefined) return 'origin_missing';
  const own = ownOrigin(from.host!);
  if (own === undefined || originOf(from.origin) !== own) return 'origin_not_own';
  return undefined;
}
