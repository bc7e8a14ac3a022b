import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { after, before, describe, it } from 'node:test';
import { createLocalJWKSet, jwtVerify } from 'jose';
import { STORE } from '../support/database.js';
import { listenUrl, makeRecords, postRecords, putRoster, startTestVault, type TestVault } from '../support/vault.js';

interface SseEvent {
  id: string | undefined;
  event: string | undefined;
  data: Record<string, unknown> | undefined;
  comment: string | undefined;
}

/** A minimal EventSource over fetch: frames as they arrive, and a way to wait for one. */
function openFeed(url: string, token: string, lastEventId?: string) {
  const frames: SseEvent[] = [];
  const waiters: Array<() => void> = [];
  const controller = new AbortController();
  const opened = fetch(url, { headers: { authorization: `Bearer ${token}`, ...(lastEventId ? { 'last-event-id': lastEventId } : {}) }, signal: controller.signal });
  const done = (async () => {
    const response = await opened;
    assert.equal(response.status, 200);
    assert.match(response.headers.get('content-type') ?? '', /^text\/event-stream/);
    let buffer = '';
    const decoder = new TextDecoder();
    try {
      for await (const chunk of response.body as unknown as AsyncIterable<Uint8Array>) {
        buffer += decoder.decode(chunk, { stream: true });
        for (let end = buffer.indexOf('\n\n'); end >= 0; end = buffer.indexOf('\n\n')) {
          const block = buffer.slice(0, end);
          buffer = buffer.slice(end + 2);
          const frame: SseEvent = { id: undefined, event: undefined, data: undefined, comment: undefined };
          for (const line of block.split('\n')) {
            if (line.startsWith(':')) frame.comment = line.slice(1).trim();
            else if (line.startsWith('id: ')) frame.id = line.slice(4);
            else if (line.startsWith('event: ')) frame.event = line.slice(7);
            else if (line.startsWith('data: ')) frame.data = JSON.parse(line.slice(6)) as Record<string, unknown>;
          }
          frames.push(frame);
          waiters.splice(0).forEach((w) => w());
        }
      }
    } catch (err) {
      if (!controller.signal.aborted) throw err;
    }
  })();
  return {
    frames,
    async waitFor(match: (f: SseEvent) => boolean, ms = 3000): Promise<SseEvent> {
      const deadline = Date.now() + ms;
      for (;;) {
        const found = frames.find(match);
        if (found) return found;
        if (Date.now() > deadline) throw new Error(`no matching event within ${ms} ms; got ${JSON.stringify(frames)}`);
        await new Promise<void>((resolve) => {
          waiters.push(resolve);
          setTimeout(resolve, 50);
        });
      }
    },
    close() {
      controller.abort();
      return done.catch(() => {});
    },
  };
}

describe(`what capture agents ask: status, permit and the change feed (${STORE})`, () => {
  let t: TestVault;
  let url: string;
  let agent: string;
  let officer: string;
  let admin: string;

  before(async () => {
    t = await startTestVault({ env: { VAULT_SSE_HEARTBEAT_SECONDS: '1' } });
    await putRoster(t, [
      { employee_id: 'alice', org_unit: 'engineering', region: 'us-east' },
      { employee_id: 'bob', org_unit: 'engineering', region: 'us-east' },
      ...Array.from({ length: 60 }, (_, i) => ({ employee_id: `other-${i}`, org_unit: `unit-${i % 4}` })),
    ]);
    url = await listenUrl(t);
    agent = await t.token('ingest-agent', { sub: 'agent-1' });
    officer = await t.token('privacy-officer');
    admin = await t.token('security-admin', { sub: 'admin-1' });
  });
  after(() => t.close());

  const call = async (method: string, path: string, token: string, body?: unknown) =>
    fetch(`${url}${path}`, { method, headers: { authorization: `Bearer ${token}`, ...(body === undefined ? {} : { 'content-type': 'application/json' }) }, ...(body === undefined ? {} : { body: JSON.stringify(body) }) });

  it('answers capture now with a 60 s permit signed by the key it publishes', async () => {
    const response = await call('GET', '/v1/collection/status?employee_id=alice', agent);
    assert.equal(response.status, 200);
    const status = (await response.json()) as Record<string, unknown> & { kinds: string[]; permit: string };
    assert.equal(status.capture, true);
    assert.equal(status.reason, null);
    assert.equal(status.manifest_version, 1);
    assert.deepEqual(status.kinds, [...t.config.recordKinds.keys()].sort());
    assert.ok((status.excluded_contexts as { apps: string[] }).apps.includes('WhatsApp'));
    const jwks = (await (await call('GET', '/v1/collection/permit-keys', agent)).json()) as { keys: [] };
    const { payload, protectedHeader } = await jwtVerify(status.permit, createLocalJWKSet(jwks), { audience: 'activity-vault/capture-agent', issuer: t.config.jwt.issuer });
    assert.equal(protectedHeader.alg, 'EdDSA');
    assert.equal(protectedHeader.kid, status.permit_key_id);
    assert.equal(payload.sub, 'alice');
    assert.deepEqual(payload.kinds, status.kinds);
    assert.ok(payload.exp! - payload.iat! <= 60 && payload.exp! - payload.iat! >= 59);
    assert.equal(status.until, status.permit_expires_at);
    await t.vault.audit.sequenced();
    const [event] = (await t.vault.audit.query({ action: 'collection.permit', limit: 1 })).events;
    assert.equal(event!.decision, 'allow');
    assert.equal(event!.actor, 'agent-1');
    assert.ok(!JSON.stringify(event).includes(status.permit), 'the permit itself is not logged');
  });

  it('answers do not capture, without a permit, while paused, and says until when', async () => {
    const paused = (await (await call('POST', '/v1/employees/bob/pause', officer, { minutes: 5 })).json()) as { paused_until: string };
    const status = (await (await call('GET', '/v1/collection/status?employee_id=bob', agent)).json()) as Record<string, unknown>;
    assert.equal(status.capture, false);
    assert.equal(status.reason, 'paused');
    assert.equal(status.permit, null);
    assert.deepEqual(status.kinds, []);
    assert.equal(status.until, paused.paused_until);
    await call('DELETE', '/v1/employees/bob/pause', officer);
    assert.equal(((await (await call('GET', '/v1/collection/status?employee_id=bob', agent)).json()) as { capture: boolean }).capture, true);
    assert.equal((await call('GET', '/v1/collection/status?employee_id=nobody', agent)).status, 404);
    assert.equal((await call('GET', '/v1/collection/status?employee_id=bob', await t.token('employee', { sub: 'bob' }))).status, 403);
    assert.equal((await call('GET', '/v1/collection/status', agent)).status, 400);
  });

  it('tells every agent of a pause, a resume and a manifest version within a second, with heartbeats', async () => {
    const feed = openFeed(`${url}/v1/collection/events`, agent);
    const bobOnly = openFeed(`${url}/v1/collection/events?employee_id=bob`, agent);
    try {
      await feed.waitFor((f) => f.comment === 'connected');
      await bobOnly.waitFor((f) => f.comment === 'connected');
      const started = Date.now();
      assert.equal((await call('POST', '/v1/employees/alice/pause', officer, {})).status, 200);
      const pause = await feed.waitFor((f) => f.event === 'pause', 1000);
      assert.ok(Date.now() - started < 1000);
      assert.equal(pause.data!.employee_id, 'alice');
      assert.ok(typeof pause.data!.until === 'string');
      assert.ok(Number(pause.id) > 0);
      await call('DELETE', '/v1/employees/alice/pause', officer);
      await feed.waitFor((f) => f.event === 'resume', 1000);
      await call('POST', '/v1/employees/bob/opt-out', officer);
      await bobOnly.waitFor((f) => f.event === 'opt_out', 1000);
      await call('DELETE', '/v1/employees/bob/opt-out', officer);
      assert.ok(!bobOnly.frames.some((f) => f.data?.employee_id === 'alice'), "an agent that names its employee hears no one else's changes");
      await feed.waitFor((f) => f.comment === 'heartbeat', 2500);
      const manifest = ((await (await call('GET', '/v1/collection/manifest', officer)).json()) as { manifest: { kinds: Record<string, unknown> } }).manifest;
      await call('PUT', '/v1/collection/manifest', officer, { kinds: manifest.kinds, excluded_contexts: { apps: ['Signal'] } });
      const version = await bobOnly.waitFor((f) => f.event === 'manifest', 1000);
      assert.equal(version.data!.version, 2);
    } finally {
      await feed.close();
      await bobOnly.close();
    }
  });

  it('resumes the feed after Last-Event-ID with every event missed, in order, once', async () => {
    const first = openFeed(`${url}/v1/collection/events`, agent);
    await first.waitFor((f) => f.comment === 'connected');
    await call('POST', '/v1/employees/alice/pause', officer, { minutes: 1 });
    const seen = await first.waitFor((f) => f.event === 'pause');
    await first.close();
    await call('DELETE', '/v1/employees/alice/pause', officer);
    await call('POST', '/v1/program/pause', admin, { reason: 'drill' });
    await call('POST', '/v1/program/resume', admin, { reason: 'drill over' });
    const second = openFeed(`${url}/v1/collection/events`, agent, seen.id);
    try {
      await second.waitFor((f) => f.event === 'program_resume');
      const missed = second.frames.filter((f) => f.event);
      assert.deepEqual(missed.map((f) => f.event), ['resume', 'program_pause', 'program_resume']);
      const ids = missed.map((f) => Number(f.id));
      assert.deepEqual(ids, [...ids].sort((a, b) => a - b));
      assert.ok(ids[0]! > Number(seen.id));
    } finally {
      await second.close();
    }
    const refused = await fetch(`${url}/v1/collection/events`, { headers: { authorization: `Bearer ${officer}` } });
    assert.equal(refused.status, 403);
    const bad = await fetch(`${url}/v1/collection/events`, { headers: { authorization: `Bearer ${agent}`, 'last-event-id': 'not-a-number' } });
    assert.equal(bad.status, 400);
    // An id that never was (another vault's, or forged) is not waited for: the agent is told to start over.
    const future = openFeed(`${url}/v1/collection/events`, agent, '999999999999');
    try {
      const reset = await future.waitFor((f) => f.event === 'reset');
      assert.ok(Number(reset.id) < 999999999999);
      await call('POST', '/v1/employees/alice/pause', officer, { minutes: 1 });
      await future.waitFor((f) => f.event === 'pause');
      await call('DELETE', '/v1/employees/alice/pause', officer);
    } finally {
      await future.close();
    }
  });

  it('a second instance on the same database refuses ingest and tells its agents within a second of a pause on the first', async () => {
    const second = await startTestVault({ database: t.database, dataDir: t.dataDir });
    try {
      const secondUrl = await listenUrl(second);
      const feed = openFeed(`${secondUrl}/v1/collection/events`, agent);
      await feed.waitFor((f) => f.comment === 'connected');
      const started = Date.now();
      assert.equal((await call('POST', '/v1/program/pause', admin, { reason: 'propagation check' })).status, 200);
      await feed.waitFor((f) => f.event === 'program_pause', 1000);
      const refused = await postRecords(second, makeRecords(1, ['alice'], 'after the pause'));
      assert.equal(refused.statusCode, 503);
      assert.equal(refused.json().error, 'program_paused');
      assert.ok(Date.now() - started < 1000, `took ${Date.now() - started} ms`);
      assert.equal(second.vault.services.collection.programStatus().collection.paused, true);
      await call('POST', '/v1/program/resume', admin, { reason: 'propagation checked' });
      await feed.waitFor((f) => f.event === 'program_resume', 1000);
      await feed.close();
    } finally {
      await second.close();
    }
  });

  it('an export freeze cuts a stream in progress within a second, and nothing more arrives', async () => {
    const job = await t.token('training-job', { teams: ['team-autocomplete'], purpose: 'autocomplete-model' });
    const employees = Array.from({ length: 5 }, (_, i) => `eng-${i}`);
    await putRoster(t, employees.map((employee_id) => ({ employee_id, org_unit: 'engineering', region: 'us-east' })));
    // ~20 MB of NDJSON: more than the loopback's socket buffers hold, so the server is still streaming.
    const records = makeRecords(5000, employees, `stream-${randomUUID()} ${'lorem ipsum '.repeat(330)}`);
    for (let i = 0; i < records.length; i += 2500) assert.equal((await postRecords(t, records.slice(i, i + 2500))).json().accepted, 2500);
    const granted = await call('POST', '/v1/datasets', job, { purpose: 'autocomplete-model', kinds: ['keystroke'], org_units: ['engineering'], from: '2026-01-01T00:00:00Z', to: '2027-01-01T00:00:00Z' });
    assert.equal(granted.status, 201, await granted.clone().text());
    const { dataset_id: datasetId } = (await granted.json()) as { dataset_id: string };

    const stream = await call('GET', `/v1/datasets/${datasetId}/records`, job);
    assert.equal(stream.status, 200);
    const reader = (stream.body as ReadableStream<Uint8Array>).getReader();
    let lines = 0;
    const first = await reader.read();
    for (const b of first.value!) if (b === 10) lines++;
    // A slow reader: the server is waiting on the socket, not between pages, when the freeze comes.
    await new Promise((r) => setTimeout(r, 200));
    const frozenAt = Date.now();
    assert.equal((await call('POST', '/v1/program/pause', admin, { reason: 'bad grant suspected', scope: 'exports' })).status, 200);
    let cutAfter: number | undefined;
    try {
      for (;;) {
        const { done, value } = await reader.read();
        if (done) break;
        for (const b of value) if (b === 10) lines++;
      }
    } catch {
      cutAfter = Date.now() - frozenAt;
    }
    console.log(`# export freeze: stream cut ${cutAfter} ms after the freeze was requested, ${lines} of 5000 lines delivered`);
    assert.ok(cutAfter !== undefined, 'the stream ended cleanly instead of being cut: a client would take it for complete');
    assert.ok(cutAfter < 1000, `cut ${cutAfter} ms after the freeze`);
    assert.ok(lines < 5000, `all ${lines} lines arrived`);
    await t.vault.audit.sequenced();
    const cut = (await t.vault.audit.query({ action: 'dataset.stream', decision: 'deny', limit: 5 })).events.find((e) => e.details.reason === 'exports_frozen');
    assert.ok(cut, 'the cut is audited');
    assert.equal(cut!.details.dataset_id, datasetId);
    const reopened = await call('GET', `/v1/datasets/${datasetId}/records`, job);
    assert.equal(reopened.status, 503);
    assert.equal(((await reopened.json()) as { error: string }).error, 'exports_frozen');
    assert.equal((await call('POST', '/v1/program/resume', admin, { reason: 'fixed', scope: 'exports' })).status, 202);
    assert.equal((await call('POST', '/v1/program/resume', officer, { reason: 'confirmed', scope: 'exports' })).status, 200);
    const resumed = await call('GET', `/v1/datasets/${datasetId}/records`, job);
    assert.equal(resumed.status, 200);
    assert.equal((await resumed.text()).trim().split('\n').length, 5000);
  });
});
