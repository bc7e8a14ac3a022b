import assert from 'node:assert/strict';
import fs from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { describe, it } from 'node:test';
import { loadDevSigningKey, readJwksFile } from '../src/auth/index.js';
import { defaultPageWorkers, loadConfig } from '../src/config/index.js';
import { isVaultError } from '../src/errors/index.js';
import { openVault } from '../src/main.js';
import { freshDatabase } from './support/database.js';
import { tempDir } from './support/vault.js';

const configError = (err: unknown) => isVaultError(err, 'ERR_CONFIG');

describe('configuration', () => {
  it('has the documented defaults', () => {
    const config = loadConfig({});
    assert.equal(config.host, '127.0.0.1');
    assert.equal(config.port, 8080);
    assert.equal(config.maxScopeFraction, 0.2);
    assert.equal(config.jwt.audience, 'activity-vault');
    assert.equal(config.databaseUrl, undefined);
    assert.ok(config.dataDir.endsWith('.vault-data'));
    assert.ok(config.recordKinds.has('keystroke'));
    assert.equal(config.storeLevel4, false);
    assert.equal(loadConfig({ VAULT_STORE_LEVEL_4: 'true' }).storeLevel4, true);
    assert.equal(config.consoleDevToken, false, "the console's development mint is opt-in");
    assert.equal(loadConfig({ VAULT_CONSOLE_DEV_TOKEN: '1' }).consoleDevToken, true);
    assert.equal(loadConfig({ VAULT_CONSOLE_DEV_TOKEN: '0' }).consoleDevToken, false);
  });

  it('starts page and seal workers on the cores beyond two, at most four unless asked for more', () => {
    assert.deepEqual([1, 2, 3, 4, 6, 8, 64].map(defaultPageWorkers), [0, 0, 1, 2, 4, 4, 4]);
    assert.equal(loadConfig({}).pageWorkers, defaultPageWorkers(os.availableParallelism()));
    assert.equal(loadConfig({ VAULT_PAGE_WORKERS: '12' }).pageWorkers, 12);
    assert.equal(loadConfig({ VAULT_PAGE_WORKERS: '0' }).pageWorkers, 0);
    assert.equal(loadConfig({}).ingestWorkers, defaultPageWorkers(os.availableParallelism()));
    assert.equal(loadConfig({ VAULT_INGEST_WORKERS: '3' }).ingestWorkers, 3);
  });

  it('refuses bad values with the variable named', () => {
    for (const [name, value] of [['VAULT_PORT', 'eighty'], ['VAULT_MAX_SCOPE_FRACTION', '1.5'], ['VAULT_ENV', 'staging'], ['VAULT_RECORD_KINDS', 'Bad Kind:1'], ['VAULT_STORE_LEVEL_4', 'yes'], ['VAULT_CONSOLE_DEV_TOKEN', 'on'], ['VAULT_PAGE_WORKERS', '65'], ['VAULT_PAGE_WORKERS', '-1'], ['VAULT_PAGE_WORKERS', 'all'], ['VAULT_INGEST_WORKERS', '65'], ['VAULT_INGEST_WORKERS', '2.5']]) {
      assert.throws(() => loadConfig({ [name!]: value }), (err) => configError(err) && (err as Error).message.includes(name!));
    }
  });

  it('production refuses development keys, implicit key material and unnamed bundle signers', async () => {
    assert.throws(() => loadConfig({ VAULT_ENV: 'production', VAULT_JWT_ISSUER: 'idp', VAULT_KEK_FILE: '/k' }), configError);
    assert.throws(() => loadConfig({ VAULT_ENV: 'production', VAULT_JWKS_FILE: '/j', VAULT_KEK_FILE: '/k' }), configError);
    assert.throws(() => loadConfig({ VAULT_ENV: 'production', VAULT_JWKS_FILE: '/j', VAULT_JWT_ISSUER: 'idp' }), configError);
    assert.throws(() => loadConfig({ VAULT_ENV: 'production', VAULT_JWKS_FILE: '/j', VAULT_JWT_ISSUER: 'idp', VAULT_KEK_FILE: '/k' }), configError);
    const httpJwks = { VAULT_ENV: 'production', VAULT_JWKS_URL: 'http://idp/jwks', VAULT_JWT_ISSUER: 'idp', VAULT_KEK_FILE: '/k', VAULT_BUNDLE_KEYS_FILE: '/b' };
    assert.throws(() => loadConfig(httpJwks), (err) => configError(err) && /https/.test((err as Error).message));
    loadConfig({ ...httpJwks, VAULT_JWKS_URL: 'https://idp/jwks' });
    assert.throws(() => loadConfig({ ...httpJwks, VAULT_JWKS_URL: 'https://idp/jwks', VAULT_CONSOLE_DEV_TOKEN: '1' }), (err) => configError(err) && /VAULT_CONSOLE_DEV_TOKEN/.test((err as Error).message));

    const dir = await tempDir();
    const dev = await loadDevSigningKey(dir);
    const jwksFile = path.join(dir, 'jwks.json');
    await fs.writeFile(jwksFile, JSON.stringify(dev.jwks));
    await assert.rejects(readJwksFile(jwksFile, { production: true }), configError);
    await readJwksFile(jwksFile, { production: false });
    await fs.writeFile(jwksFile, JSON.stringify({ keys: [{ kty: 'oct', k: 'c2VjcmV0' }] }));
    await assert.rejects(readJwksFile(jwksFile, { production: false }), configError);

    const fresh = await freshDatabase();
    try {
      const bundleKeys = path.join(dir, 'bundle-keys.json');
      await fs.writeFile(bundleKeys, JSON.stringify({ keys: [] }));
      const config = loadConfig({
        VAULT_ENV: 'production',
        VAULT_DATA_DIR: dir,
        VAULT_JWKS_FILE: jwksFile,
        VAULT_JWT_ISSUER: 'idp',
        VAULT_KEK_FILE: path.join(dir, 'absent.kek'),
        VAULT_BUNDLE_KEYS_FILE: bundleKeys,
      });
      await assert.rejects(openVault(config, { database: fresh.database }), (err) => isVaultError(err, 'ERR_KEY_UNAVAILABLE'));
    } finally {
      await fresh.drop();
    }
  });
});
