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
export const DEV_KEY_ID_PREFIX = 'dev-';

export interface TokenVerifierOptions {
  readonly issuer: string;
  readonly audience: string;
  readonly keys: { readonly jwks: JSONWebKeySet } | { readonly jwksUrl: string };
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

/** Printable, bounded claim text: it ends up in audit columns and log lines. */
const CLAIM_TEXT = /^[^\p{Cc}]{1,256}$/u;

function stringArray(value: unknown, claim: string): string[] {
  if (value === undefined) return [];
  if (!Array.isArray(value) || value.length > 64 || !value.every((v) => typeof v === 'string' && v.length <= 128 && CLAIM_TEXT.test(v))) {
    throw new VaultError('ERR_UNAUTHENTICATED', 'invalid token', { internal: { reason: `claim_invalid:${claim}` } });
  }
  return value;
}

function principalFrom(payload: JWTPayload): Principal {
  if (typeof payload.sub !== 'string' || !CLAIM_TEXT.test(payload.sub)) {
    throw new VaultError('ERR_UNAUTHENTICATED', 'invalid token', { internal: { reason: 'claim_invalid:sub' } });
  }
  const purpose = payload.purpose;
  if (purpose !== undefined && (typeof purpose !== 'string' || !CLAIM_TEXT.test(purpose))) {
    throw new VaultError('ERR_UNAUTHENTICATED', 'invalid token', { internal: { reason: 'claim_invalid:purpose' } });
  }
  return {
    sub: payload.sub,
    roles: stringArray(payload.roles, 'roles'),
    teams: stringArray(payload.teams, 'teams'),
    purpose,
    jti: typeof payload.jti === 'string' ? payload.jti : undefined,
  };
}

export function createTokenVerifier(options: TokenVerifierOptions): TokenVerifier {
  const keySet: JWTVerifyGetKey =
    'jwks' in options.keys
      ? createLocalJWKSet(options.keys.jwks)
      : createRemoteJWKSet(new URL(options.keys.jwksUrl), { cacheMaxAge: 10 * 60_000, cooldownDuration: 30_000 });
  return {
    async verify(token) {
      if (typeof token !== 'string' || token.length === 0 || token.length > 16_384) {
        throw new VaultError('ERR_UNAUTHENTICATED', 'invalid token', { internal: { reason: 'malformed_token' } });
      }
      try {
        const { payload } = await jwtVerify(token, keySet, {
          issuer: options.issuer,
          audience: options.audience,
          algorithms: [...ACCEPTED_ALGORITHMS],
          clockTolerance: CLOCK_SKEW_SECONDS,
          requiredClaims: ['exp', 'sub'],
        });
        return principalFrom(payload);
      } catch (err) {
        if (err instanceof VaultError) throw err;
        throw new VaultError('ERR_UNAUTHENTICATED', 'invalid token', { cause: err, internal: { reason: tokenFailureReason(err) } });
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
