import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { after, before, describe, it } from 'node:test';
import { generateKeyPair, SignJWT } from 'jose';
import { STORE } from '../support/database.js';
import { countRows, dumpAllTablesAsText } from '../support/records.js';
import { hmacWithPublicKey, signCustom, unsignedToken } from '../support/tokens.js';
import { makeRecords, putRoster, startTestVault, type TestVault } from '../support/vault.js';

const MARK = `BADINPUT-${randomUUID()}`;

interface Case {
  readonly name: string;
  readonly status: number;
  readonly error: string;
  request(t: TestVault): Promise<{ headers?: Record<string, string>; payload: string | Buffer; url?: string; method?: 'POST' | 'PUT' }>;
}

const agent = async (t: TestVault) => ({ authorization: `Bearer ${await t.token('ingest-agent')}`, 'content-type': 'application/json' });
const json = (v: unknown) => JSON.stringify(v);
const oneRecord = () => json({ records: makeRecords(1, ['emp-1'], MARK) });
const withToken = (token: string) => ({ authorization: `Bearer ${token}`, 'content-type': 'application/json' });

const CASES: Case[] = [
  { name: 'broken JSON', status: 400, error: 'invalid_request', request: async (t) => ({ headers: await agent(t), payload: `{"records":[{"payload":"${MARK}"` }) },
  { name: 'broken JSON whose parser message would quote it', status: 400, error: 'invalid_request', request: async (t) => ({ headers: await agent(t), payload: `{"records":[${MARK}]}` }) },
  { name: 'no records field', status: 400, error: 'invalid_request', request: async (t) => ({ headers: await agent(t), payload: json({ recs: [MARK] }) }) },
  { name: 'records is not an array', status: 400, error: 'invalid_request', request: async (t) => ({ headers: await agent(t), payload: json({ records: MARK }) }) },
  { name: 'a JSON array body', status: 400, error: 'invalid_request', request: async (t) => ({ headers: await agent(t), payload: json([MARK]) }) },
  { name: 'wrong content type', status: 415, error: 'unsupported_media_type', request: async (t) => ({ headers: { ...(await agent(t)), 'content-type': 'text/plain' }, payload: MARK }) },
  {
    name: '6,000 records',
    status: 413,
    error: 'batch_too_large',
    request: async (t) => ({ headers: await agent(t), payload: json({ records: makeRecords(6000, ['emp-1'], MARK) }) }),
  },
  {
    name: 'an 11 MiB body',
    status: 413,
    error: 'body_too_large',
    request: async (t) => ({ headers: await agent(t), payload: json({ records: [{ payload: MARK.padEnd(11 * 1024 * 1024, 'x') }] }) }),
  },
  { name: 'no token', status: 401, error: 'unauthenticated', request: async () => ({ headers: { 'content-type': 'application/json' }, payload: oneRecord() }) },
  { name: 'a token signed with none', status: 401, error: 'unauthenticated', request: async (t) => ({ headers: withToken(unsignedToken(t)), payload: oneRecord() }) },
  { name: 'an HS256 token made with the public key', status: 401, error: 'unauthenticated', request: async (t) => ({ headers: withToken(await hmacWithPublicKey(t)), payload: oneRecord() }) },
  {
    name: 'an expired token',
    status: 401,
    error: 'unauthenticated',
    request: async (t) => ({ headers: withToken(await signCustom(t, { exp: Math.floor(Date.now() / 1000) - 120 })), payload: oneRecord() }),
  },
  { name: 'a token without exp', status: 401, error: 'unauthenticated', request: async (t) => ({ headers: withToken(await signCustom(t, {}, { withoutExp: true })), payload: oneRecord() }) },
  { name: 'a wrong issuer', status: 401, error: 'unauthenticated', request: async (t) => ({ headers: withToken(await signCustom(t, { iss: 'someone-else' })), payload: oneRecord() }) },
  { name: 'a wrong audience', status: 401, error: 'unauthenticated', request: async (t) => ({ headers: withToken(await signCustom(t, { aud: 'another-service' })), payload: oneRecord() }) },
  {
    name: 'a token from an unknown key',
    status: 401,
    error: 'unauthenticated',
    request: async (t) => {
      const { privateKey } = await generateKeyPair('EdDSA');
      const token = await new SignJWT({ roles: ['ingest-agent'] })
        .setProtectedHeader({ alg: 'EdDSA', kid: 'attacker' })
        .setIssuer(t.config.jwt.issuer)
        .setAudience(t.config.jwt.audience)
        .setSubject('x')
        .setExpirationTime('10m')
        .sign(privateKey);
      return { headers: withToken(token), payload: oneRecord() };
    },
  },
  { name: 'a malformed roles claim', status: 401, error: 'unauthenticated', request: async (t) => ({ headers: withToken(await signCustom(t, { roles: 'ingest-agent' })), payload: oneRecord() }) },
  { name: 'a valid token without the role', status: 403, error: 'forbidden', request: async (t) => ({ headers: withToken(await t.token('training-job')), payload: oneRecord() }) },
  {
    name: 'a roster with one bad entry among good ones',
    status: 400,
    error: 'invalid_request',
    request: async (t) => ({
      method: 'PUT',
      url: '/v1/employees',
      headers: withToken(await t.token('privacy-officer')),
      payload: json({ employees: [{ employee_id: 'new-1', org_unit: 'u', region: 'eu', enrolled: true }, { employee_id: MARK, org_unit: 'u', region: 'eu', enrolled: 'yes' }] }),
    }),
  },
  {
    name: 'a roster naming one employee twice',
    status: 400,
    error: 'invalid_request',
    request: async (t) => ({
      method: 'PUT',
      url: '/v1/employees',
      headers: withToken(await t.token('privacy-officer')),
      payload: json({ employees: [{ employee_id: 'new-2', org_unit: 'u', region: 'eu', enrolled: true }, { employee_id: 'new-2', org_unit: 'v', region: 'eu', enrolled: true }] }),
    }),
  },
];

describe(`bad input gets a clear 4xx and leaves nothing behind (${STORE})`, () => {
  let t: TestVault;
  before(async () => {
    t = await startTestVault();
    await putRoster(t, [{ employee_id: 'emp-1', org_unit: 'unit-1' }]);
  });
  after(() => t.close());

  for (const c of CASES) {
    it(`${c.name}: ${c.status} ${c.error}`, async () => {
      const before = await countRows(t.database.db);
      const req = await c.request(t);
      const response = await t.app.inject({ method: req.method ?? 'POST', url: req.url ?? '/v1/records', headers: req.headers, payload: req.payload });
      assert.equal(response.statusCode, c.status, response.body);
      const body = response.json();
      assert.equal(body.error, c.error);
      assert.equal(typeof body.message, 'string');
      assert.ok(!response.body.includes(MARK), 'the response echoes input');
      assert.deepEqual(await countRows(t.database.db), before);
    });
  }

  it('bad records inside a valid batch are rejected by index and only they are left out', async () => {
    const good = makeRecords(2, ['emp-1'], 'good');
    const bad: unknown[] = [
      { event_id: randomUUID(), employee_id: 'emp-1', kind: 'keystroke', payload: { text: MARK } },
      { event_id: randomUUID(), employee_id: 42, captured_at: '2026-11-20T08:00:00Z', kind: 'keystroke', payload: { text: MARK } },
      { event_id: randomUUID(), employee_id: 'emp-1', captured_at: 1795600000, kind: 'keystroke', payload: { text: MARK } },
      { event_id: randomUUID(), employee_id: 'emp-1', captured_at: '2026-11-20T08:00:00Z', kind: 'keystroke', payload: { text: MARK }, sensitivity: 'high' },
      { event_id: randomUUID(), employee_id: 'emp-1', captured_at: '2026-11-20T08:00:00Z', kind: 'telepathy', payload: { text: MARK } },
      { event_id: randomUUID(), employee_id: 'ghost', captured_at: '2026-11-20T08:00:00Z', kind: 'keystroke', payload: { text: MARK } },
      { event_id: 'not-a-uuid', employee_id: 'emp-1', captured_at: '2026-11-20T08:00:00Z', kind: 'keystroke', payload: { text: MARK } },
      { event_id: randomUUID(), employee_id: 'emp-1', captured_at: '2126-11-20T08:00:00Z', kind: 'keystroke', payload: { text: MARK } },
      { event_id: randomUUID(), employee_id: 'emp-1', captured_at: '2026-11-20T08:00:00Z', kind: 'keystroke', payload: { text: MARK }, [MARK]: 1 },
      { event_id: randomUUID(), employee_id: 'emp-1', captured_at: '2026-02-30T12:00:00Z', kind: 'keystroke', payload: { text: MARK } },
      { event_id: randomUUID(), employee_id: 'emp-1', captured_at: '2026-04-31T12:00:00Z', kind: 'keystroke', payload: { text: MARK } },
      { event_id: randomUUID(), employee_id: 'emp-1', captured_at: '2026-11-20T24:00:00Z', kind: 'keystroke', payload: { text: MARK } },
      MARK,
    ];
    const before = await countRows(t.database.db);
    const response = await t.app.inject({ method: 'POST', url: '/v1/records', headers: await agent(t), payload: { records: [good[0], ...bad, good[1]] } });
    assert.equal(response.statusCode, 200);
    const result = response.json();
    assert.equal(result.accepted, 2);
    assert.deepEqual(result.rejected.map((r: { index: number }) => r.index), bad.map((_, i) => i + 1));
    assert.deepEqual(
      result.rejected.map((r: { error: string }) => r.error),
      ['invalid_record', 'invalid_record', 'invalid_record', 'invalid_record', 'unknown_kind', 'unknown_employee', 'invalid_record', 'invalid_record', 'invalid_record', 'invalid_record', 'invalid_record', 'invalid_record', 'invalid_record'],
    );
    assert.ok(!response.body.includes(MARK));
    assert.equal((await countRows(t.database.db)).records, before.records + 2);
  });

  it('accepts the bearer scheme in any case (RFC 7235)', async () => {
    const response = await t.app.inject({ method: 'POST', url: '/v1/records', headers: { authorization: `bearer ${await t.token('ingest-agent')}` }, payload: { records: [] } });
    assert.equal(response.statusCode, 200);
  });

  it('accepts a token that expired within the 60 s clock skew', async () => {
    const token = await signCustom(t, { exp: Math.floor(Date.now() / 1000) - 30 });
    const response = await t.app.inject({ method: 'POST', url: '/v1/records', headers: withToken(token), payload: { records: [] } });
    assert.equal(response.statusCode, 200);
  });

  it('no bad input left a trace in the database or the log', async () => {
    const dump = await dumpAllTablesAsText(t.database.db);
    assert.ok(!dump.includes(MARK));
    assert.ok(!t.logs.some((line) => line.includes(MARK)));
    assert.ok(!t.logs.some((line) => /eyJ[A-Za-z0-9_-]{10,}\./.test(line)), 'a token reached the log');
  });
});
