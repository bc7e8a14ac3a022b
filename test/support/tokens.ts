import fs from 'node:fs/promises';
import { importJWK, SignJWT, type JWK, type JWTPayload } from 'jose';
import { devKeyFile } from '../../src/auth/index.js';
import type { TestVault } from './vault.js';

const b64url = (value: unknown) => Buffer.from(JSON.stringify(value)).toString('base64url');

/** Signs arbitrary claims with the test vault's development key (for expired, wrong-issuer... tokens). */
export async function signCustom(t: TestVault, payload: JWTPayload, options: { withoutExp?: boolean } = {}): Promise<string> {
  const jwk = JSON.parse(await fs.readFile(devKeyFile(t.dataDir), 'utf8')) as JWK;
  const now = Math.floor(Date.now() / 1000);
  const claims: JWTPayload = { iss: t.config.jwt.issuer, aud: t.config.jwt.audience, sub: 'agent-1', roles: ['ingest-agent'], iat: now, exp: now + 600, ...payload };
  if (options.withoutExp) delete claims.exp;
  return new SignJWT(claims).setProtectedHeader({ alg: 'EdDSA', kid: jwk.kid! }).sign(await importJWK(jwk, 'EdDSA'));
}

/** An unsigned token (`alg: none`) claiming to be an ingest agent. */
export function unsignedToken(t: TestVault): string {
  const now = Math.floor(Date.now() / 1000);
  return `${b64url({ alg: 'none', typ: 'JWT' })}.${b64url({ iss: t.config.jwt.issuer, aud: t.config.jwt.audience, sub: 'x', roles: ['ingest-agent'], exp: now + 600 })}.`;
}

/** The classic confusion attack: HS256 with the server's public key as the HMAC secret. */
export async function hmacWithPublicKey(t: TestVault): Promise<string> {
  const jwk = JSON.parse(await fs.readFile(devKeyFile(t.dataDir), 'utf8')) as JWK;
  const { d: _d, ...publicJwk } = jwk;
  const secret = Buffer.from(JSON.stringify(publicJwk));
  const now = Math.floor(Date.now() / 1000);
  return new SignJWT({ roles: ['ingest-agent'] })
    .setProtectedHeader({ alg: 'HS256', kid: jwk.kid! })
    .setIssuer(t.config.jwt.issuer)
    .setAudience(t.config.jwt.audience)
    .setSubject('x')
    .setExpirationTime(now + 600)
    .sign(secret);
}
