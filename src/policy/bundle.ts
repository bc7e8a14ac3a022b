import { createHash } from 'node:crypto';
import { compactVerify, importJWK, type JWK } from 'jose';
import { parseClassifierLists, type ClassifierLists } from '../classify/index.js';
import { VaultError } from '../errors/index.js';
import { POLICY_REVISION } from '../model/index.js';
import { opaFileDigest } from './opa-hash.js';
import { readTarGz } from './tar.js';

export const ENTRYPOINT = 'vault/authz/decision';
export const BUNDLE_SIGNING_ALGORITHMS = ['ES256', 'ES384', 'RS256', 'PS256', 'EdDSA'] as const;
const SIGNATURES_FILE = '.signatures.json';

/** A public key allowed to sign policy bundles. */
export interface TrustedBundleKey {
  readonly kid: string;
  readonly jwk: JWK;
}

/** A bundle whose signature, file list and every file digest checked out. */
export interface VerifiedBundle {
  readonly revision: string;
  /** SHA-256 of the archive as uploaded. */
  readonly sha256: string;
  readonly archive: Buffer;
  readonly wasm: Buffer;
  readonly data: Record<string, unknown>;
  /** The classifier's lists the bundle carries (`data.classification`), validated; undefined when it carries none. */
  readonly classifierLists: ClassifierLists | undefined;
  /** Every file of the bundle but the signature file, sorted. */
  readonly files: string[];
  /** `kid` of the trusted key that verified the signature. */
  readonly signedBy: string;
}

function rejected(message: string, details?: Record<string, unknown>): VaultError {
  return new VaultError('ERR_BUNDLE_REJECTED', message, details ? { details } : undefined);
}

async function verifySignature(jws: string, keys: readonly TrustedBundleKey[]): Promise<{ payload: unknown; kid: string }> {
  for (const trusted of keys) {
    try {
      const alg = trusted.jwk.alg ?? (trusted.jwk.kty === 'EC' ? 'ES256' : trusted.jwk.kty === 'OKP' ? 'EdDSA' : 'RS256');
      const key = await importJWK(trusted.jwk, alg);
      const { payload } = await compactVerify(jws, key, { algorithms: [...BUNDLE_SIGNING_ALGORITHMS] });
      return { payload: JSON.parse(new TextDecoder().decode(payload)), kid: trusted.kid };
    } catch {
      // try the next trusted key
    }
  }
  throw rejected('bundle signature does not verify against any trusted key');
}

function parseJson(name: string, content: Buffer | undefined): unknown {
  if (!content) throw rejected(`bundle has no ${name}`);
  try {
    return JSON.parse(content.toString('utf8'));
  } catch {
    throw rejected(`bundle ${name} is not valid JSON`);
  }
}

/**
 * Verifies an OPA bundle (`.tar.gz`) as OPA would, then stricter: exactly one signature by a
 * trusted key, the signed file list equal to the archive's, every digest matching, and a wasm
 * module for the vault's entrypoint. Throws `ERR_BUNDLE_REJECTED` saying what is wrong.
 */
export async function verifyBundle(archive: Buffer, keys: readonly TrustedBundleKey[]): Promise<VerifiedBundle> {
  const files = readTarGz(archive);
  const signatures = parseJson(SIGNATURES_FILE, files.get(SIGNATURES_FILE) ?? missingSignature()) as { signatures?: unknown };
  if (!Array.isArray(signatures.signatures) || signatures.signatures.length !== 1 || typeof signatures.signatures[0] !== 'string') {
    throw rejected('bundle must carry exactly one signature');
  }
  const { payload, kid } = await verifySignature(signatures.signatures[0], keys);
  const listed = (payload as { files?: unknown }).files;
  if (!Array.isArray(listed)) throw rejected('bundle signature lists no files');

  const signed = new Map<string, { hash: string; algorithm: string }>();
  for (const entry of listed as Array<{ name?: unknown; hash?: unknown; algorithm?: unknown }>) {
    if (typeof entry.name !== 'string' || typeof entry.hash !== 'string' || typeof entry.algorithm !== 'string') {
      throw rejected('bundle signature has a malformed file entry');
    }
    signed.set(entry.name.replace(/^\/+/, ''), { hash: entry.hash, algorithm: entry.algorithm });
  }
  const present = [...files.keys()].filter((name) => name !== SIGNATURES_FILE);
  const added = present.filter((name) => !signed.has(name));
  const missing = [...signed.keys()].filter((name) => !files.has(name));
  if (added.length || missing.length) {
    throw rejected('bundle files differ from the signed list', { added: added.sort(), missing: missing.sort() });
  }
  const changed = present.filter((name) => {
    const { hash, algorithm } = signed.get(name)!;
    return algorithm !== 'SHA-256' || opaFileDigest(name, files.get(name)!) !== hash;
  });
  if (changed.length) throw rejected('bundle files were changed after signing', { changed: changed.sort() });

  const manifest = parseJson('.manifest', files.get('.manifest')) as { revision?: unknown; wasm?: unknown };
  if (typeof manifest.revision !== 'string' || !POLICY_REVISION.test(manifest.revision)) {
    throw rejected('bundle .manifest needs a revision of 1-128 characters A-Z a-z 0-9 . _ : + -');
  }
  const modules = Array.isArray(manifest.wasm) ? (manifest.wasm as Array<{ entrypoint?: unknown; module?: unknown }>) : [];
  const module = modules.find((m) => m.entrypoint === ENTRYPOINT)?.module;
  const wasm = typeof module === 'string' ? files.get(module.replace(/^\/+/, '')) : undefined;
  if (!wasm) throw rejected(`bundle has no WebAssembly module for ${ENTRYPOINT}`);
  const data = parseJson('data.json', files.get('data.json'));
  if (typeof data !== 'object' || data === null || Array.isArray(data)) throw rejected('bundle data.json must be an object');
  const lists = (data as Record<string, unknown>).classification;
  let classifierLists: ClassifierLists | undefined;
  try {
    classifierLists = lists === undefined ? undefined : parseClassifierLists(lists, 'data.classification');
  } catch (err) {
    throw rejected(`bundle ${(err as Error).message}`);
  }

  return {
    revision: manifest.revision,
    sha256: createHash('sha256').update(archive).digest('hex'),
    archive,
    wasm,
    data: data as Record<string, unknown>,
    classifierLists,
    files: present.sort(),
    signedBy: kid,
  };
}

function missingSignature(): never {
  throw rejected('bundle is not signed');
}
