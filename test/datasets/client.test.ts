import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { VaultClient, VaultClientError } from '../../src/client/index.js';
import { STORE } from '../support/database.js';
import { listenUrl, makeRecords, postRecords, putRoster, startTestVault, type TestVault } from '../support/vault.js';

/** Real fetch, except that the first `cuts` response bodies break after `afterBytes`, like a dropped connection. */
function flakyFetch(cuts: number, afterBytes: number): typeof fetch & { broken: number } {
  const wrapped = (async (input: Parameters<typeof fetch>[0], init?: Parameters<typeof fetch>[1]) => {
    const response = await fetch(input, init);
    if (wrapped.broken >= cuts || !response.body || !String(input).includes('/records')) return response;
    wrapped.broken++;
    const reader = response.body.getReader();
    let sent = 0;
    const body = new ReadableStream<Uint8Array>({
      async pull(controller) {
        const { value, done } = await reader.read();
        if (done) return controller.close();
        if (sent + value.length > afterBytes) {
          controller.enqueue(value.subarray(0, afterBytes - sent));
          await reader.cancel();
          controller.error(new TypeError('terminated: connection reset'));
          return;
        }
        sent += value.length;
        controller.enqueue(value);
      },
    });
    return new Response(body, { status: response.status, headers: response.headers });
  }) as typeof fetch & { broken: number };
  wrapped.broken = 0;
  return wrapped;
}

describe(`the training-job client (${STORE})`, () => {
  let t: TestVault;
  let url: string;
  before(async () => {
    t = await startTestVault();
    await putRoster(t, Array.from({ length: 12 }, (_, i) => ({ employee_id: `c${i}`, org_unit: i < 2 ? 'engineering' : `other-${i}` })));
    for (let i = 0; i < 3; i++) {
      assert.equal((await postRecords(t, makeRecords(4000, Array.from({ length: 12 }, (_, k) => `c${k}`), `client-${i}`))).json().accepted, 4000);
    }
    url = await listenUrl(t);
  });
  after(() => t.close());

  it('requests a dataset and iterates it, resuming after dropped connections with every record once', async () => {
    const flaky = flakyFetch(2, 400_000);
    const token = await t.token('training-job', { teams: ['team-autocomplete'], purpose: 'autocomplete-model' });
    const client = new VaultClient({ url, token, fetch: flaky, retryDelayMs: 10 });
    const lease = await client.requestDataset({ purpose: 'autocomplete-model', kinds: ['keystroke'], from: '2026-11-01T00:00:00Z', to: '2026-12-01T00:00:00Z' });
    assert.ok(lease.record_count > 1500, String(lease.record_count));
    const seen: string[] = [];
    for await (const record of client.records<{ text: string }>(lease.dataset_id)) seen.push(record.payload.text);
    assert.equal(flaky.broken, 2, 'the connection was really cut twice');
    assert.equal(seen.length, lease.record_count);
    assert.equal(new Set(seen).size, seen.length);
  });

  it('surfaces a deny as a VaultClientError with the reasons and decision id', async () => {
    const client = new VaultClient({ url, token: () => t.token('training-job', { teams: ['team-autocomplete'], purpose: 'autocomplete-model' }) });
    await assert.rejects(
      client.requestDataset({ purpose: 'autocomplete-model', org_units: ['other-3'], from: '2026-11-01T00:00:00Z', to: '2026-12-01T00:00:00Z' }),
      (err) => err instanceof VaultClientError && err.status === 403 && Array.isArray(err.body.reasons) && typeof err.body.decision_id === 'string',
    );
  });
});
