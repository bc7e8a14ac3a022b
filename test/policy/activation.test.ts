import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { sql } from 'kysely';
import { openDatabase, type VaultDatabase } from '../../src/db/index.js';
import { isVaultError } from '../../src/errors/index.js';
import { PolicyEvaluator } from '../../src/policy/index.js';
import { VaultClient } from '../../src/client/index.js';
import { refuseAuditInserts } from '../support/audit.js';
import { STORE } from '../support/database.js';
import { activateBundle, approveBundle, buildTestBundle, datasetInput, newSigningKey, shippedSources, stageBundle, trustedKeysFile, type SigningKey } from '../support/policies.js';
import { listenUrl, startTestVault, type TestVault } from '../support/vault.js';

describe(`policy staging and activation (${STORE})`, () => {
  let key: SigningKey;
  let t: TestVault;
  let bundleA: Buffer;
  let bundleB: Buffer;

  before(async () => {
    key = await newSigningKey();
    const { data } = await shippedSources();
    const grants = data.grants as Record<string, unknown>;
    bundleA = await buildTestBundle({ key, revision: 'rev-A' });
    bundleB = await buildTestBundle({
      key,
      revision: 'rev-B',
      data: { grants: { ...grants, 'team-search': { org_units: ['search'], kinds: ['prompt'], max_sensitivity: 1, purposes: ['ranking'] } } },
    });
    t = await startTestVault({ env: { VAULT_BUNDLE_KEYS_FILE: await trustedKeysFile(key) } });
  });
  after(() => t.close());

  it('starts on the committed default bundle and reports it ready', async () => {
    const ready = (await t.app.inject('/readyz')).json();
    assert.deepEqual(ready.checks.policy, { ok: true });
    assert.match(t.vault.policy.revision ?? '', /^src-/);
  });

  it('stages a signed bundle with its diff against the active one, and lists it', async () => {
    const a = await stageBundle(t, bundleA);
    assert.equal(a.statusCode, 201, a.body);
    assert.equal(a.json().status, 'staged');
    const b = await stageBundle(t, bundleB);
    assert.deepEqual(b.json().diff.grants, { added: ['team-search'], removed: [], changed: [] });
    assert.equal(b.json().diff.against, t.vault.policy.revision);
    const again = await stageBundle(t, bundleB);
    assert.equal(again.statusCode, 201, 'staging the same bytes twice is idempotent');
    const list = await t.app.inject({ method: 'GET', url: '/v1/policy/bundles', headers: { authorization: `Bearer ${await t.token('auditor')}` } });
    const revisions = list.json().bundles.map((x: { revision: string }) => x.revision);
    assert.ok(revisions.includes('rev-A') && revisions.includes('rev-B'));
    assert.equal(list.json().bundles.find((x: { revision: string }) => x.revision === 'rev-A').staged_by, 'alice');
  });

  it('refuses to stage a tampered, unsigned or foreign bundle, and a training job may not stage', async () => {
    const foreign = await buildTestBundle({ key: await newSigningKey(), revision: 'rev-foreign' });
    const response = await stageBundle(t, foreign);
    assert.equal(response.statusCode, 422);
    assert.equal(response.json().error, 'bundle_rejected');
    assert.equal((await stageBundle(t, Buffer.from('garbage'))).statusCode, 422);
    assert.equal((await stageBundle(t, bundleA, 'alice', 'training-job')).statusCode, 403);
    const rows = await t.database.db.selectFrom('policy_bundles').select('revision').where('revision', '=', 'rev-foreign').execute();
    assert.equal(rows.length, 0);
  });

  it('a revision that grows a team\'s reach needs a second security admin: an admin cannot approve their own growth', async () => {
    assert.equal((await activateBundle(t, 'rev-A')).statusCode, 200);
    const unapproved = await activateBundle(t, 'rev-B', 'alice');
    assert.equal(unapproved.statusCode, 409, unapproved.body);
    assert.equal(unapproved.json().error, 'policy_rejected');
    assert.deepEqual(unapproved.json().violations, [
      'team team-search gains org units search (0 -> 0 employees): needs approval by a second security admin (activity-vault policy approve rev-B, by someone other than alice)',
      'team team-search grant widens: org_units +search; kinds +prompt; purposes +ranking; max_sensitivity none -> 1: needs approval by a second security admin (activity-vault policy approve rev-B, by someone other than alice)',
    ]);
    const { events } = await t.vault.audit.query({ action: 'policy.activate', decision: 'deny', limit: 1 });
    assert.equal(events[0]!.details.reason, 'growth_needs_second_admin');
    assert.equal(events[0]!.severity, 'high');
    assert.ok(t.logs.some((l) => l.includes('"alarm":"activation_refused"') && l.includes('growth_needs_second_admin')));

    const own = await approveBundle(t, 'rev-B', 'alice');
    assert.equal(own.statusCode, 200, own.body);
    assert.equal((await activateBundle(t, 'rev-B', 'alice')).statusCode, 409, 'her own approval does not count');
    assert.equal(t.vault.policy.revision, 'rev-A');
    const second = await approveBundle(t, 'rev-B', 'bob');
    assert.equal(second.statusCode, 200, second.body);
    assert.deepEqual(second.json().against, 'rev-A');
    assert.equal(t.vault.policy.revision, 'rev-A', 'an approval alone activates nothing');
  });

  it('the access diff and the revision listing are read on the record: each answer commits with its event, and none is given when the log cannot take it', async () => {
    const auditor = await t.token('auditor', { sub: 'audrey' });
    const get = (url: string) => t.app.inject({ method: 'GET', url, headers: { authorization: `Bearer ${auditor}` } });
    const newest = async (action: string) => {
      await t.vault.audit.sequenced();
      return (await t.vault.audit.query({ action, limit: 1 })).events[0];
    };

    const diff = await get('/v1/policy/bundles/rev-B/diff');
    assert.equal(diff.statusCode, 200, diff.body);
    assert.equal(diff.json().against, 'rev-A', 'against the revision in force');
    const diffEvent = await newest('policy.diff');
    assert.equal(diffEvent?.decision, 'allow');
    assert.equal(diffEvent?.actor, 'audrey');
    assert.equal(diffEvent?.policy_revision, 'rev-B');
    assert.equal(diffEvent?.record_count, diff.json().teams.length);
    assert.ok(diff.json().teams.length > 0);
    assert.equal(diffEvent?.details.revision, 'rev-B');
    assert.equal(diffEvent?.details.against, 'rev-A');
    assert.equal(diffEvent?.details.against_in_force, true);

    const named = await get('/v1/policy/bundles/rev-A/diff?against=rev-B');
    assert.equal(named.statusCode, 200, named.body);
    const namedEvent = await newest('policy.diff');
    assert.deepEqual([namedEvent?.policy_revision, namedEvent?.details.against, namedEvent?.details.against_in_force], ['rev-A', 'rev-B', false]);

    const list = await get('/v1/policy/bundles');
    assert.equal(list.statusCode, 200, list.body);
    const listEvent = await newest('policy.list');
    assert.equal(listEvent?.decision, 'allow');
    assert.equal(listEvent?.actor, 'audrey');
    assert.equal(listEvent?.record_count, list.json().bundles.length);
    assert.equal(listEvent?.details.active, 'rev-A');
    const listed = (await new VaultClient({ url: await listenUrl(t), token: auditor }).policyBundles()).bundles.find((b) => b.revision === 'rev-B');
    assert.deepEqual([listed?.approved_by, listed?.approval_used, typeof listed?.approved_at], ['bob', false, 'string']);

    const listsBefore = (await newest('policy.list'))?.seq;
    assert.ok((listsBefore ?? 0) > (listEvent?.seq ?? 0), 'the client\'s listing is on the record too');
    await refuseAuditInserts(t, true);
    try {
      const unrecordedDiff = await get('/v1/policy/bundles/rev-B/diff');
      assert.equal(unrecordedDiff.statusCode, 503, unrecordedDiff.body);
      assert.equal(unrecordedDiff.json().teams, undefined);
      const unrecordedList = await get('/v1/policy/bundles');
      assert.equal(unrecordedList.statusCode, 503, unrecordedList.body);
      assert.equal(unrecordedList.json().bundles, undefined);
    } finally {
      await refuseAuditInserts(t, false);
    }
    assert.equal((await newest('policy.diff'))?.seq, namedEvent?.seq, 'no diff event for the refused read');
    assert.equal((await newest('policy.list'))?.seq, listsBefore);
  });

  it('an approval is for the revision in force when it was given, and is used once', async () => {
    const other = await startTestVault({ env: { VAULT_BUNDLE_KEYS_FILE: await trustedKeysFile(key) } });
    try {
      assert.equal((await stageBundle(other, bundleA)).statusCode, 201);
      assert.equal((await stageBundle(other, bundleB)).statusCode, 201);
      assert.equal((await approveBundle(other, 'rev-B', 'bob')).statusCode, 200);
      assert.equal((await activateBundle(other, 'rev-A')).statusCode, 200);
      const stale = await activateBundle(other, 'rev-B', 'alice');
      assert.equal(stale.statusCode, 409, 'approved against another revision in force');
      assert.equal((await approveBundle(other, 'rev-B', 'bob')).statusCode, 200);
      assert.equal((await activateBundle(other, 'rev-B', 'alice')).statusCode, 200);
      assert.equal((await activateBundle(other, 'rev-A', 'alice')).statusCode, 200);
      assert.equal((await activateBundle(other, 'rev-B', 'alice')).statusCode, 409, 'the approval was used up');
      const broken = await buildTestBundle({ key, revision: 'rev-open', data: { grants: { 'team-x': { org_units: ['*'], kinds: ['click'], max_sensitivity: 1, purposes: ['p'] } } } });
      assert.equal((await stageBundle(other, broken)).statusCode, 201);
      const refused = await approveBundle(other, 'rev-open', 'bob');
      assert.equal(refused.statusCode, 409, 'an invariant breach cannot be approved');
    } finally {
      await other.close();
    }
  });

  it('activating B while decisions run under A loses none, and every later decision carries B, in every instance', async () => {
    assert.equal(t.vault.policy.revision, 'rev-A');
    assert.equal(t.vault.policy.revision, 'rev-A');
    const secondDb: VaultDatabase = t.fresh?.url ? await openDatabase({ url: t.fresh.url }) : t.database;
    const second = await startTestVault({ database: secondDb, dataDir: t.dataDir, env: { VAULT_BUNDLE_KEYS_FILE: await trustedKeysFile(key) } });
    try {
      assert.equal(second.vault.policy.revision, 'rev-A');
      const samples: Array<{ instance: number; started: number; revision: string }> = [];
      const failures: unknown[] = [];
      let running = true;
      const worker = async (instance: number, vault = instance === 1 ? t.vault : second.vault) => {
        while (running) {
          const started = performance.now();
          try {
            const { decision, revision } = await vault.policy.decide(datasetInput());
            assert.equal(decision.allow, true);
            samples.push({ instance, started, revision });
          } catch (err) {
            failures.push(err);
          }
          await new Promise((r) => setImmediate(r));
        }
      };
      const workers = [worker(1), worker(1), worker(2), worker(2)];
      await new Promise((r) => setTimeout(r, 200));
      let response;
      let activatedAt = 0;
      try {
        response = await activateBundle(t, 'rev-B', 'alice');
        activatedAt = performance.now();
        await new Promise((r) => setTimeout(r, 1500));
      } finally {
        running = false;
        await Promise.all(workers);
      }
      assert.equal(response.statusCode, 200, response.body);
      assert.deepEqual(response.json(), { revision: 'rev-B', status: 'active', previous: 'rev-A', approved_by: 'bob' });

      assert.deepEqual(failures, []);
      assert.ok(samples.some((s) => s.revision === 'rev-A') && samples.some((s) => s.revision === 'rev-B'));
      const lateOnFirst = samples.filter((s) => s.instance === 1 && s.started > activatedAt);
      assert.ok(lateOnFirst.length > 0 && lateOnFirst.every((s) => s.revision === 'rev-B'), 'the activating instance answers with B at once');
      const lateOnSecond = samples.filter((s) => s.instance === 2 && s.started > activatedAt + 1000);
      assert.ok(lateOnSecond.length > 0 && lateOnSecond.every((s) => s.revision === 'rev-B'), 'another instance answers with B within a second');
      for (const instance of [1, 2]) {
        const seq = samples.filter((s) => s.instance === instance).map((s) => s.revision);
        assert.ok(seq.indexOf('rev-B') === -1 || seq.lastIndexOf('rev-A') < seq.indexOf('rev-B'), 'no decision goes back to A once B answered');
      }
    } finally {
      await second.close();
      if (secondDb !== t.database) await secondDb.close();
    }
  });

  it('rolls back by activating an earlier revision', async () => {
    const response = await activateBundle(t, 'rev-A');
    assert.deepEqual(response.json(), { revision: 'rev-A', status: 'active', previous: 'rev-B' });
    assert.equal((await t.vault.policy.decide(datasetInput())).revision, 'rev-A');
    const activations = await t.database.db.selectFrom('policy_activations').select(['revision', 'activated_by']).orderBy('activation_id').execute();
    assert.deepEqual(activations.slice(-3).map((a) => a.revision), ['rev-A', 'rev-B', 'rev-A']);
    assert.equal(activations.at(-1)!.activated_by, 'alice');
  });

  it('staging compiles the staged bundle once, and so does activating it: the engine serves the evaluator the checks compiled, the one in force is not compiled again', async () => {
    const bundleC = await buildTestBundle({ key, revision: 'rev-C' });
    const beforeStaging = PolicyEvaluator.compilations;
    assert.equal((await stageBundle(t, bundleC)).statusCode, 201);
    assert.equal(PolicyEvaluator.compilations - beforeStaging, 1, 'the revision in force is compared with the evaluator the engine holds');
    const beforeActivation = PolicyEvaluator.compilations;
    const response = await activateBundle(t, 'rev-C');
    assert.equal(response.statusCode, 200, response.body);
    assert.equal(t.vault.policy.revision, 'rev-C', 'in force in the activating instance at once');
    await t.vault.policy.refresh();
    await new Promise((r) => setTimeout(r, 700));
    assert.equal((await t.vault.policy.decide(datasetInput())).revision, 'rev-C');
    assert.equal(PolicyEvaluator.compilations - beforeActivation, 1, 'one compilation per activation, NOTIFY and the poll included');
    assert.equal((await activateBundle(t, 'rev-A')).statusCode, 200);
  });

  it('refuses to activate a policy that throws, listing the violations; the active one stays', async () => {
    const throwing = await buildTestBundle({
      key,
      revision: 'rev-throws',
      rego: 'package vault.authz\nimport rego.v1\ndecision := {"allow": false, "reasons": ["a"]} if input.action\ndecision := {"allow": false, "reasons": ["b"]} if input.action\n',
    });
    assert.equal((await stageBundle(t, throwing)).statusCode, 201);
    const response = await activateBundle(t, 'rev-throws');
    assert.equal(response.statusCode, 409);
    assert.equal(response.json().error, 'policy_rejected');
    assert.ok(response.json().violations.length > 0 && response.json().violations[0].startsWith('policy_error'));
    assert.equal(t.vault.policy.revision, 'rev-A');
    assert.equal((await activateBundle(t, 'no-such-rev')).statusCode, 404);
  });

  it('fails closed when the active bundle is altered in the database: no decision is made', async () => {
    const other = await startTestVault({ env: { VAULT_BUNDLE_KEYS_FILE: await trustedKeysFile(key) } });
    try {
      assert.equal((await stageBundle(other, bundleB)).statusCode, 201);
      const tampered = Buffer.from(bundleB);
      tampered[tampered.length - 20]! ^= 0xff;
      await sql`update policy_bundles set archive = ${tampered} where revision = 'rev-B'`.execute(other.database.db);
      await sql`insert into policy_activations (revision, activated_by) values ('rev-B', 'mallory')`.execute(other.database.db);
      await other.vault.policy.refresh();
      await assert.rejects(other.vault.policy.decide(datasetInput()), (err) => isVaultError(err, 'ERR_POLICY_UNAVAILABLE'));
      const ready = await other.app.inject('/readyz');
      assert.equal(ready.statusCode, 503);
      assert.match(ready.json().checks.policy.reason, /rev-B cannot be used/);
    } finally {
      await other.close();
    }
  });
});

describe(`no valid policy at start (${STORE})`, () => {
  it('serves no decisions and says why on /readyz', async () => {
    const fresh = await startTestVault({ noDefaultBundle: true });
    try {
      const ready = await fresh.app.inject('/readyz');
      assert.equal(ready.statusCode, 503);
      assert.equal(ready.json().checks.policy.ok, false);
      assert.match(ready.json().checks.policy.reason, /no policy bundle has been activated/);
      await assert.rejects(fresh.vault.policy.decide(datasetInput()), (err) => isVaultError(err, 'ERR_POLICY_UNAVAILABLE'));
    } finally {
      await fresh.close();
    }
  });
});
