import assert from 'node:assert/strict';
import fs from 'node:fs/promises';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import pg from 'pg';
import { packageRoot } from '../../src/config/paths.js';
import { ERROR_CODES, publicErrorName } from '../../src/errors/index.js';
import { HTTP_STATUS } from '../../src/http/index.js';
import { STORE } from '../support/database.js';
import { makeRecords, postRecords, putRoster, startTestVault, type TestVault } from '../support/vault.js';

describe(`operations endpoints (${STORE})`, () => {
  let t: TestVault;
  before(async () => {
    t = await startTestVault();
  });
  after(() => t.close());

  it('answers liveness and readiness with the state of database, keys, policy, collection controls and audit log', async () => {
    assert.deepEqual((await t.app.inject('/healthz')).json(), { status: 'ok' });
    const ready = await t.app.inject('/readyz');
    assert.equal(ready.statusCode, 200);
    assert.deepEqual(ready.json(), { ready: true, checks: { database: { ok: true }, keys: { ok: true }, policy: { ok: true }, collection: { ok: true }, audit: { ok: true }, refusal_audit: { ok: true }, witness: { ok: true } } });
  });

  it('documents every route in OpenAPI 3 with its security and schemas', async () => {
    const doc = (await t.app.inject('/openapi.json')).json();
    assert.match(doc.openapi, /^3\./);
    assert.ok(doc.paths['/v1/records'].post.requestBody);
    assert.deepEqual(doc.paths['/v1/records'].post.security, [{ bearer: [] }]);
    assert.ok(doc.paths['/v1/employees'].put);
    for (const route of ['/healthz', '/readyz', '/metrics']) assert.ok(doc.paths[route], route);
  });

  it('counts requests and records in Prometheus text format', async () => {
    await putRoster(t, [{ employee_id: 'm-1', org_unit: 'u1' }]);
    await postRecords(t, [...makeRecords(3, ['m-1'], 'metrics'), { bad: true }]);
    const text = (await t.app.inject('/metrics')).body;
    assert.match(text, /vault_records_ingested_total 3/);
    assert.match(text, /vault_records_rejected_total\{error="invalid_record"\} 1/);
    assert.match(text, /vault_http_requests_total\{method="POST",route="\/v1\/records",status="200"\} 1/);
    assert.match(text, /vault_http_request_duration_seconds_bucket/);
  });

  it('answers unknown routes with the error shape', async () => {
    const response = await t.app.inject('/v1/nothing');
    assert.equal(response.statusCode, 404);
    assert.deepEqual(Object.keys(response.json()).sort(), ['error', 'message']);
  });

  it('readiness fails, and ingest is refused with 503, once the keys are gone', async () => {
    const other = await startTestVault();
    try {
      await putRoster(other, [{ employee_id: 'k-1', org_unit: 'u1' }]);
      other.vault.keyRing.close();
      const ready = await other.app.inject('/readyz');
      assert.equal(ready.statusCode, 503);
      assert.equal(ready.json().checks.keys.ok, false);
      const response = await postRecords(other, makeRecords(1, ['k-1'], 'no-keys'));
      assert.equal(response.statusCode, 503);
      assert.equal(response.json().error, 'key_unavailable');
      const rows = await other.database.db.selectFrom('activity_records').select('event_id').execute();
      assert.equal(rows.length, 0);
    } finally {
      await other.close();
    }
  });
});

describe('error codes', () => {
  it('every code has an HTTP status and a row in the README table', async () => {
    const readme = await fs.readFile(path.join(packageRoot(), 'README.md'), 'utf8');
    for (const code of ERROR_CODES) {
      assert.ok(HTTP_STATUS[code] >= 400, code);
      assert.ok(readme.includes(`| \`${publicErrorName(code)}\` | ${HTTP_STATUS[code]} |`), `README lacks ${publicErrorName(code)} -> ${HTTP_STATUS[code]}`);
    }
  });
});

describe(`fail closed on the store (${STORE})`, () => {
  it('a database that goes away answers 503, not 500', async () => {
    const t = await startTestVault();
    try {
      await putRoster(t, [{ employee_id: 'down-1', org_unit: 'u1' }]);
      if (t.fresh?.url) {
        const name = new URL(t.fresh.url).pathname.slice(1);
        const admin = new pg.Client({ connectionString: process.env.VAULT_DATABASE_URL });
        await admin.connect();
        await admin.query(`alter database ${name} connection limit 0`);
        await admin.query('select pg_terminate_backend(pid) from pg_stat_activity where datname = $1', [name]);
        await admin.end();
      } else {
        await t.fresh!.pglite!.close();
      }
      const response = await postRecords(t, makeRecords(3, ['down-1'], 'no-db'));
      assert.equal(response.statusCode, 503, response.body);
      const ready = await t.app.inject('/readyz');
      assert.equal(ready.statusCode, 503);
      assert.equal(ready.json().checks.database.ok, false);
    } finally {
      await t.close().catch(() => {});
    }
  });

  it('refuses to register a route that declares neither roles nor public', async () => {
    const { requireAccessDeclaration } = await import('../../src/http/auth.js');
    assert.throws(() => requireAccessDeclaration({ url: '/v1/forgot', method: 'GET', config: {} }), TypeError);
    requireAccessDeclaration({ url: '/healthz', method: 'GET', config: { public: true } });
  });
});
