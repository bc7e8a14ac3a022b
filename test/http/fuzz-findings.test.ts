import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { STORE } from '../support/database.js';
import { countRows } from '../support/records.js';
import { listenUrl, makeRecords, putRoster, startTestVault, type TestVault } from '../support/vault.js';

// What `bash scripts/fuzz.sh` (schemathesis from /openapi.json) found, each pinned here so that a
// change which brings one back fails in `npm test`, not only in the fuzz run.

interface OpenApiOperation {
  parameters?: Array<{ name: string; in: string; schema: { pattern?: string } }>;
  requestBody?: { required?: boolean; content: Record<string, { schema: { type?: string; format?: string; minLength?: number } }> };
}
type OpenApiDocument = { paths: Record<string, Record<string, OpenApiOperation>> };

const LONG_ID = `fuzzed-${'x'.repeat(150)}`;

describe(`what fuzzing /openapi.json found (${STORE})`, () => {
  let t: TestVault;
  let doc: OpenApiDocument;

  before(async () => {
    t = await startTestVault();
    doc = (await t.app.inject({ method: 'GET', url: '/openapi.json' })).json() as OpenApiDocument;
  });
  after(async () => {
    await t.close();
  });

  it('a path segment longer than the router takes is a 400 in the error shape, with nothing of the URL in it', async () => {
    for (const url of [`/v1/employees/${LONG_ID}/access-report`, `/v1/datasets/${LONG_ID}/records`]) {
      const response = await t.app.inject({ method: 'GET', url, headers: { authorization: `Bearer ${await t.token('auditor')}` } });
      assert.equal(response.statusCode, 400, `${url}: ${response.body}`);
      const body = response.json() as Record<string, unknown>;
      assert.deepEqual(Object.keys(body).sort(), ['error', 'message']);
      assert.equal(body.error, 'invalid_request');
      assert.ok(!response.body.includes('xxxxxxxxxx'), 'the path is not echoed');
      assert.match(String(response.headers['content-type']), /^application\/json/);
    }
  });

  it('a malformed percent-encoding in the path is a 400 in the error shape, not echoed', async () => {
    const response = await t.app.inject({ method: 'GET', url: '/v1/employees/fuzzed%E0%A4%A/access-report' });
    assert.equal(response.statusCode, 400, response.body);
    assert.deepEqual(response.json(), { error: 'invalid_request', message: 'the URL is malformed or a path segment is too long' });
  });

  it('a served path asked with a method it does not take is a 405 whose Allow lists the methods it does', async () => {
    const cases: Array<[method: 'TRACE' | 'DELETE' | 'OPTIONS' | 'PATCH', url: string, allow: string]> = [
      ['TRACE', '/healthz', 'GET, HEAD'],
      ['DELETE', '/v1/records', 'POST'],
      ['OPTIONS', '/v1/employees', 'PUT'],
      ['PATCH', '/v1/employees/emp-1/access-report', 'GET, HEAD'],
      ['DELETE', '/v1/policy/bundles', 'GET, HEAD, POST'],
    ];
    for (const [method, url, allow] of cases) {
      const response = await t.app.inject({ method, url });
      assert.equal(response.statusCode, 405, `${method} ${url}: ${response.body}`);
      assert.equal(response.headers.allow, allow, `${method} ${url}`);
      assert.equal(response.json().error, 'method_not_allowed');
    }
    const unknown = await t.app.inject({ method: 'TRACE', url: '/v1/nothing-here' });
    assert.equal(unknown.statusCode, 404);
    assert.equal(unknown.json().error, 'not_found');
  });

  it('QUERY without a content type on a served path is a 405, not a 400 for the missing body', async () => {
    const url = await listenUrl(t);
    const response = await fetch(`${url}/v1/audit/verify`, { method: 'QUERY' });
    assert.equal(response.status, 405, await response.clone().text());
    assert.equal(response.headers.get('allow'), 'GET, HEAD');
    assert.equal(((await response.json()) as { error: string }).error, 'method_not_allowed');
  });

  it('a batch with a __proto__ key in a payload is refused whole, as a 400 that names the rule, and nothing is stored', async () => {
    await putRoster(t, [{ employee_id: 'fuzz-proto-1', org_unit: 'engineering' }]);
    const [good, poisoned] = makeRecords(2, ['fuzz-proto-1'], 'fuzzed');
    // Written by hand: an object literal with __proto__ sets the prototype and never reaches the JSON.
    const body = `{"records":[${JSON.stringify(good)},${JSON.stringify({ ...poisoned, payload: 'X' }).replace('"X"', '{"__proto__":{"admin":true}}')}]}`;
    assert.ok(body.includes('"__proto__"'));
    const before = await countRows(t.database.db);
    const response = await t.app.inject({
      method: 'POST',
      url: '/v1/records',
      headers: { authorization: `Bearer ${await t.token('ingest-agent')}`, 'content-type': 'application/json' },
      payload: body,
    });
    assert.equal(response.statusCode, 400, response.body);
    assert.deepEqual(response.json(), { error: 'invalid_request', message: 'request body is not valid JSON, or has a __proto__ or constructor.prototype key' });
    assert.equal((await countRows(t.database.db)).records, before.records);
    const described = (doc.paths['/v1/records']!.post!.requestBody!.content['application/json']!.schema as unknown as { properties: { records: { description: string } } })
      .properties.records.description;
    assert.match(described, /__proto__/, 'the document says so');
  });

  it("the audit query's limit is accepted exactly when the document says it is", async () => {
    const limit = doc.paths['/v1/audit/events']!.get!.parameters!.find((p) => p.name === 'limit' && p.in === 'query')!;
    const declared = new RegExp(limit.schema.pattern!, 'u');
    const auditor = { authorization: `Bearer ${await t.token('auditor')}` };
    for (const value of ['0', '1', '01', '999', '1000', '1001', '9999']) {
      const response = await t.app.inject({ method: 'GET', url: `/v1/audit/events?limit=${value}`, headers: auditor });
      assert.equal(response.statusCode === 200, declared.test(value), `limit=${value}: the document says ${declared.test(value)}, the server answered ${response.statusCode}`);
      if (response.statusCode !== 200) assert.equal(response.statusCode, 400);
    }
  });

  it('the document declares the bundle upload body the server requires', async () => {
    const body = doc.paths['/v1/policy/bundles']!.post!.requestBody;
    assert.equal(body?.required, true);
    for (const type of ['application/gzip', 'application/x-gzip', 'application/octet-stream']) {
      assert.deepEqual({ ...body!.content[type]!.schema, description: undefined, maxLength: undefined }, { type: 'string', format: 'binary', minLength: 1, description: undefined, maxLength: undefined }, type);
    }
    const admin = { authorization: `Bearer ${await t.token('security-admin')}` };
    const none = await t.app.inject({ method: 'POST', url: '/v1/policy/bundles', headers: admin });
    assert.equal(none.statusCode, 415, none.body);
    const empty = await t.app.inject({ method: 'POST', url: '/v1/policy/bundles', headers: { ...admin, 'content-type': 'application/gzip' }, payload: Buffer.alloc(0) });
    assert.equal(empty.statusCode, 400, empty.body);
  });

  it("the document declares a dataset request's from and to as timestamps and its names by their patterns", async () => {
    const schema = (doc.paths['/v1/datasets']!.post!.requestBody!.content['application/json']!.schema as unknown as {
      properties: Record<string, { format?: string; items?: { pattern?: string } }>;
    }).properties;
    assert.equal(schema.from!.format, 'date-time');
    assert.equal(schema.to!.format, 'date-time');
    assert.ok(schema.kinds!.items!.pattern, 'kinds carry their pattern');
    assert.ok(schema.org_units!.items!.pattern, 'org_units carry their pattern');
    const job = { authorization: `Bearer ${await t.token('training-job', { teams: ['team-autocomplete'], purpose: 'autocomplete-model' })}` };
    const response = await t.app.inject({ method: 'POST', url: '/v1/datasets', headers: job, payload: { purpose: 'autocomplete-model', from: '', to: '' } });
    assert.equal(response.statusCode, 400, response.body);
    assert.equal(response.json().error, 'invalid_request');
  });
});
