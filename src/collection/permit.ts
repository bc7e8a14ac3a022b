import { createHmac, createPrivateKey, createPublicKey, generateKeyPairSync, randomUUID, type KeyObject } from 'node:crypto';
import { exportJWK, SignJWT, type JWK } from 'jose';
import { loadOrCreateSecret, type SecretSealer, type VaultDatabase } from '../db/index.js';

export const PERMIT_SECONDS = 60;
export const PERMIT_AUDIENCE = 'activity-vault/capture-agent';
const PERMIT_SECRET = 'capture-permit-ed25519';

export interface PermitClaims {
  readonly employeeId: string;
  readonly kinds: readonly string[];
  readonly manifestVersion: number;
  /** The permit never outlives this: when the current answer may change (a pause ends, a scheduled one begins). */
  readonly notAfter: Date;
}

/**
 * Signs capture permits: a JWT (EdDSA) an agent holds while it captures, `sub` the employee,
 * `kinds` what it may capture, `manifest_version` the terms, expiring within 60 s. The key is made
 * once for all instances and stored wrapped under the KEK.
 */
export class PermitSigner {
  readonly #key: KeyObject;
  readonly publicKey: KeyObject;
  readonly keyId: string;
  readonly #issuer: string;

  private constructor(der: Buffer, issuer: string) {
    this.#key = createPrivateKey({ key: der, format: 'der', type: 'pkcs8' });
    der.fill(0);
    this.publicKey = createPublicKey(this.#key);
    this.keyId = `permit-${createHmac('sha256', 'activity-vault/permit-key-id').update(this.publicKey.export({ type: 'spki', format: 'der' })).digest('hex').slice(0, 16)}`;
    this.#issuer = issuer;
  }

  static async open(database: VaultDatabase, sealer: SecretSealer, issuer: string): Promise<PermitSigner> {
    const der = await loadOrCreateSecret(database.db, sealer, PERMIT_SECRET, () => generateKeyPairSync('ed25519').privateKey.export({ type: 'pkcs8', format: 'der' }) as Buffer);
    return new PermitSigner(der, issuer);
  }

  async sign(claims: PermitClaims, now: Date): Promise<{ permit: string; expiresAt: Date }> {
    const expiresAt = new Date(Math.min(now.getTime() + PERMIT_SECONDS * 1000, claims.notAfter.getTime()));
    const permit = await new SignJWT({ kinds: [...claims.kinds], manifest_version: claims.manifestVersion })
      .setProtectedHeader({ alg: 'EdDSA', kid: this.keyId, typ: 'capture-permit+jwt' })
      .setIssuer(this.#issuer)
      .setAudience(PERMIT_AUDIENCE)
      .setSubject(claims.employeeId)
      .setJti(randomUUID())
      .setIssuedAt(Math.floor(now.getTime() / 1000))
      .setExpirationTime(Math.floor(expiresAt.getTime() / 1000))
      .sign(this.#key);
    return { permit, expiresAt: new Date(Math.floor(expiresAt.getTime() / 1000) * 1000) };
  }

  async jwks(): Promise<{ keys: JWK[] }> {
    return { keys: [{ ...(await exportJWK(this.publicKey)), kid: this.keyId, alg: 'EdDSA', use: 'sig' }] };
  }
}
