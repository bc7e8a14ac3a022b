import assert from 'node:assert/strict';
import fs from 'node:fs/promises';
import http from 'node:http';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import { setTimeout as delay } from 'node:timers/promises';
import Fastify from 'fastify';
import { consoleAssetsDir } from '../../src/config/paths.js';
import { errorBodySchema, errorHandler } from '../../src/http/errors.js';
import { consoleRoutes } from '../../src/http/routes/console.js';
import { STORE } from '../support/database.js';
import { newSigningKey, trustedKeysFile } from '../support/policies.js';
import { listenUrl, startTestVault, tempDir, type TestVault } from '../support/vault.js';

const CSP = "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; connect-src 'self'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'";

/** A GET with the path exactly as written: fetch and inject would resolve `..` before sending. */
function rawGet(baseUrl: string, rawPath: string): Promise<{ status: number; body: string }> {
  const { hostname, port } = new URL(baseUrl);
  return new Promise((resolve, reject) => {
    const request = http.request({ host: hostname, port, path: rawPath, method: 'GET' }, (response) => {
      let body = '';
      response.setEncoding('utf8');
      response.on('data', (chunk: string) => (body += chunk));
      response.on('end', () => resolve({ status: response.statusCode ?? 0, body }));
    });
    request.on('error', reject);
    request.end();
  });
}

/** The vault's own origin as a browser on its page sends it: inject's requests carry `Host: localhost:80`. */
const OWN_ORIGIN = 'http://localhost:80';
/** The development mint is opt-in: these tests run a vault that opted in. */
const MINT_ENV = { VAULT_CONSOLE_DEV_TOKEN: '1' };
type From = { remoteAddress?: string; headers?: Record<string, string> };

function claimsOf(token: string): Record<string, unknown> {
  return JSON.parse(Buffer.from(token.split('.')[1]!, 'base64url').toString()) as Record<string, unknown>;
}

async function writeJwks(key: Awaited<ReturnType<typeof newSigningKey>>): Promise<string> {
  const file = path.join(await tempDir('vault-jwks-'), 'jwks.json');
  await fs.writeFile(file, JSON.stringify({ keys: [{ ...key.jwk, alg: 'ES256', use: 'sig' }] }));
  return file;
}

describe(`the console's server side (${STORE})`, () => {
  let t: TestVault;
  let url: string;
  before(async () => {
    await fs.access(path.join(consoleAssetsDir(), 'app.js')).catch(() => {
      throw new Error('dist/console is not built: run npm run build:console first');
    });
    t = await startTestVault({ env: MINT_ENV });
    url = await listenUrl(t);
  });
  after(() => t.close());

  const mint = (payload: unknown, from: From = {}) =>
    t.app.inject({ method: 'POST', url: '/console/dev-token', payload: payload as Record<string, unknown>, ...from, headers: { origin: OWN_ORIGIN, ...from.headers } });
  /** The mint's refusals tallied so far: each second's tally is written once the second is over. */
  const refusals = async (filter: (details: Record<string, unknown>) => boolean) => {
    await delay(1100);
    await t.vault.audit.sequenced();
    return (await t.vault.audit.query({ action: 'console.dev_token', decision: 'deny', limit: 1000 })).events.filter((e) => filter(e.details));
  };

  it('serves the page and its assets with a strict CSP, nosniff, no referrer and no caching', async () => {
    for (const [route, type] of [
      ['/console', 'text/html; charset=utf-8'],
      ['/console/', 'text/html; charset=utf-8'],
      ['/console/assets/app.js', 'text/javascript; charset=utf-8'],
      ['/console/assets/views/index.js', 'text/javascript; charset=utf-8'],
      ['/console/assets/app.css', 'text/css; charset=utf-8'],
    ] as const) {
      const response = await fetch(`${url}${route}`);
      assert.equal(response.status, 200, route);
      assert.equal(response.headers.get('content-type'), type, route);
      assert.equal(response.headers.get('content-security-policy'), CSP, route);
      assert.equal(response.headers.get('x-content-type-options'), 'nosniff', route);
      assert.equal(response.headers.get('referrer-policy'), 'no-referrer', route);
      assert.equal(response.headers.get('cache-control'), 'no-store', route);
      const body = await response.text();
      if (route === '/console') {
        assert.equal(body, await fs.readFile(path.join(consoleAssetsDir(), 'index.html'), 'utf8'));
        assert.match(body, /<script type="module" src="\/console\/assets\/app\.js"><\/script>/);
      }
    }
    // Nothing the page loads comes from elsewhere.
    const html = await (await fetch(`${url}/console`)).text();
    for (const [, ref] of html.matchAll(/(?:src|href)="([^"]+)"/g)) assert.ok(ref!.startsWith('/console/assets/') || ref === 'data:,' || ref === '#/', ref);
  });

  it('refuses paths that leave the assets folder, dotfiles, unknown types and missing files with a 404', async () => {
    const pkg = await fs.readFile('package.json', 'utf8');
    for (const raw of [
      '/console/assets/../../package.json',
      '/console/assets/..%2f..%2fpackage.json',
      '/console/assets/%2e%2e/%2e%2e/package.json',
      '/console/assets/views/../../../package.json',
      '/console/assets/views/..%2f..%2f..%2fpackage.json',
      '/console/assets/%2fetc%2fpasswd',
      '/console/assets//etc/passwd',
      '/console/assets/..%5c..%5cpackage.json',
      '/console/assets/app.js%00.css',
      '/console/assets/.env',
      '/console/assets/index.html',
      '/console/assets/tsconfig.json',
      '/console/assets/nope.js',
      '/console/assets/',
      '/console/assets/views',
    ]) {
      const response = await rawGet(url, raw);
      assert.ok(response.status === 404 || response.status === 400, `${raw}: ${response.status}`);
      assert.ok(!response.body.includes('"dependencies"') && !response.body.includes(pkg.slice(0, 40)), raw);
      assert.doesNotMatch(response.body, /root:|import \{/, raw);
    }
  });

  it('does not follow a symbolic link out of the assets folder', async () => {
    const dir = await tempDir('vault-console-assets-');
    const outside = path.join(await tempDir('vault-outside-'), 'secret.js');
    await fs.writeFile(outside, 'export const secret = "outside";');
    await fs.writeFile(path.join(dir, 'inside.js'), 'export const inside = true;');
    await fs.symlink(outside, path.join(dir, 'leak.js'));
    const app = Fastify({ logger: false });
    app.addSchema(errorBodySchema);
    app.setErrorHandler(errorHandler(t.vault.services.edgeAudit));
    await app.register(consoleRoutes(t.vault.services, dir));
    try {
      assert.equal((await app.inject('/console/assets/inside.js')).statusCode, 200);
      const leak = await app.inject('/console/assets/leak.js');
      assert.equal(leak.statusCode, 404);
      assert.doesNotMatch(leak.body, /outside/);
    } finally {
      await app.close();
    }
  });

  it('none of the console routes is in the OpenAPI document', async () => {
    const doc = (await t.app.inject('/openapi.json')).json();
    assert.deepEqual(Object.keys(doc.paths).filter((p) => p.startsWith('/console')), []);
    assert.ok(doc.paths['/v1/audit/stats'].get && doc.paths['/v1/audit/alarms'].get);
  });

  it('a development vault mints a working token for a caller at its machine, and audits it without the token', async () => {
    const config = await t.app.inject('/console/config');
    assert.deepEqual(config.json(), { environment: 'development', dev_token: true });
    const response = await mint({ role: 'auditor', sub: 'ada', teams: ['team-audit'] });
    assert.equal(response.statusCode, 200, response.body);
    const { token, expires_in } = response.json();
    assert.equal(expires_in, 3600);
    const claims = claimsOf(token);
    assert.deepEqual([claims.sub, claims.roles, claims.teams, (claims.exp as number) - (claims.iat as number)], ['ada', ['auditor'], ['team-audit'], 3600]);
    const used = await t.app.inject({ url: '/v1/audit/events?action=console.dev_token', headers: { authorization: `Bearer ${token}` } });
    assert.equal(used.statusCode, 200, used.body);
    const [minted] = used.json().events;
    // Whoever asked is anonymous: the minted subject is what was issued, not who issued it.
    assert.deepEqual([minted.action, minted.decision, minted.actor, minted.roles, minted.teams], ['console.dev_token', 'allow', null, [], []]);
    assert.deepEqual([minted.details.subject, minted.details.role, minted.details.teams], ['ada', 'auditor', ['team-audit']]);
    assert.equal(minted.details.remote_address, '127.0.0.1');

    const trainee = await mint({ role: 'training-job', sub: 'job-1', teams: ['team-autocomplete'], purpose: 'autocomplete-model' });
    assert.equal(trainee.statusCode, 200, trainee.body);
    assert.equal(claimsOf(trainee.json().token).purpose, 'autocomplete-model');

    await t.vault.audit.sequenced();
    const everything = JSON.stringify((await t.vault.audit.query({ limit: 1000 })).events);
    for (const secret of [token, trainee.json().token]) {
      assert.ok(!everything.includes(secret.split('.')[2]!), 'no signature in the audit log');
      assert.ok(!t.logs.some((line) => line.includes(secret.split('.')[2]!)), 'no signature in the operator log');
    }
  });

  it('answers 404 to a caller not at its machine, or under another name (DNS rebinding), and tallies the attempts', async () => {
    const strangers: Array<[From, string]> = [
      [{ remoteAddress: '192.0.2.10' }, 'not_loopback'],
      [{ remoteAddress: '10.0.0.7' }, 'not_loopback'],
      [{ remoteAddress: '::ffff:192.0.2.10' }, 'not_loopback'],
      [{ remoteAddress: '127.0.0.21', headers: { host: 'evil.example:8080', origin: 'http://evil.example:8080' } }, 'host_not_loopback'],
      [{ remoteAddress: '127.0.0.22', headers: { host: '127.0.0.1.evil.example', origin: 'http://127.0.0.1.evil.example' } }, 'host_not_loopback'],
      [{ remoteAddress: '127.0.0.23', headers: { origin: 'http://evil.example' } }, 'origin_not_own'],
      [{ remoteAddress: '127.0.0.24', headers: { origin: 'null' } }, 'origin_not_own'],
    ];
    for (const [from] of strangers) {
      const config = await t.app.inject({ url: '/console/config', ...from });
      assert.equal(config.json().dev_token, false, JSON.stringify(from));
      const response = await mint({ role: 'security-admin', sub: 'mallory' }, from);
      assert.equal(response.statusCode, 404, JSON.stringify(from));
      assert.deepEqual(response.json(), { error: 'not_found', message: 'no such route' });
      // A malformed body from a stranger is a 404 too: nothing tells it the mint exists.
      assert.equal((await mint({ role: 'root' }, from)).statusCode, 404, JSON.stringify(from));
    }
    const sources = new Set(strangers.map(([from]) => from.remoteAddress));
    const refused = await refusals((d) => sources.has(d.source as string));
    assert.ok(refused.every((e) => e.severity === 'high' && e.actor === null));
    for (const [from, reason] of strangers) {
      const mine = refused.filter((e) => e.details.source === from.remoteAddress);
      assert.equal(mine.reduce((n, e) => n + Number(e.details.count), 0), 2, JSON.stringify(from));
      assert.ok(mine.every((e) => e.details.reason === reason), `${JSON.stringify(from)}: ${JSON.stringify(mine.map((e) => e.details))}`);
    }
    assert.ok(refused.some((e) => (e.details.sample as { host?: string }).host === 'evil.example:8080'));

    const locals: From[] = [
      { remoteAddress: '::1' },
      { remoteAddress: '::ffff:127.0.0.1' },
      { remoteAddress: '127.8.9.10', headers: { host: 'localhost:8080', origin: 'http://localhost:8080' } },
      { headers: { host: '[::1]:8080', origin: 'http://[::1]:8080' } },
    ];
    for (const from of locals) {
      assert.equal((await mint({ role: 'employee', sub: 'eng-1' }, from)).statusCode, 200, JSON.stringify(from));
    }
  });

  it('refuses a mint that came through a proxy, or without the Origin of the vault itself', async () => {
    const cases: Array<[string, Record<string, string | undefined>, string]> = [
      ['X-Forwarded-For, no Origin', { 'x-forwarded-for': '198.51.100.7', origin: undefined }, 'forwarded'],
      ['X-Forwarded-For with the own Origin', { 'x-forwarded-for': '198.51.100.7' }, 'forwarded'],
      ['X-Forwarded-Host', { 'x-forwarded-host': 'vault.example' }, 'forwarded'],
      ['X-Forwarded-Proto', { 'x-forwarded-proto': 'https' }, 'forwarded'],
      ['X-Real-IP', { 'x-real-ip': '198.51.100.7' }, 'forwarded'],
      ['Forwarded', { forwarded: 'for=198.51.100.7;proto=https' }, 'forwarded'],
      ['Via', { via: '1.1 nginx' }, 'forwarded'],
      ['no Origin (a script, a proxy, an SSRF)', { origin: undefined }, 'origin_missing'],
      ['the Origin of another loopback port', { origin: 'http://localhost:3000' }, 'origin_not_own'],
      ['the Origin of another loopback name', { origin: 'http://127.0.0.1' }, 'origin_not_own'],
      ['another scheme', { origin: 'https://localhost' }, 'origin_not_own'],
    ];
    for (const [i, [label, headers]] of cases.entries()) {
      const remoteAddress = `127.0.1.${i + 1}`;
      const sent = Object.fromEntries(Object.entries({ origin: OWN_ORIGIN, ...headers }).filter(([, v]) => v !== undefined)) as Record<string, string>;
      const response = await t.app.inject({ method: 'POST', url: '/console/dev-token', remoteAddress, headers: sent, payload: { role: 'security-admin', sub: 'mallory' } });
      assert.equal(response.statusCode, 404, `${label}: ${response.body}`);
      if (label !== 'no Origin (a script, a proxy, an SSRF)') {
        const config = await t.app.inject({ url: '/console/config', remoteAddress, headers: sent });
        assert.equal(config.json().dev_token, false, label);
      }
    }
    const refused = await refusals((d) => String(d.source).startsWith('127.0.1.'));
    for (const [i, [label, , reason]] of cases.entries()) {
      const mine = refused.filter((e) => e.details.source === `127.0.1.${i + 1}`);
      assert.deepEqual(mine.map((e) => [e.details.reason, e.details.count]), [[reason, 1]], label);
    }
    // A page on the vault's own origin still reads that it may mint (a same-origin GET carries no Origin).
    assert.equal((await t.app.inject('/console/config')).json().dev_token, true);
  });

  it('tallies a flood of refused mints per source, reason and second, with Host and Origin cut short', async () => {
    const host = `h${'x'.repeat(8 * 1024)}.example`;
    const flood = 200;
    const started = Date.now();
    for (let i = 0; i < flood; i++) {
      const response = await mint({ role: 'security-admin', sub: 'mallory' }, { remoteAddress: '192.0.2.200', headers: { host, origin: `http://${host}` } });
      assert.equal(response.statusCode, 404);
    }
    const seconds = Math.ceil((Date.now() - started) / 1000) + 1;
    const refused = await refusals((d) => d.source === '192.0.2.200');
    assert.equal(refused.reduce((n, e) => n + Number(e.details.count), 0), flood);
    assert.ok(refused.length <= seconds, `${refused.length} events for ${flood} refusals over ${seconds} s`);
    for (const e of refused) {
      const sample = e.details.sample as { host: string; origin: string };
      assert.ok(sample.host.length <= 256 && sample.origin.length <= 256, JSON.stringify(sample).length.toString());
      assert.ok(sample.host.startsWith('hxxx'));
      assert.ok(JSON.stringify(e).length < 2048, `an event of ${JSON.stringify(e).length} bytes`);
    }
  });

  it('refuses a malformed mint request with a 400, and tallies each refusal', async () => {
    const bodies = [
      {},
      { sub: 'ada' },
      { role: 'root', sub: 'ada' },
      { role: ['auditor'], sub: 'ada' },
      { role: 'auditor', sub: 'ada lovelace' },
      { role: 'auditor', sub: 'a'.repeat(129) },
      { role: 'auditor', sub: '' },
      { role: 'auditor', sub: 'ada', teams: 'team-a' },
      { role: 'auditor', sub: 'ada', teams: ['*'] },
      { role: 'auditor', sub: 'ada', teams: ['team\u202ea'] },
      { role: 'auditor', sub: 'ada', purpose: 'x\u0000y' },
      { role: 'auditor', sub: 'ada', admin: true },
      { role: 'training-job', sub: 'job-1', teams: ['team-autocomplete'] },
    ];
    for (const body of bodies) {
      const response = await mint(body, { remoteAddress: '127.0.2.1' });
      assert.equal(response.statusCode, 400, `${JSON.stringify(body)}: ${response.body}`);
      assert.equal(response.json().error, 'invalid_request');
    }
    const notJson = await t.app.inject({ method: 'POST', url: '/console/dev-token', remoteAddress: '127.0.2.1', headers: { origin: OWN_ORIGIN, 'content-type': 'application/json' }, payload: '{"role":' });
    assert.equal(notJson.statusCode, 400, notJson.body);
    const refused = await refusals((d) => d.source === '127.0.2.1');
    assert.ok(refused.length >= 1 && refused.every((e) => e.details.reason === 'invalid_request' && e.actor === null && e.severity === 'high'));
    assert.equal(refused.reduce((n, e) => n + Number(e.details.count), 0), bodies.length + 1);
  });

  it('every answer under /console carries the security headers, errors included', async () => {
    for (const [method, route, status] of [
      ['GET', '/console/nope', 404],
      ['GET', '/console/assets/nope.js', 404],
      ['OPTIONS', '/console/dev-token', 405],
      ['DELETE', '/console', 405],
      ['POST', '/console/dev-token', 404],
    ] as const) {
      const response = await fetch(`${url}${route}`, { method, ...(method === 'POST' ? { headers: { 'content-type': 'application/json' }, body: '{}' } : {}) });
      assert.equal(response.status, status, `${method} ${route}`);
      assert.equal(response.headers.get('content-security-policy'), CSP, `${method} ${route}`);
      assert.equal(response.headers.get('x-content-type-options'), 'nosniff', `${method} ${route}`);
      assert.equal(response.headers.get('referrer-policy'), 'no-referrer', `${method} ${route}`);
      assert.equal(response.headers.get('cache-control'), 'no-store', `${method} ${route}`);
    }
    // The API's own answers are left as they were.
    assert.equal((await fetch(`${url}/v1/nope`)).headers.get('content-security-policy'), null);
  });

  it('without VAULT_CONSOLE_DEV_TOKEN=1 a development vault has no mint', async () => {
    const plain = await startTestVault();
    try {
      assert.equal(plain.config.env, 'development');
      assert.deepEqual((await plain.app.inject('/console/config')).json(), { environment: 'development', dev_token: false });
      const response = await plain.app.inject({ method: 'POST', url: '/console/dev-token', headers: { origin: OWN_ORIGIN }, payload: { role: 'security-admin', sub: 'ada' } });
      assert.equal(response.statusCode, 404);
      assert.equal(response.json().error, 'not_found');
    } finally {
      await plain.close();
    }
  });

  it('a vault with a JWKS has no mint: its tokens come from the identity provider', async () => {
    const key = await newSigningKey('idp-');
    const withIdp = await startTestVault({ env: { ...MINT_ENV, VAULT_JWKS_FILE: await writeJwks(key) } });
    try {
      assert.equal((await withIdp.app.inject('/console')).statusCode, 200);
      assert.deepEqual((await withIdp.app.inject('/console/config')).json(), { environment: 'development', dev_token: false });
      const response = await withIdp.app.inject({ method: 'POST', url: '/console/dev-token', headers: { origin: OWN_ORIGIN }, payload: { role: 'auditor', sub: 'ada' } });
      assert.equal(response.statusCode, 404);
      assert.equal(response.json().error, 'not_found');
    } finally {
      await withIdp.close();
    }
  });

  it('a production vault has no mint', async () => {
    // A production vault needs its KEK to exist: a development vault on the same folder makes it.
    const dataDir = await tempDir();
    const dev = await startTestVault({ dataDir });
    const kekFile = dev.config.kekFile;
    await dev.close();
    const key = await newSigningKey('idp-');
    const prod = await startTestVault({
      dataDir,
      noDefaultBundle: true,
      env: { VAULT_ENV: 'production', VAULT_JWKS_FILE: await writeJwks(key), VAULT_JWT_ISSUER: 'https://idp.example', VAULT_KEK_FILE: kekFile, VAULT_BUNDLE_KEYS_FILE: await trustedKeysFile(key) },
    }).catch((err: unknown) => {
      throw new Error(`a production vault did not start: ${(err as Error).message}`);
    });
    try {
      assert.equal(prod.config.env, 'production');
      assert.equal((await prod.app.inject('/console')).statusCode, 200);
      assert.deepEqual((await prod.app.inject('/console/config')).json(), { environment: 'production', dev_token: false });
      assert.equal((await prod.app.inject({ method: 'POST', url: '/console/dev-token', payload: { role: 'auditor', sub: 'ada' } })).statusCode, 404);
    } finally {
      await prod.close();
      await fs.rm(dataDir, { recursive: true, force: true });
    }
  });
});
