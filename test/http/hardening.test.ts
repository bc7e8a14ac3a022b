import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { after, before, describe, it } from 'node:test';
import type { AuditEventView } from '../../src/audit/index.js';
import { buildHttpServer, type HttpServerOptions } from '../../src/http/index.js';
import type { VaultServices } from '../../src/services/index.js';
import { refuseAuditInserts } from '../support/audit.js';
import { STORE } from '../support/database.js';
import { countRows } from '../support/records.js';
import { listenUrl, makeRecords, postRecords, putRoster, startTestVault, type TestVault } from '../support/vault.js';

const GRANTED = { teams: ['team-autocomplete'], purpose: 'autocomplete-model' };
const NUL = '\u0000';

/** Events appended since `seq`, oldest first. */
async function eventsAfter(t: TestVault, seq: number): Promise<AuditEventView[]> {
  const { events } = await t.vault.audit.query({ limit: 1000 });
  return events.filter((e) => e.seq > seq).reverse();
}

async function headSeq(t: TestVault): Promise<number> {
  const { events } = await t.vault.audit.query({ limit: 1 });
  return events[0]?.seq ?? 0;
}

/** The vault's HTTP API with some audit-trail calls replaced: a fault injected above the real database and audit log. */
function apiWithTrail(t: TestVault, trail: Partial<VaultServices['auditTrail']>, logger: HttpServerOptions['logger'] = false) {
  return buildHttpServer({ ...t.vault.services, auditTrail: { ...t.vault.services.auditTrail, ...trail } }, { logger });
}

/** A version 7 UUID: 48 bits of milliseconds, version 7, variant 10, random bits. */
function uuidV7(): string {
  const time = Date.now().toString(16).padStart(12, '0');
  const random = randomUUID().replaceAll('-', '');
  return `${time.slice(0, 8)}-${time.slice(8)}-7${random.slice(13, 16)}-a${random.slice(17, 20)}-${random.slice(20)}`;
}

/** A record whose payload is `depth` arrays (or objects) deep, sent as raw JSON: building it as a value would overflow the test's own stack. */
function deepRecordBody(depth: number, shape: 'array' | 'object'): string {
  const [record] = makeRecords(1, ['emp-1'], 'deep');
  const nested = shape === 'array' ? `${'['.repeat(depth)}1${']'.repeat(depth)}` : `${'{"a":'.repeat(depth)}1${'}'.repeat(depth)}`;
  return `{"records":[${JSON.stringify({ ...record, payload: 'HOLE' }).replace('"HOLE"', nested)}]}`;
}

describe(`hardening at the HTTP edge (${STORE})`, () => {
  let t: TestVault;
  const bearer = async (role: Parameters<TestVault['token']>[0], claims?: Parameters<TestVault['token']>[1]) => ({ authorization: `Bearer ${await t.token(role, claims)}` });

  before(async () => {
    t = await startTestVault();
    // Enough other units that one granted unit stays under the reach limit.
    await putRoster(t, [{ employee_id: 'emp-1', org_unit: 'engineering' }, ...Array.from({ length: 20 }, (_, i) => ({ employee_id: `other-${i}`, org_unit: `unit-${i}` }))]);
  });
  after(() => t.close());

  describe('text the database cannot store is a 400 naming the field, audited', () => {
    it('a NUL in a roster region: 400, nothing written, an http.refused event', async () => {
      const rows = await countRows(t.database.db);
      const seq = await headSeq(t);
      const response = await t.app.inject({
        method: 'PUT',
        url: '/v1/employees',
        headers: await bearer('privacy-officer'),
        payload: { employees: [{ employee_id: 'nul-1', org_unit: 'engineering', region: `eu${NUL}west`, enrolled: true }] },
      });
      assert.equal(response.statusCode, 400, response.body);
      assert.equal(response.json().error, 'invalid_request');
      assert.match(response.json().message, /region/);
      assert.deepEqual(await countRows(t.database.db), rows);
      const events = await eventsAfter(t, seq);
      assert.equal(events.length, 1);
      assert.equal(events[0]!.action, 'http.refused');
      assert.equal(events[0]!.decision, 'deny');
      assert.equal(events[0]!.actor, 'privacy-officer-1');
      assert.deepEqual(
        { ...events[0]!.details, message: undefined },
        { method: 'PUT', route: '/v1/employees', status: 400, error: 'invalid_request', message: undefined },
      );
    });

    for (const field of ['actor', 'team', 'action']) {
      it(`a NUL in the audit query's ${field} filter: 400 naming it, audited`, async () => {
        const seq = await headSeq(t);
        const response = await t.app.inject({ method: 'GET', url: `/v1/audit/events?${field}=a%00b`, headers: await bearer('auditor') });
        assert.equal(response.statusCode, 400, response.body);
        assert.equal(response.json().error, 'invalid_request');
        assert.match(response.json().message, new RegExp(`querystring/${field}`));
        const [event, ...more] = await eventsAfter(t, seq);
        assert.equal(more.length, 0);
        assert.equal(event?.action, 'http.refused');
        assert.equal(event?.details.route, '/v1/audit/events');
      });
    }

    it('a NUL in a dataset purpose: 400 naming it, audited', async () => {
      const seq = await headSeq(t);
      const response = await t.app.inject({
        method: 'POST',
        url: '/v1/datasets',
        headers: await bearer('training-job', GRANTED),
        payload: { purpose: `autocomplete-model${NUL}`, from: '2026-01-01T00:00:00Z', to: '2026-12-01T00:00:00Z' },
      });
      assert.equal(response.statusCode, 400, response.body);
      assert.match(response.json().message, /body\/purpose/);
      assert.deepEqual((await eventsAfter(t, seq)).map((e) => e.action), ['http.refused']);
    });

    it('the OpenAPI document carries the rule, so a fuzzer generating from it knows', async () => {
      const doc = (await t.app.inject('/openapi.json')).json();
      const region = doc.paths['/v1/employees'].put.requestBody.content['application/json'].schema.properties.employees.items.properties.region;
      assert.ok(region.pattern && !new RegExp(region.pattern, 'u').test(`a${NUL}`) && new RegExp(region.pattern, 'u').test('eu-west'));
      const params = Object.fromEntries(doc.paths['/v1/audit/events'].get.parameters.map((p: { name: string; schema: unknown }) => [p.name, p.schema]));
      for (const field of ['actor', 'team', 'action']) assert.ok(!new RegExp(params[field].pattern, 'u').test(NUL), field);
      assert.equal(params.from.format, 'date-time');
      const purpose = doc.paths['/v1/datasets'].post.requestBody.content['application/json'].schema.properties.purpose;
      assert.ok(!new RegExp(purpose.pattern, 'u').test(NUL));
      assert.match(doc.paths['/v1/records'].post.requestBody.content['application/json'].schema.properties.records.description, /version 4 or 7/);
    });
  });

  describe('dates outside 0001-9999 are a 400 with an event', () => {
    for (const from of ['0000-01-01T00:00:00Z', '0001-01-01T00:00:00+01:00']) {
      it(`a dataset request from ${from}`, async () => {
        const seq = await headSeq(t);
        const response = await t.app.inject({
          method: 'POST',
          url: '/v1/datasets',
          headers: await bearer('training-job', GRANTED),
          payload: { purpose: GRANTED.purpose, from, to: '2026-12-01T00:00:00Z' },
        });
        assert.equal(response.statusCode, 400, response.body);
        assert.equal(response.json().error, 'invalid_request');
        assert.match(response.json().message, /^from /);
        const events = await eventsAfter(t, seq);
        assert.deepEqual(events.map((e) => [e.action, e.decision, e.details.status]), [['http.refused', 'deny', 400]]);
      });
    }

    for (const [name, bound] of [
      ['year 0', 'from=0000-01-01T00:00:00Z'],
      ['year 0 by its zone', 'from=0001-01-01T00:00:00%2B01:00'],
      ['year 10000 by its zone', 'to=9999-12-31T23:59:59-01:00'],
    ] as const) {
      it(`an audit query bound in ${name}`, async () => {
        const seq = await headSeq(t);
        const response = await t.app.inject({ method: 'GET', url: `/v1/audit/events?${bound}`, headers: await bearer('auditor') });
        assert.equal(response.statusCode, 400, response.body);
        assert.match(response.json().message, /0001-9999/);
        assert.deepEqual((await eventsAfter(t, seq)).map((e) => e.action), ['http.refused']);
      });
    }

    it('the first and last instants of the range still work', async () => {
      const response = await t.app.inject({ method: 'GET', url: '/v1/audit/events?from=0001-01-01T00:00:00Z&to=9999-12-31T23:59:59Z', headers: await bearer('auditor') });
      assert.equal(response.statusCode, 200, response.body);
    });
  });

  describe('ingest refuses what it cannot handle, record by record', () => {
    for (const shape of ['array', 'object'] as const) {
      it(`a payload of ${shape}s nested 20,000 deep is an invalid_record, and the batch is audited`, async () => {
        const seq = await headSeq(t);
        const response = await t.app.inject({
          method: 'POST',
          url: '/v1/records',
          headers: { ...(await bearer('ingest-agent')), 'content-type': 'application/json' },
          payload: deepRecordBody(20_000, shape),
        });
        assert.equal(response.statusCode, 200, response.body);
        assert.deepEqual(response.json().rejected, [{ index: 0, error: 'invalid_record', message: 'payload is nested deeper than 64 levels' }]);
        const events = await eventsAfter(t, seq);
        assert.equal(events.length, 1);
        assert.equal(events[0]!.action, 'records.ingest');
        assert.equal(events[0]!.details.rejected, 1);
      });
    }

    it('64 levels are accepted, 65 are not', async () => {
      const send = async (depth: number) =>
        (await t.app.inject({ method: 'POST', url: '/v1/records', headers: { ...(await bearer('ingest-agent')), 'content-type': 'application/json' }, payload: deepRecordBody(depth, 'object') })).json();
      assert.equal((await send(64)).accepted, 1);
      assert.equal((await send(65)).rejected[0]?.error, 'invalid_record');
    });

    it('event ids must be random: version 1 is refused and says why; 4 and 7 are accepted', async () => {
      const ids = {
        v1: 'c232ab00-9414-11ec-b3c8-9f6bdeced846',
        v3: '6fa459ea-ee8a-3ca4-894e-db77e160355e',
        v5: '886313e1-3b8a-5372-9b90-0c9aee199e5d',
        nil: '00000000-0000-0000-0000-000000000000',
        v4: randomUUID(),
        v7: uuidV7(),
      };
      const records = Object.values(ids).map((eventId, i) => ({ ...makeRecords(1, ['emp-1'], `version-${i}`)[0]!, event_id: eventId }));
      const response = await postRecords(t, records);
      const body = response.json();
      assert.equal(body.accepted, 2, response.body);
      assert.deepEqual(
        body.rejected.map((r: { index: number; error: string }) => [r.index, r.error]),
        [
          [0, 'invalid_record'],
          [1, 'invalid_record'],
          [2, 'invalid_record'],
          [3, 'invalid_record'],
        ],
      );
      assert.match(body.rejected[0].message, /version 1 .*MAC address/);
      assert.match(body.rejected[1].message, /version 3 .*not random/);
      assert.match(body.rejected[3].message, /version 4 or 7/);
    });
  });

  describe('no error goes unaudited, and none is audited twice', () => {
    it('a 500 is answered with an opaque id and audited as http.error with that id, route, method and caller', async () => {
      const failing = await apiWithTrail(t, {
        verify: async () => {
          throw new Error('a fault no one foresaw');
        },
      });
      try {
        const seq = await headSeq(t);
        const response = await failing.inject({ method: 'GET', url: '/v1/audit/verify', headers: await bearer('auditor') });
        assert.equal(response.statusCode, 500);
        assert.deepEqual(Object.keys(response.json()).sort(), ['error', 'error_id', 'message']);
        assert.ok(!response.body.includes('foresaw'));
        const events = await eventsAfter(t, seq);
        assert.equal(events.length, 1);
        const [event] = events;
        assert.equal(event!.action, 'http.error');
        assert.equal(event!.decision, 'error');
        assert.equal(event!.severity, 'high');
        assert.equal(event!.actor, 'auditor-1');
        assert.deepEqual(event!.details, { method: 'GET', route: '/v1/audit/verify', status: 500, error: 'internal', error_id: response.json().error_id });
      } finally {
        await failing.close();
      }
    });

    it('a database refusal of input the edge missed (SQLSTATE 22021) is a 400, audited, not a 500', async () => {
      // The real query service, handed a NUL the route schema would have refused.
      const gap = await apiWithTrail(t, { query: (actor, q) => t.vault.services.auditTrail.query(actor, { ...q, actor: `a${NUL}b` }) });
      try {
        const seq = await headSeq(t);
        const response = await gap.inject({ method: 'GET', url: '/v1/audit/events', headers: await bearer('auditor') });
        assert.equal(response.statusCode, 400, response.body);
        assert.equal(response.json().error, 'invalid_request');
        const events = await eventsAfter(t, seq);
        assert.deepEqual(events.map((e) => [e.action, e.details.status, e.details.sqlstate]), [['http.refused', 400, '22021']]);
      } finally {
        await gap.close();
      }
    });

    it('when the audit log cannot take the event, the operator log raises an alarm and the caller still gets the error', async () => {
      const failing = await apiWithTrail(
        t,
        {
          checkpoints: async () => {
            throw new Error('fault');
          },
        },
        { level: 'info', stream: { write: (line: string) => void t.logs.push(line) } },
      );
      await refuseAuditInserts(t, true);
      try {
        const response = await failing.inject({ method: 'GET', url: '/v1/audit/checkpoints', headers: await bearer('auditor') });
        assert.equal(response.statusCode, 500);
        const errorId = response.json().error_id;
        const alarm = t.logs.map((l) => JSON.parse(l) as Record<string, unknown>).find((l) => l.alarm === 'audit_unavailable' && l.error_id === errorId);
        assert.ok(alarm, 'no audit_unavailable alarm for the unaudited 500');
      } finally {
        await refuseAuditInserts(t, false);
        await failing.close();
      }
    });

    it('a schema refusal and a body too large of an authenticated caller are audited', async () => {
      const seq = await headSeq(t);
      const limit = await t.app.inject({ method: 'GET', url: '/v1/audit/events?limit=many', headers: await bearer('auditor') });
      assert.equal(limit.statusCode, 400);
      const big = await t.app.inject({
        method: 'POST',
        url: '/v1/records',
        headers: { ...(await bearer('ingest-agent')), 'content-type': 'application/json' },
        payload: JSON.stringify({ records: [{ payload: 'x'.repeat(11 * 1024 * 1024) }] }),
      });
      assert.equal(big.statusCode, 413);
      const events = await eventsAfter(t, seq);
      assert.deepEqual(
        events.map((e) => [e.action, e.actor, e.details.route, e.details.status, e.details.error]),
        [
          ['http.refused', 'auditor-1', '/v1/audit/events', 400, 'invalid_request'],
          ['http.refused', 'ingest-agent-1', '/v1/records', 413, 'body_too_large'],
        ],
      );
    });

    it('a refusal a service audited itself gets no second event', async () => {
      const seq = await headSeq(t);
      const stream = await t.app.inject({ method: 'GET', url: `/v1/datasets/${randomUUID()}/records`, headers: await bearer('training-job', GRANTED) });
      assert.equal(stream.statusCode, 404);
      const report = await t.app.inject({ method: 'GET', url: '/v1/employees/other-1/access-report', headers: await bearer('employee', { sub: 'emp-1' }) });
      assert.equal(report.statusCode, 403);
      const forbidden = await t.app.inject({ method: 'GET', url: '/v1/audit/events', headers: await bearer('ingest-agent') });
      assert.equal(forbidden.statusCode, 403);
      // Over a socket, with a body: reading it leaves the request's async context.
      const denied = await fetch(`${await listenUrl(t)}/v1/datasets`, {
        method: 'POST',
        headers: { ...(await bearer('training-job', { teams: ['team-without-grant'], purpose: 'p' })), 'content-type': 'application/json' },
        body: JSON.stringify({ purpose: 'p', from: '2026-01-01T00:00:00Z', to: '2026-12-01T00:00:00Z' }),
      });
      assert.equal(denied.status, 403);
      const events = await eventsAfter(t, seq);
      assert.deepEqual(
        events.map((e) => [e.action, e.decision]),
        [
          ['dataset.stream', 'deny'],
          ['employee.access_report', 'deny'],
          ['auth.forbidden', 'deny'],
          ['policy.decision', 'deny'],
        ],
      );
    });

    it('anonymous refusals are left to the access gate, which tallies them', async () => {
      const seq = await headSeq(t);
      const response = await t.app.inject({ method: 'GET', url: '/v1/audit/events?limit=many' });
      assert.equal(response.statusCode, 401);
      assert.ok(!(await eventsAfter(t, seq)).some((e) => e.action.startsWith('http.')));
    });
  });

  describe('the operator log names no employee', () => {
    it('an employee id in the path or the query is logged as its keyed reference', async () => {
      const id = `emp-secret-${randomUUID().slice(0, 8)}`;
      await putRoster(t, [{ employee_id: id, org_unit: 'engineering' }]);
      const from = t.logs.length;
      const employee = await bearer('employee', { sub: id });
      assert.equal((await t.app.inject({ method: 'GET', url: `/v1/employees/${id}/access-report`, headers: employee })).statusCode, 200);
      assert.equal((await t.app.inject({ method: 'GET', url: `/v1/employees/${encodeURIComponent(id)}/access-report?x=1`, headers: await bearer('auditor') })).statusCode, 200);
      assert.equal((await t.app.inject({ method: 'GET', url: `/v1/audit/events?employee_id=${id}&actor=${id}&limit=5`, headers: await bearer('auditor') })).statusCode, 200);
      assert.equal((await t.app.inject({ method: 'GET', url: `/v1/employees/other-2/access-report`, headers: employee })).statusCode, 403);
      const lines = t.logs.slice(from);
      const ref = `ref:${t.vault.audit.employeeRef(id)}`;
      assert.ok(lines.length >= 4);
      assert.deepEqual(lines.filter((l) => l.includes(id)), [], 'the operator log carries an employee id');
      const urls = lines.map((l) => (JSON.parse(l) as { req?: { url?: string } }).req?.url).filter((u): u is string => u !== undefined);
      assert.ok(urls.includes(`/v1/employees/${ref}/access-report`), urls.join('\n'));
      assert.ok(urls.includes(`/v1/employees/${ref}/access-report?x=1`), urls.join('\n'));
      assert.ok(urls.includes(`/v1/audit/events?employee_id=${ref}&actor=${ref}&limit=5`), urls.join('\n'));
      const [event] = (await t.vault.audit.query({ action: 'employee.access_report', limit: 1 })).events;
      assert.equal(`ref:${event!.employee_ref}`, `ref:${t.vault.audit.employeeRef('other-2')}`, 'the reference is the one the audit log uses');
    });
  });
});
