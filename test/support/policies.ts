import { execFileSync } from 'node:child_process';
import { generateKeyPairSync } from 'node:crypto';
import fs from 'node:fs/promises';
import path from 'node:path';
import type { JWK } from 'jose';
import { buildBundle, findOpa } from '../../src/cli/bundle-tooling/index.js';
import { policyPaths } from '../../src/config/paths.js';
import { publicJwkOf, type TrustedBundleKey } from '../../src/policy/index.js';
import { tempDir, type TestVault } from './vault.js';

let opa: string | undefined;

/** The real opa CLI, installed by the project script when missing (minutes, once). */
export function opaBin(): string {
  if (opa) return opa;
  try {
    opa = findOpa(process.env.VAULT_OPA_BIN);
  } catch {
    opa = execFileSync('bash', [path.join(process.cwd(), 'scripts/opa-up.sh')], { encoding: 'utf8' }).trim();
  }
  return opa;
}

export interface SigningKey extends TrustedBundleKey {
  readonly file: string;
}

/** A fresh EC P-256 signing key (PEM file) and its public JWK as a trusted key. */
export async function newSigningKey(prefix = 'test-'): Promise<SigningKey> {
  const dir = await tempDir('vault-signer-');
  const { privateKey } = generateKeyPairSync('ec', { namedCurve: 'P-256' });
  const file = path.join(dir, 'key.pem');
  await fs.writeFile(file, privateKey.export({ type: 'pkcs8', format: 'pem' }), { mode: 0o600 });
  const jwk: JWK = await publicJwkOf(privateKey, prefix);
  return { file, kid: jwk.kid!, jwk };
}

export async function shippedSources(): Promise<{ rego: string; data: Record<string, unknown>; classification: Record<string, any> }> {
  const dir = policyPaths().sources;
  return {
    rego: await fs.readFile(path.join(dir, 'authz.rego'), 'utf8'),
    data: JSON.parse(await fs.readFile(path.join(dir, 'data.json'), 'utf8')),
    classification: JSON.parse(await fs.readFile(path.join(dir, 'classification', 'data.json'), 'utf8')),
  };
}

/**
 * Compiles Rego (default: the shipped policy), data and the classifier's lists (default: the
 * shipped ones; null: none) with `opa build -t wasm`, signed by `key`.
 */
export async function buildTestBundle(options: {
  key: SigningKey;
  revision: string;
  rego?: string;
  data?: Record<string, unknown>;
  classification?: unknown;
}): Promise<Buffer> {
  const shipped = await shippedSources();
  const dir = await tempDir('vault-bundle-src-');
  await fs.writeFile(path.join(dir, 'authz.rego'), options.rego ?? shipped.rego);
  await fs.writeFile(path.join(dir, 'data.json'), JSON.stringify(options.data ?? shipped.data));
  if (options.classification !== null) {
    await fs.mkdir(path.join(dir, 'classification'));
    await fs.writeFile(path.join(dir, 'classification', 'data.json'), JSON.stringify(options.classification ?? shipped.classification));
  }
  const output = path.join(dir, 'build', 'bundle.tar.gz');
  await buildBundle({
    opaBin: opaBin(),
    sourceDir: dir,
    capabilitiesFile: policyPaths().capabilities,
    signingKeyFile: options.key.file,
    output,
    revision: options.revision,
  });
  return fs.readFile(output);
}

export const TRAINING_JOB = { sub: 'job-1', roles: ['training-job'], teams: ['team-autocomplete'], purpose: 'autocomplete-model' };
export const DATASET_REQUEST = {
  purpose: 'autocomplete-model',
  org_units: ['engineering'],
  kinds: ['keystroke'],
  from: '2026-11-01T00:00:00.000Z',
  to: '2026-11-08T00:00:00.000Z',
};

export function datasetInput(subject: Partial<typeof TRAINING_JOB> & Record<string, unknown> = TRAINING_JOB, request: Record<string, unknown> = DATASET_REQUEST) {
  return {
    subject: { sub: 'job-1', roles: [], teams: [], purpose: undefined, ...subject } as { sub: string; roles: string[]; teams: string[]; purpose: string | undefined },
    action: 'dataset.request',
    request,
    now: new Date().toISOString(),
  };
}

/** A JWKS file that trusts exactly these bundle signers (VAULT_BUNDLE_KEYS_FILE). */
export async function trustedKeysFile(...keys: SigningKey[]): Promise<string> {
  const file = path.join(await tempDir('vault-bundle-keys-'), 'keys.json');
  await fs.writeFile(file, JSON.stringify({ keys: keys.map((k) => k.jwk) }));
  return file;
}

/** `POST /v1/policy/bundles` as `sub` (a security admin unless `role` says otherwise). */
export async function stageBundle(t: TestVault, archive: Buffer, sub = 'alice', role: 'security-admin' | 'training-job' = 'security-admin') {
  return t.app.inject({
    method: 'POST',
    url: '/v1/policy/bundles',
    headers: { authorization: `Bearer ${await t.token(role, { sub })}`, 'content-type': 'application/gzip' },
    payload: archive,
  });
}

export async function approveBundle(t: TestVault, revision: string, sub: string) {
  return t.app.inject({ method: 'POST', url: `/v1/policy/bundles/${revision}/approve`, headers: { authorization: `Bearer ${await t.token('security-admin', { sub })}` } });
}

export async function activateBundle(t: TestVault, revision: string, sub = 'alice') {
  return t.app.inject({ method: 'POST', url: `/v1/policy/bundles/${revision}/activate`, headers: { authorization: `Bearer ${await t.token('security-admin', { sub })}` } });
}

/** Stages as alice, has bob approve when the bundle grows access, activates as alice; throws on any refusal. */
export async function installBundle(t: TestVault, archive: Buffer, revision: string): Promise<void> {
  const staged = await stageBundle(t, archive);
  if (staged.statusCode !== 201) throw new Error(`staging ${revision}: ${staged.statusCode} ${staged.body}`);
  if (staged.json().diff.access.growth.length) {
    const approved = await approveBundle(t, revision, 'bob');
    if (approved.statusCode !== 200) throw new Error(`approving ${revision}: ${approved.statusCode} ${approved.body}`);
  }
  const activated = await activateBundle(t, revision);
  if (activated.statusCode !== 200) throw new Error(`activating ${revision}: ${activated.statusCode} ${activated.body}`);
}
