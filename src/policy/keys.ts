import { createPrivateKey, createPublicKey, generateKeyPairSync, type KeyObject } from 'node:crypto';
import { constants as fsConstants } from 'node:fs';
import fs from 'node:fs/promises';
import path from 'node:path';
import { calculateJwkThumbprint, exportJWK, type JWK } from 'jose';
import type { VaultConfig } from '../config/index.js';
import { packageRoot } from '../config/paths.js';
import { VaultError } from '../errors/index.js';
import type { TrustedBundleKey } from './bundle.js';

export const DEV_KEY_PREFIX = 'dev-';

/** Public keys of development bundle signers, committed so the default bundle verifies with Node alone. */
export function devBundleKeysFile(): string {
  return path.join(packageRoot(), 'policies', 'build', 'dev-bundle-keys.json');
}

export function devBundleSigningKeyFile(dataDir: string): string {
  return path.join(dataDir, 'dev-bundle-signing-key.pem');
}

async function readKeySet(file: string): Promise<JWK[]> {
  let parsed: { keys?: unknown };
  try {
    parsed = JSON.parse(await fs.readFile(file, 'utf8'));
  } catch (err) {
    throw new VaultError('ERR_CONFIG', `${file} is not a readable JSON Web Key Set`, { cause: err });
  }
  if (!Array.isArray(parsed.keys)) throw new VaultError('ERR_CONFIG', `${file} holds no "keys"`);
  for (const key of parsed.keys as JWK[]) {
    if (typeof key.kid !== 'string' || key.kid === '') throw new VaultError('ERR_CONFIG', `${file}: every bundle key needs a kid`);
    if (key.kty === 'oct' || 'd' in key) throw new VaultError('ERR_CONFIG', `${file}: bundle keys must be public asymmetric keys`);
  }
  return parsed.keys as JWK[];
}

export async function publicJwkOf(key: KeyObject, kidPrefix: string): Promise<JWK> {
  const jwk = await exportJWK(createPublicKey(key));
  return { ...jwk, kid: `${kidPrefix}${(await calculateJwkThumbprint(jwk)).slice(0, 16)}`, alg: 'ES256', use: 'sig' };
}

/** The local development signing key (EC P-256, PEM, mode 0600), created on first use. */
export async function loadDevBundleSigningKey(dataDir: string): Promise<{ file: string; privateKey: KeyObject; publicJwk: JWK }> {
  const file = devBundleSigningKeyFile(dataDir);
  try {
    await fs.access(file);
  } catch {
    const { privateKey } = generateKeyPairSync('ec', { namedCurve: 'P-256' });
    await fs.mkdir(dataDir, { recursive: true, mode: 0o700 });
    try {
      const handle = await fs.open(file, fsConstants.O_WRONLY | fsConstants.O_CREAT | fsConstants.O_EXCL, 0o600);
      await handle.writeFile(privateKey.export({ type: 'pkcs8', format: 'pem' }));
      await handle.close();
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw err;
    }
  }
  const privateKey = createPrivateKey(await fs.readFile(file));
  return { file, privateKey, publicJwk: await publicJwkOf(privateKey, DEV_KEY_PREFIX) };
}

/**
 * The keys whose bundle signatures the vault accepts. Production: only VAULT_BUNDLE_KEYS_FILE, and
 * a development key there is refused. Development adds the committed development keys and the
 * local signing key, so `policy build` then `policy push` works on a laptop.
 */
export async function loadTrustedBundleKeys(config: VaultConfig): Promise<TrustedBundleKey[]> {
  const keys: JWK[] = config.bundleKeysFile ? await readKeySet(config.bundleKeysFile) : [];
  if (config.env === 'production') {
    const dev = keys.find((k) => k.kid!.startsWith(DEV_KEY_PREFIX));
    if (dev) throw new VaultError('ERR_CONFIG', `VAULT_BUNDLE_KEYS_FILE holds a development key (${dev.kid}); production refuses it`);
  } else {
    keys.push(...(await readKeySet(devBundleKeysFile()).catch(() => [])));
    const local = await loadDevBundleSigningKey(config.dataDir).catch(() => undefined);
    if (local) keys.push(local.publicJwk);
  }
  const seen = new Set<string>();
  return keys.filter((k) => !seen.has(k.kid!) && seen.add(k.kid!)).map((jwk) => ({ kid: jwk.kid!, jwk }));
}
