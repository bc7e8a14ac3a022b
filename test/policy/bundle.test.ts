import assert from 'node:assert/strict';
import { describe, it, before } from 'node:test';
import { CompactSign, importPKCS8 } from 'jose';
import fs from 'node:fs/promises';
import { isVaultError } from '../../src/errors/index.js';
import { writeTarGz } from '../support/tar-write.js';
import { readTarGz, verifyBundle } from '../../src/policy/index.js';
import { buildTestBundle, newSigningKey, type SigningKey } from '../support/policies.js';

const rejected = (fragment: string) => (err: unknown) => isVaultError(err, 'ERR_BUNDLE_REJECTED') && (err as Error).message.includes(fragment);

function edit(archive: Buffer, change: (files: Map<string, Buffer>) => void): Buffer {
  const files = readTarGz(archive);
  change(files);
  return writeTarGz(files);
}

describe('signed policy bundles', () => {
  let key: SigningKey;
  let other: SigningKey;
  let archive: Buffer;
  before(async () => {
    key = await newSigningKey();
    other = await newSigningKey();
    archive = await buildTestBundle({ key, revision: 'rev-a' });
  });

  it('verifies a bundle built and signed by opa with a trusted key', async () => {
    const bundle = await verifyBundle(archive, [other, key]);
    assert.equal(bundle.revision, 'rev-a');
    assert.equal(bundle.signedBy, key.kid);
    assert.deepEqual(bundle.files, ['.manifest', 'authz.rego', 'data.json', 'policy.wasm']);
    assert.ok((bundle.data.grants as object)['team-autocomplete' as keyof object]);
  });

  it('hashes JSON canonically, as OPA does: reformatting data.json keeps the signature valid', async () => {
    const reformatted = edit(archive, (files) => {
      const data = JSON.parse(files.get('data.json')!.toString());
      files.set('data.json', Buffer.from(JSON.stringify(data, null, 7)));
    });
    await verifyBundle(reformatted, [key]);
  });

  it('refuses an unsigned bundle', async () => {
    const unsigned = edit(archive, (files) => files.delete('.signatures.json'));
    await assert.rejects(verifyBundle(unsigned, [key]), rejected('not signed'));
  });

  it('refuses a bundle signed by a key that is not trusted', async () => {
    await assert.rejects(verifyBundle(archive, [other]), rejected('does not verify'));
  });

  it('refuses a bundle re-signed by an untrusted key after editing', async () => {
    const files = readTarGz(archive);
    const jws = JSON.parse(files.get('.signatures.json')!.toString()).signatures[0] as string;
    const payload = Buffer.from(jws.split('.')[1]!, 'base64url');
    const signer = await importPKCS8(await fs.readFile(other.file, 'utf8'), 'ES256');
    const forged = await new CompactSign(payload).setProtectedHeader({ alg: 'ES256', kid: key.kid }).sign(signer);
    const resigned = edit(archive, (f) => f.set('.signatures.json', Buffer.from(JSON.stringify({ signatures: [forged] }))));
    await assert.rejects(verifyBundle(resigned, [key]), rejected('does not verify'));
  });

  it('refuses a bundle with a file added after signing', async () => {
    const added = edit(archive, (files) => files.set('extra.rego', Buffer.from('package vault.authz\nallow := true\n')));
    await assert.rejects(verifyBundle(added, [key]), (err) => rejected('differ from the signed list')(err) && JSON.stringify((err as { details: unknown }).details).includes('extra.rego'));
  });

  it('refuses a bundle with a file removed after signing', async () => {
    const removed = edit(archive, (files) => files.delete('authz.rego'));
    await assert.rejects(verifyBundle(removed, [key]), rejected('differ from the signed list'));
  });

  it('refuses a bundle whose policy module was changed', async () => {
    const changed = edit(archive, (files) => {
      const wasm = Buffer.from(files.get('policy.wasm')!);
      wasm[wasm.length - 10]! ^= 0xff;
      files.set('policy.wasm', wasm);
    });
    await assert.rejects(verifyBundle(changed, [key]), rejected('changed after signing'));
  });

  it('refuses a bundle whose data.json was changed after signing', async () => {
    const widened = edit(archive, (files) => {
      const data = JSON.parse(files.get('data.json')!.toString());
      data.grants['team-autocomplete'].org_units.push('finance');
      files.set('data.json', Buffer.from(JSON.stringify(data)));
    });
    await assert.rejects(verifyBundle(widened, [key]), (err) => rejected('changed after signing')(err) && JSON.stringify((err as { details: unknown }).details).includes('data.json'));
  });

  it('refuses a truncated or non-gzip archive', async () => {
    await assert.rejects(verifyBundle(archive.subarray(0, archive.length - 40), [key]), rejected(''));
    await assert.rejects(verifyBundle(Buffer.from('not a bundle'), [key]), rejected('gzip'));
  });

  it('refuses a bundle carrying two signatures', async () => {
    const files = readTarGz(archive);
    const jws = JSON.parse(files.get('.signatures.json')!.toString()).signatures[0];
    const doubled = edit(archive, (f) => f.set('.signatures.json', Buffer.from(JSON.stringify({ signatures: [jws, jws] }))));
    await assert.rejects(verifyBundle(doubled, [key]), rejected('exactly one signature'));
  });
});

describe('trusted bundle signers', () => {
  it('production trusts only the configured keys and refuses a development key among them', async () => {
    const { loadTrustedBundleKeys } = await import('../../src/policy/index.js');
    const { policyPaths } = await import('../../src/config/paths.js');
    const { loadConfig } = await import('../../src/config/index.js');
    const path = await import('node:path');
    const { tempDir } = await import('../support/vault.js');
    const dir = await tempDir();
    const prodKey = await newSigningKey('prod-');
    const devKey = await newSigningKey('dev-');
    const file = path.join(dir, 'keys.json');
    const production = (keysFile: string) =>
      loadConfig({ VAULT_ENV: 'production', VAULT_DATA_DIR: dir, VAULT_JWKS_FILE: '/j', VAULT_JWT_ISSUER: 'idp', VAULT_KEK_FILE: '/k', VAULT_BUNDLE_KEYS_FILE: keysFile });

    await fs.writeFile(file, JSON.stringify({ keys: [prodKey.jwk] }));
    const trusted = await loadTrustedBundleKeys(production(file));
    assert.deepEqual(trusted.map((k) => k.kid), [prodKey.kid]);
    const committedDefault = await fs.readFile(policyPaths().defaultBundle);
    await assert.rejects(verifyBundle(committedDefault, trusted), rejected('does not verify'));

    await fs.writeFile(file, JSON.stringify({ keys: [prodKey.jwk, devKey.jwk] }));
    await assert.rejects(loadTrustedBundleKeys(production(file)), (err) => isVaultError(err, 'ERR_CONFIG'));

    const development = await loadTrustedBundleKeys(loadConfig({ VAULT_DATA_DIR: dir }));
    await verifyBundle(committedDefault, development);
  });
});
