import { randomUUID } from 'node:crypto';
import { constants as fsConstants } from 'node:fs';
import fs from 'node:fs/promises';
import path from 'node:path';
import { calculateJwkThumbprint, exportJWK, generateKeyPair, importJWK, SignJWT, type JSONWebKeySet, type JWK } from 'jose';
import { VaultError } from '../errors/index.js';
import { DEV_KEY_ID_PREFIX } from './tokens.js';

/** A development signing key kept in the data directory, so `token mint` works on a laptop. */
export interface DevSigningKey {
  readonly kid: string;
  readonly jwks: JSONWebKeySet;
  sign(claims: MintClaims): Promise<string>;
}

export interface MintClaims {
  readonly sub: string;
  readonly roles: readonly string[];
  readonly teams?: readonly string[];
  readonly purpose?: string;
  readonly issuer: string;
  readonly audience: string;
  readonly ttlSeconds: number;
}

export function devKeyFile(dataDir: string): string {
  return path.join(dataDir, 'dev-signing-key.jwk.json');
}

async function createKeyFile(file: string): Promise<void> {
  const { privateKey } = await generateKeyPair('EdDSA', { crv: 'Ed25519', extractable: true });
  const jwk = await exportJWK(privateKey);
  jwk.kid = `${DEV_KEY_ID_PREFIX}${(await calculateJwkThumbprint(jwk)).slice(0, 16)}`;
  jwk.alg = 'EdDSA';
  await fs.mkdir(path.dirname(file), { recursive: true, mode: 0o700 });
  try {
    const handle = await fs.open(file, fsConstants.O_WRONLY | fsConstants.O_CREAT | fsConstants.O_EXCL, 0o600);
    await handle.writeFile(JSON.stringify(jwk));
    await handle.close();
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw err;
  }
}

/** Loads (creating on first use) the development key. Never called in production. */
export async function loadDevSigningKey(dataDir: string): Promise<DevSigningKey> {
  const file = devKeyFile(dataDir);
  try {
    await fs.access(file);
  } catch {
    await createKeyFile(file);
  }
  const jwk = JSON.parse(await fs.readFile(file, 'utf8')) as JWK;
  if (typeof jwk.kid !== 'string' || !jwk.kid.startsWith(DEV_KEY_ID_PREFIX) || !jwk.d) {
    throw new VaultError('ERR_CONFIG', `${file} is not a development signing key`);
  }
  const { d: _private, ...publicJwk } = jwk;
  const privateKey = await importJWK(jwk, 'EdDSA');
  const kid = jwk.kid;
  return {
    kid,
    jwks: { keys: [{ ...publicJwk, use: 'sig' }] },
    async sign(claims) {
      const jwt = new SignJWT({ roles: [...claims.roles], teams: [...(claims.teams ?? [])], ...(claims.purpose ? { purpose: claims.purpose } : {}) })
        .setProtectedHeader({ alg: 'EdDSA', kid, typ: 'JWT' })
        .setSubject(claims.sub)
        .setIssuer(claims.issuer)
        .setAudience(claims.audience)
        .setIssuedAt()
        .setJti(randomUUID())
        .setExpirationTime(Math.floor(Date.now() / 1000) + claims.ttlSeconds);
      return jwt.sign(privateKey);
    },
  };
}
