import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { after, before, describe, it } from 'node:test';
import { sql } from 'kysely';
import { STORE } from '../support/database.js';
import { activateBundle, approveBundle, buildTestBundle, newSigningKey, shippedSources, stageBundle, trustedKeysFile, type SigningKey } from '../support/policies.js';
import { postRecords, putRoster, startTestVault, type TestVault } from '../support/vault.js';

const ACME_CHAT = 'Acme Chat';

function record(app: string, text = 'see you at 7') {
  return { event_id: randomUUID(), employee_id: 'eng-1', captured_at: '2026-11-10T09:00:00.000Z', kind: 'keystroke', payload: { app, text } };
}

async function lastIngestEvent(t: TestVault) {
  const [event] = (await t.vault.audit.query({ action: 'records.ingest', limit: 1 })).events;
  return event!;
}

describe(`the classifier's lists travel with the policy bundle (${STORE})`, () => {
  let key: SigningKey;
  let t: TestVault;
  let shipped: Awaited<ReturnType<typeof shippedSources>>;

  before(async () => {
    key = await newSigningKey();
    shipped = await shippedSources();
    t = await startTestVault({ env: { VAULT_BUNDLE_KEYS_FILE: await trustedKeysFile(key) } });
    // Enough employees elsewhere that the shipped grants pass the scope-fraction invariant.
    await putRoster(t, [{ employee_id: 'eng-1', org_unit: 'engineering' }, ...Array.from({ length: 20 }, (_, i) => ({ employee_id: `other-${i}`, org_unit: `unit-${i % 4}` }))]);
  });
  after(() => t.close());

  it('classifies with the lists of the committed bundle, and each batch event names the revision', async () => {
    const inForce = t.vault.policy.classifierInForce();
    assert.equal(inForce.lists, 'bundle');
    assert.equal(inForce.revision, t.vault.policy.revision);
    const result = (await postRecords(t, [record('Kik')])).json();
    assert.deepEqual(result.dropped, [{ index: 0, reason: 'sensitive_content', categories: ['private_conversation'] }]);
    const event = await lastIngestEvent(t);
    assert.equal(event.policy_revision, t.vault.policy.revision);
    assert.equal(event.details.classifier_lists, 'bundle');
  });

  it('an app added to the lists is classified as soon as its revision is active, without a second admin', async () => {
    assert.equal((await postRecords(t, [record(ACME_CHAT)])).json().accepted, 1, 'not listed yet: stored');
    const lists = structuredClone(shipped.classification);
    lists.private_conversation.apps.push(ACME_CHAT);
    const staged = await stageBundle(t, await buildTestBundle({ key, revision: 'rev-acme', classification: lists }));
    assert.equal(staged.statusCode, 201, staged.body);
    assert.deepEqual(staged.json().diff.classification, { lists: 'bundle', changed: [{ list: 'private_conversation.apps', added: [ACME_CHAT], removed: [] }] });
    assert.deepEqual(staged.json().diff.access.growth, []);
    const activated = await activateBundle(t, 'rev-acme');
    assert.equal(activated.statusCode, 200, activated.body);

    const result = (await postRecords(t, [record(ACME_CHAT)])).json();
    assert.deepEqual(result.dropped, [{ index: 0, reason: 'sensitive_content', categories: ['private_conversation'] }]);
    assert.equal((await lastIngestEvent(t)).policy_revision, 'rev-acme');
  });

  it('an entry removed from the lists is growth: refused without a second security admin, classified with the old lists until then', async () => {
    const staged = await stageBundle(t, await buildTestBundle({ key, revision: 'rev-no-acme' }));
    assert.equal(staged.statusCode, 201, staged.body);
    assert.deepEqual(staged.json().diff.classification.changed, [{ list: 'private_conversation.apps', added: [], removed: [ACME_CHAT] }]);
    const growth = `classifier list private_conversation.apps drops 1 entry: "${ACME_CHAT}"`;
    assert.deepEqual(staged.json().diff.access.growth, [growth]);

    const refused = await activateBundle(t, 'rev-no-acme', 'alice');
    assert.equal(refused.statusCode, 409, refused.body);
    assert.ok(refused.json().violations[0].startsWith(`${growth}: needs approval by a second security admin`));
    assert.equal((await postRecords(t, [record(ACME_CHAT)])).json().accepted, 0, 'still classified with rev-acme');

    assert.deepEqual((await approveBundle(t, 'rev-no-acme', 'bob')).json().growth, [growth]);
    assert.equal((await activateBundle(t, 'rev-no-acme', 'alice')).statusCode, 200);
    assert.equal((await postRecords(t, [record(ACME_CHAT)])).json().accepted, 1);
    assert.equal((await lastIngestEvent(t)).policy_revision, 'rev-no-acme');
  });

  it('refuses to stage a bundle whose lists do not validate, naming the field, and stores nothing of it', async () => {
    const cases: Array<[string, unknown, string]> = [
      ['rev-bad-keywords', { ...shipped.classification, health: { ...shipped.classification.health, keywords: 'diabetes' } }, 'health.keywords'],
      ['rev-bad-domain', { ...shipped.classification, tax: { ...shipped.classification.tax, domains: ['IRS.gov '] } }, 'tax.domains[0]'],
      ['rev-bad-field', { ...shipped.classification, extra: [] }, 'extra'],
      ['rev-bad-shape', ['WhatsApp'], 'must be an object'],
    ];
    for (const [revision, classification, field] of cases) {
      const response = await stageBundle(t, await buildTestBundle({ key, revision, classification }));
      assert.equal(response.statusCode, 422, `${revision}: ${response.body}`);
      assert.equal(response.json().error, 'bundle_rejected');
      assert.ok(response.json().message.includes('data.classification') && response.json().message.includes(field), response.json().message);
    }
    const stored = await t.database.db.selectFrom('policy_bundles').select('revision').where('revision', 'like', 'rev-bad-%').execute();
    assert.deepEqual(stored, []);
    const { events } = await t.vault.audit.query({ action: 'policy.stage', decision: 'deny', limit: 4 });
    assert.equal(events.length, 4);
  });

  it('a bundle that carries no lists classifies with the shipped ones, and says so', async () => {
    const staged = await stageBundle(t, await buildTestBundle({ key, revision: 'rev-no-lists', classification: null }));
    assert.equal(staged.statusCode, 201, staged.body);
    assert.deepEqual(staged.json().diff.classification, { lists: 'builtin', changed: [] });
    assert.equal((await activateBundle(t, 'rev-no-lists')).statusCode, 200);
    assert.equal((await postRecords(t, [record('Kik')])).json().dropped[0].reason, 'sensitive_content');
    const event = await lastIngestEvent(t);
    assert.equal(event.policy_revision, 'rev-no-lists');
    assert.equal(event.details.classifier_lists, 'builtin');
  });
});

describe(`ingest with no policy in force (${STORE})`, () => {
  let t: TestVault;

  before(async () => {
    t = await startTestVault({ noDefaultBundle: true });
    await putRoster(t, [{ employee_id: 'eng-1', org_unit: 'engineering' }]);
  });
  after(() => t.close());

  it('stores nothing and answers 503 policy_unavailable, audited as a denied batch', async () => {
    const response = await postRecords(t, [record('vscode', 'refactored the parser')]);
    assert.equal(response.statusCode, 503, response.body);
    assert.equal(response.json().error, 'policy_unavailable');
    const stored = await sql<{ n: number }>`select count(*)::int as n from activity_records`.execute(t.database.db);
    assert.equal(stored.rows[0]!.n, 0);
    const [event] = (await t.vault.audit.query({ action: 'records.ingest', limit: 1 })).events;
    assert.equal(event!.decision, 'deny');
    assert.deepEqual(event!.details, { received: 1, reason: 'policy_unavailable' });
  });
});
