import assert from 'node:assert/strict';
import fs from 'node:fs/promises';
import http from 'node:http';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import { sql } from 'kysely';
import { loadDevSigningKey } from '../../src/auth/index.js';
import { exitCodeOf } from '../../src/cli/output.js';
import { VaultClient, VaultClientError } from '../../src/client/index.js';
import { packageRoot } from '../../src/config/paths.js';
import { ERROR_CODES, publicErrorName } from '../../src/errors/index.js';
import { STORE } from '../support/database.js';
import { cli } from '../support/cli.js';
import { listenUrl, startTestVault, type TestVault } from '../support/vault.js';

/** A URL on 127.0.0.1 where nothing listens: a port that was just free. */
async function deadUrl(): Promise<string> {
  const server = http.createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as { port: number };
  await new Promise<void>((resolve) => server.close(() => resolve()));
  return `http://127.0.0.1:${port}`;
}

/** Not a vault: a server (say, a proxy) that answers every request with `status` and `body`. */
async function answering(status: number, body: string, type: string): Promise<{ url: string; close(): Promise<void> }> {
  const server = http.createServer((_req, res) => res.writeHead(status, { 'content-type': type }).end(body));
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return {
    url: `http://127.0.0.1:${(server.address() as { port: number }).port}`,
    close: () => new Promise<void>((resolve) => server.close(() => resolve())),
  };
}

describe('the exit code table', () => {
  it('README lists each error code under the exit code the CLI gives it (unlisted: 1)', async () => {
    const readme = await fs.readFile(path.join(packageRoot(), 'README.md'), 'utf8');
    const listed = new Map<string, number>();
    for (const [, exit, codes] of readme.matchAll(/^\| ([0-4]) \| [^|]+ \| ([^|]*) \|$/gm)) {
      for (const [, code] of codes!.matchAll(/`([a-z_]+)`/g)) listed.set(code!, Number(exit));
    }
    assert.ok(listed.size >= 5, 'the exit code table is in the README');
    for (const code of ERROR_CODES.map(publicErrorName)) assert.equal(exitCodeOf(code), listed.get(code) ?? 1, code);
  });
});

describe(`the CLI's exit codes and messages follow the vault's error code (${STORE})`, () => {
  let t: TestVault;
  let url: string;

  before(async () => {
    t = await startTestVault();
    url = await listenUrl(t);
  });
  after(() => t.close());

  it('a refused token is unauthenticated, exit 3, and so is no token at all', async () => {
    const garbage = await cli(['audit', 'verify'], { VAULT_URL: url, VAULT_TOKEN: 'not-a-jwt' });
    assert.equal(garbage.code, 3, garbage.stderr);
    assert.match(garbage.stderr, /^activity-vault: .+ \(unauthenticated\)\n$/);

    const dev = await loadDevSigningKey(t.dataDir);
    const expired = await dev.sign({ sub: 'auditor-1', roles: ['auditor'], issuer: t.config.jwt.issuer, audience: t.config.jwt.audience, ttlSeconds: -120 });
    const late = await cli(['audit', 'verify', '--json'], { VAULT_URL: url, VAULT_TOKEN: expired });
    assert.equal(late.code, 3, late.stderr);
    assert.equal(JSON.parse(late.stderr).error, 'unauthenticated');

    // Nothing listens there: had the CLI called, the answer would be `unavailable`.
    const none = await cli(['audit', 'verify'], { VAULT_URL: await deadUrl() });
    assert.equal(none.code, 3, none.stderr);
    assert.match(none.stderr, /a token is required.*\(unauthenticated\)/);
  });

  it('a vault that cannot serve is unavailable, exit 4: a 503 from a tampered audit head, and no vault at all', async () => {
    const env = { VAULT_URL: url, VAULT_TOKEN: await t.token('auditor') };
    const before = await cli(['audit', 'query', '--limit', '1'], env);
    assert.equal(before.code, 0, before.stderr);

    // The head no longer matches its MAC, so no read of the log can be audited: every one is refused.
    await sql`update audit_head set seq = seq + 1`.execute(t.database.db);
    const refused = await cli(['audit', 'query', '--limit', '1'], env);
    assert.equal(refused.code, 4, refused.stderr);
    assert.match(refused.stderr, /^activity-vault: .+ \(unavailable\)\n$/);
    const asJson = await cli(['audit', 'query', '--limit', '1', '--json'], env);
    assert.equal(asJson.code, 4);
    const body = JSON.parse(asJson.stderr);
    assert.equal(body.error, 'unavailable');
    assert.equal(typeof body.message, 'string');
    assert.equal(typeof body.error_id, 'string', 'the id of the server log line comes along');
    await sql`update audit_head set seq = seq - 1`.execute(t.database.db);

    const dead = await deadUrl();
    const unreachable = await cli(['audit', 'verify'], { ...env, VAULT_URL: dead });
    assert.equal(unreachable.code, 4, unreachable.stderr);
    assert.equal(unreachable.stderr, `activity-vault: cannot reach the vault at ${dead} (unavailable)\n`);
  });

  it("the server's invalid_request is bad usage, exit 2; a refusal by role is exit 1", async () => {
    const env = { VAULT_URL: url, VAULT_TOKEN: await t.token('auditor') };
    const bad = await cli(['audit', 'query', '--decision', 'maybe'], env);
    assert.equal(bad.code, 2, bad.stderr);
    assert.match(bad.stderr, /\(invalid_request\)\n$/);
    const notUrl = await cli(['audit', 'query', '--url', 'vault please'], env);
    assert.equal(notUrl.code, 2, notUrl.stderr);

    const forbidden = await cli(['audit', 'verify', '--json'], { ...env, VAULT_TOKEN: await t.token('ingest-agent') });
    assert.equal(forbidden.code, 1, forbidden.stderr);
    assert.equal(JSON.parse(forbidden.stderr).error, 'forbidden');
  });

  it('an answer that is not JSON is reported, not a SyntaxError: a gateway error is unavailable, anything else refused', async () => {
    const env = { VAULT_TOKEN: await t.token('auditor') };
    const gateway = await answering(502, '<html><body>Bad Gateway</body></html>', 'text/html');
    const teapot = await answering(200, 'hello', 'text/plain');
    try {
      const down = await cli(['audit', 'verify'], { ...env, VAULT_URL: gateway.url });
      assert.equal(down.code, 4, down.stderr);
      assert.match(down.stderr, /HTTP 502 .*\(unavailable\)/);
      const odd = await cli(['audit', 'verify'], { ...env, VAULT_URL: teapot.url });
      assert.equal(odd.code, 1, odd.stderr);
      assert.match(odd.stderr, /is not a JSON object: is http:\/\/127\.0\.0\.1:\d+ a vault\? \(http_error\)/);
      assert.doesNotMatch(down.stderr + odd.stderr, /SyntaxError|Unexpected token/);
    } finally {
      await gateway.close();
      await teapot.close();
    }
  });

  it("the client carries the vault's code, message and fields on every refusal", async () => {
    const admin = new VaultClient({ url, token: await t.token('security-admin') });
    await assert.rejects(admin.activatePolicy('no-such-revision'), (err) => err instanceof VaultClientError && err.status === 404 && err.error === 'not_found');
    await assert.rejects(admin.stagePolicyBundle(Buffer.from('not a bundle')), (err) => err instanceof VaultClientError && err.error === 'bundle_rejected' && err.body.error === 'bundle_rejected');
    const stranger = new VaultClient({ url, token: 'x' });
    await assert.rejects(stranger.policyBundles(), (err) => err instanceof VaultClientError && err.status === 401 && err.error === 'unauthenticated');
    const nowhere = new VaultClient({ url: await deadUrl(), token: 'x' });
    await assert.rejects(nowhere.verifyAudit(), (err) => err instanceof VaultClientError && err.status === 0 && err.error === 'unavailable' && err.cause !== undefined);
  });
});
