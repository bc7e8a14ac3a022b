import { createHash } from 'node:crypto';
import fs from 'node:fs/promises';
import {
  createLocalJWKSet,
  createRemoteJWKSet,
  errors as joseErrors,
  jwtVerify,
  type JSONWebKeySet,
  type JWTPayload,
  type JWTVerifyGetKey,
} from 'jose';
import { VaultError } from '../errors/index.js';
import type { Principal } from './principal.js';

/** Asymmetric only: `none` and every HMAC algorithm are refused before any key is consulted. */
export const ACCEPTED_ALGORITHMS = ['EdDSA', 'ES256', 'RS256'] as const;
export const CLOCK_SKEW_SECONDS = 60;
/** The longest `exp - iat` accepted unless configured otherwise (`VAULT_JWT_MAX_TTL`). */
export const DEFAULT_MAX_TOKEN_TTL_SECONDS = 86_400;
export const DEV_KEY_ID_PREFIX = 'dev-';

export interface TokenVerifierOptions {
  readonly issuer: string;
  readonly audience: string;
  readonly keys: { readonly jwks: JSONWebKeySet } | { readonly jwksUrl: string };
  /** Longest lifetime (`exp - iat`) accepted; default `DEFAULT_MAX_TOKEN_TTL_SECONDS`. */
  readonly maxTtlSeconds?: number;
}

export interface TokenVerifier {
  /** Returns the principal of a valid token; throws `ERR_UNAUTHENTICATED` with a vague message otherwise. */
  verify(token: string): Promise<Principal>;
}

/** Why a token was refused, precise enough for the audit log and never containing the token. */
export function tokenFailureReason(err: unknown): string {
  const cause = err instanceof VaultError ? err.cause : err;
  if (cause instanceof joseErrors.JWTExpired) return 'token_expired';
  if (cause instanceof joseErrors.JWTClaimValidationFailed) return `claim_invalid:${cause.claim}`;
  if (cause instanceof joseErrors.JOSEAlgNotAllowed) return 'algorithm_not_allowed';
  if (cause instanceof joseErrors.JWSSignatureVerificationFailed) return 'signature_invalid';
  if (cause instanceof joseErrors.JWKSNoMatchingKey) return 'unknown_key';
  if (cause instanceof joseErrors.JWSInvalid || cause instanceof joseErrors.JWTInvalid) return 'malformed_token';
  if (cause instanceof joseErrors.JOSEError) return cause.code;
  if (err instanceof VaultError) return String(err.internal?.reason ?? 'invalid_token');
  return 'invalid_token';
}

/**
 * Printable, bounded claim text: it ends up in audit columns, log lines and policy input. Control
 * and format characters (bidirectional overrides, zero-width joiners, BOM), line separators,
 * surrogates and private-use code points would let `sub`, `teams` or `purpose` read as something
 * else to an auditor or compare unequal to what a grant names.
 */
const CLAIM_TEXT = /^[^\p{C}\p{Zl}\p{Zp}]{1,256}$/u;

function refuse(reason: string): VaultError {
  return new VaultError('ERR_UNAUTHENTICATED', 'invalid token', { internal: { reason } });
}

/** A token must say when it was issued, not from the future, and live no longer than `maxTtlSeconds`. */
function assertLifetime(payload: JWTPayload, maxTtlSeconds: number): void {
  // jose has already checked that iat and exp, when present, are numbers, and that exp is not past.
  if (payload.iat === undefined) throw refuse('iat_missing');
  if (payload.iat > Date.now() / 1000 + CLOCK_SKEW_SECONDS) throw refuse('iat_in_future');
  if (payload.exp === undefined || payload.exp - payload.iat > maxTtlSeconds) throw refuse('lifetime_exceeds_max');
}

function stringArray(value: unknown, claim: string): string[] {
  if (value === undefined) return [];
  if (!Array.isArray(value) || value.length > 64 || !value.every((v) => typeof v === 'string' && v.length <= 128 && CLAIM_TEXT.test(v))) {
    throw refuse(`claim_invalid:${claim}`);
  }
  return value;
}

function principalFrom(payload: JWTPayload): Principal {
  if (typeof payload.sub !== 'string' || !CLAIM_TEXT.test(payload.sub)) throw refuse('claim_invalid:sub');
  const purpose = payload.purpose;
  if (purpose !== undefined && (typeof purpose !== 'string' || !CLAIM_TEXT.test(purpose))) throw refuse('claim_invalid:purpose');
  return {
    sub: payload.sub,
    roles: stringArray(payload.roles, 'roles'),
    teams: stringArray(payload.teams, 'teams'),
    purpose,
    jti: typeof payload.jti === 'string' ? payload.jti : undefined,
  };
}

/**
 * Refusals that the same token would earn again: remembered by the token's digest so a flood of one
 * forged or expired token costs a hash, not a signature check per request. Not remembered: what
 * time or a key rotation can cure (unknown key, `iat` or `nbf` in the future, a JWKS fetch error).
 */
const LASTING_REFUSAL = /^(signature_invalid|malformed_token|algorithm_not_allowed|token_expired|lifetime_exceeds_max|iat_missing|claim_invalid:(?!nbf$)[a-z_]+)$/;
const REFUSED_TOKENS_KEPT = 10_000;
const REFUSED_TOKEN_TTL_MS = 10 * 60_000;

class RefusedTokens {
  readonly #reasons = new Map<string, { reason: string; until: number }>();

  reasonFor(digest: string): string | undefined {
    const known = this.#reasons.get(digest);
    if (known && known.until > Date.now()) return known.reason;
    if (known) this.#reasons.delete(digest);
    return undefined;
  }

  remember(digest: string, reason: string): void {
    if (!LASTING_REFUSAL.test(reason)) return;
    if (this.#reasons.size >= REFUSED_TOKENS_KEPT) this.#reasons.delete(this.#reasons.keys().next().value!);
    this.#reasons.set(digest, { reason, until: Date.now() + REFUSED_TOKEN_TTL_MS });
  }
}

export function createTokenVerifier(options: TokenVerifierOptions): TokenVerifier {
  const maxTtlSeconds = options.maxTtlSeconds ?? DEFAULT_MAX_TOKEN_TTL_SECONDS;
  if (!Number.isSafeInteger(maxTtlSeconds) || maxTtlSeconds < 1) throw new TypeError('maxTtlSeconds must be a positive integer');
  const keySet: JWTVerifyGetKey =
    'jwks' in options.keys
      ? createLocalJWKSet(options.keys.jwks)
      : createRemoteJWKSet(new URL(options.keys.jwksUrl), { cacheMaxAge: 10 * 60_000, cooldownDuration: 30_000 });
  const refused = new RefusedTokens();
  return {
    async verify(token) {
      if (typeof token !== 'string' || token.length === 0 || token.length > 16_384) {
        throw refuse('malformed_token');
      }
      const digest = createHash('sha256').update(token).digest('base64url');
      const knownReason = refused.reasonFor(digest);
      if (knownReason) throw refuse(knownReason);
      try {
        const { payload } = await jwtVerify(token, keySet, {
          issuer: options.issuer,
          audience: options.audience,
          algorithms: [...ACCEPTED_ALGORITHMS],
          clockTolerance: CLOCK_SKEW_SECONDS,
          requiredClaims: ['exp', 'sub'],
        });
        assertLifetime(payload, maxTtlSeconds);
        return principalFrom(payload);
      } catch (err) {
        const failure = err instanceof VaultError ? err : new VaultError('ERR_UNAUTHENTICATED', 'invalid token', { cause: err, internal: { reason: tokenFailureReason(err) } });
        if (failure.code === 'ERR_UNAUTHENTICATED') refused.remember(digest, String(failure.internal?.reason));
        throw failure;
      }
    },
  };
}

/** Reads a JWKS file; refuses symmetric keys, private keys and, in production, development keys. */
export async function readJwksFile(file: string, options: { production: boolean }): Promise<JSONWebKeySet> {
  let jwks: JSONWebKeySet;
  try {
    jwks = JSON.parse(await fs.readFile(file, 'utf8')) as JSONWebKeySet;
  } catch (err) {
    throw new VaultError('ERR_CONFIG', `VAULT_JWKS_FILE ${file} is not a readable JSON Web Key Set`, { cause: err });
  }
  if (!Array.isArray(jwks?.keys) || jwks.keys.length === 0) throw new VaultError('ERR_CONFIG', `VAULT_JWKS_FILE ${file} holds no keys`);
  for (const key of jwks.keys) {
    if (key.kty === 'oct') throw new VaultError('ERR_CONFIG', `VAULT_JWKS_FILE ${file} holds a symmetric key; only asymmetric keys are accepted`);
    if ('d' in key) throw new VaultError('ERR_CONFIG', `VAULT_JWKS_FILE ${file} holds a private key; publish public keys only`);
    if (options.production && typeof key.kid === 'string' && key.kid.startsWith(DEV_KEY_ID_PREFIX)) {
      throw new VaultError('ERR_CONFIG', `VAULT_JWKS_FILE ${file} holds a development key (${key.kid}); production refuses it`);
    }
  }
  return jwks;
}
