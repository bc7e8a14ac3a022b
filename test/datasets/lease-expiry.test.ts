import assert from 'node:assert/strict';
import { after, before, beforeEach, describe, it } from 'node:test';
import type { FastifyInstance } from 'fastify';
import type { AuditEventView } from '../../src/audit/index.js';
import { VaultClient, VaultClientError } from '../../src/client/index.js';
import { PAGE_RECORDS } from '../../src/datasets/deps.js';
import { buildHttpServer } from '../../src/http/index.js';
import type { VaultServices } from '../../src/services/index.js';
import { STORE } from '../support/database.js';
import { listenUrl, makeRecords, postRecords, putRoster, startTestVault, type TestVault } from '../support/vault.js';

const HOUR = 3_600_000;
const REQUEST = { purpose: 'autocomplete-model', kinds: ['keystroke'], from: '2026-11-01T00:00:00Z', to: '2026-12-01T00:00:00Z' };

describe(`a lease that expires while its stream runs (${STORE})`, () => {
  let t: TestVault;
  let app: FastifyInstance;
  let url: string;
  let token: string;
  // The vault's clock, and whether the next stream to open makes it jump past every lease's expiry
  // once its first page is read: the expiry then falls between two pages, wherever the reader is.
  let offsetMs = 0;
  let expireOnOpen = false;

  before(async () => {
    t = await startTestVault({ now: () => new Date(Date.now() + offsetMs) });
    await putRoster(t, [
      { employee_id: 'x0', org_unit: 'engineering' },
      { employee_id: 'x1', org_unit: 'engineering' },
      ...Array.from({ length: 10 }, (_, i) => ({ employee_id: `y${i}`, org_unit: `other-${i}` })),
    ]);
    // More than a page: the stream has a second page to refuse.
    assert.equal((await postRecords(t, makeRecords(PAGE_RECORDS + 500, ['x0', 'x1'], 'expiring'))).json().accepted, PAGE_RECORDS + 500);
    const { datasets } = t.vault.services;
    const services: VaultServices = {
      ...t.vault.services,
      datasets: {
        request: (principal, body) => datasets.request(principal, body),
        accessReport: (principal, employeeId) => datasets.accessReport(principal, employeeId),
        load: () => datasets.load(),
        openStream: async (principal, datasetId, request) => {
          const stream = await datasets.openStream(principal, datasetId, request);
          if (expireOnOpen) {
            expireOnOpen = false;
            offsetMs = 25 * HOUR;
          }
          return stream;
        },
      },
    };
    app = await buildHttpServer(services, { logger: false });
    url = await listenUrl({ app });
    token = await t.token('training-job', { teams: ['team-autocomplete'], purpose: 'autocomplete-model' });
  });
  after(async () => {
    await app?.close();
    await t?.close();
  });
  beforeEach(() => {
    offsetMs = 0;
    expireOnOpen = true;
  });

  const denials = async (datasetId: string): Promise<AuditEventView[]> => {
    await t.vault.audit.sequenced();
    return (await t.vault.audit.query({ action: 'dataset.stream', decision: 'deny', limit: 100 })).events.filter((e) => e.details.dataset_id === datasetId);
  };

  it('cuts the connection instead of ending the stream, audits the cut with its shard, and refuses the reconnect with 410', async () => {
    const client = new VaultClient({ url, token });
    const lease = await client.requestDataset(REQUEST);
    assert.equal(lease.record_count, PAGE_RECORDS + 500);
    const records = `${url}/v1/datasets/${lease.dataset_id}/records?shard=0&of=1`;
    const response = await fetch(records, { headers: { authorization: `Bearer ${token}` } });
    assert.equal(response.status, 200);
    await assert.rejects(response.text(), 'the body is cut short, not ended as if it were the whole dataset');

    const [cut] = await denials(lease.dataset_id);
    assert.equal(cut?.details.reason, 'lease_expired');
    assert.equal(cut?.details.cut, true);
    assert.deepEqual([cut?.details.shard, cut?.details.of], [0, 1]);
    assert.equal(cut?.decision_id, lease.decision_id);
    assert.equal(cut?.record_count, 0);

    const again = await fetch(records, { headers: { authorization: `Bearer ${token}` } });
    assert.equal(again.status, 410);
    assert.equal(((await again.json()) as { error: string }).error, 'lease_expired');
    const [refused] = await denials(lease.dataset_id);
    assert.notEqual(refused?.seq, cut?.seq);
    assert.deepEqual([refused?.details.reason, refused?.details.shard, refused?.details.of, refused?.details.cut], ['lease_expired', 0, 1, undefined]);
  });

  it("the client's records() rejects with lease_expired instead of finishing short", async () => {
    const client = new VaultClient({ url, token, retryDelayMs: 10 });
    const lease = await client.requestDataset(REQUEST);
    const seen: string[] = [];
    await assert.rejects(
      (async () => {
        for await (const record of client.records(lease.dataset_id)) seen.push(record.cursor);
      })(),
      (err) => err instanceof VaultClientError && err.status === 410 && err.error === 'lease_expired',
    );
    assert.ok(seen.length < lease.record_count, `${seen.length} of ${lease.record_count} records arrived`);
    const reasons = (await denials(lease.dataset_id)).map((e) => [e.details.reason, e.details.cut ?? false]);
    assert.deepEqual(reasons, [
      ['lease_expired', false],
      ['lease_expired', true],
    ]);
  });
});
