import assert from 'node:assert/strict';
import { before, describe, it } from 'node:test';
import { scopeToJson } from '../../src/model/index.js';
import { PolicyEvaluator, verifyBundle } from '../../src/policy/index.js';
import { buildTestBundle, DATASET_REQUEST, datasetInput, newSigningKey, TRAINING_JOB, type SigningKey } from '../support/policies.js';

async function evaluatorFor(key: SigningKey, revision: string, rego?: string): Promise<PolicyEvaluator> {
  return PolicyEvaluator.load(await verifyBundle(await buildTestBundle({ key, revision, rego }), [key]));
}

describe('the shipped policy, compiled to wasm', () => {
  let policy: PolicyEvaluator;
  before(async () => {
    policy = await evaluatorFor(await newSigningKey(), 'shipped');
  });

  it("gives a team its own org unit: the grant intersected with the request", async () => {
    const d = await policy.evaluate(datasetInput());
    assert.equal(d.allow, true);
    assert.deepEqual(d.scope && scopeToJson(d.scope), { org_units: ['engineering'], kinds: ['keystroke'], max_sensitivity: 2, from: DATASET_REQUEST.from, to: DATASET_REQUEST.to });
    assert.deepEqual(d.reasons, ['granted_by:team-autocomplete']);
  });

  const denials: Array<[string, Record<string, unknown>, Record<string, unknown>, string]> = [
    ['no team', { ...TRAINING_JOB, teams: [] }, DATASET_REQUEST, 'no_team'],
    ['unknown team', { ...TRAINING_JOB, teams: ['team-ghost'] }, DATASET_REQUEST, 'no_grant_for_team'],
    ['empty-string team', { ...TRAINING_JOB, teams: [''] }, DATASET_REQUEST, 'no_team'],
    ['wrong role', { ...TRAINING_JOB, roles: ['auditor'] }, DATASET_REQUEST, 'not_training_job'],
    ['no role', { ...TRAINING_JOB, roles: [] }, DATASET_REQUEST, 'not_training_job'],
    ['no purpose', { ...TRAINING_JOB, purpose: undefined }, DATASET_REQUEST, 'no_purpose'],
    ['wrong purpose', { ...TRAINING_JOB, purpose: 'ads' }, { ...DATASET_REQUEST, purpose: 'ads' }, 'purpose_not_granted'],
    ['request purpose differs from the token', TRAINING_JOB, { ...DATASET_REQUEST, purpose: 'ads' }, 'purpose_mismatch'],
    ['another team’s org unit', TRAINING_JOB, { ...DATASET_REQUEST, org_units: ['design'] }, 'org_unit_outside_grant'],
    ['a kind outside the grant', TRAINING_JOB, { ...DATASET_REQUEST, kinds: ['screenshot'] }, 'kind_outside_grant'],
  ];
  for (const [name, subject, request, reason] of denials) {
    it(`denies ${name} with the reason ${reason}`, async () => {
      const d = await policy.evaluate(datasetInput(subject as typeof TRAINING_JOB, request));
      assert.equal(d.allow, false);
      assert.equal(d.scope, undefined);
      assert.ok(d.reasons.includes(reason), `reasons were ${d.reasons}`);
    });
  }

  it('denies an input over the size cap without evaluating it', async () => {
    const d = await policy.evaluate(datasetInput(TRAINING_JOB, { ...DATASET_REQUEST, org_units: Array.from({ length: 10_000 }, (_, i) => `unit-${i}`) }));
    assert.deepEqual([d.allow, d.reasons], [false, ['policy_input_too_large']]);
  });
});

describe('a policy that misbehaves is a deny with the reason recorded', () => {
  let key: SigningKey;
  before(async () => {
    key = await newSigningKey();
  });

  it('a policy that throws: denied, the instance replaced, the next call evaluated afresh', async () => {
    const rego = `package vault.authz
import rego.v1
default decision := {"allow": false, "reasons": ["calm"]}
decision := {"allow": false, "reasons": ["one"]} if input.request.boom
decision := {"allow": false, "reasons": ["two"]} if input.request.boom
`;
    const policy = await evaluatorFor(key, 'throws', rego);
    const boom = await policy.evaluate(datasetInput(TRAINING_JOB, { boom: true }));
    assert.equal(boom.allow, false);
    assert.deepEqual(boom.reasons, ['policy_error']);
    assert.match(boom.fault ?? '', /conflict/);
    const calm = await policy.evaluate(datasetInput(TRAINING_JOB, {}));
    assert.deepEqual([calm.allow, calm.reasons, calm.fault], [false, ['calm'], undefined]);
  });

  it('a policy whose result is undefined: denied', async () => {
    const policy = await evaluatorFor(key, 'undefined', 'package vault.authz\nimport rego.v1\ndecision := {"allow": true} if input.never\n');
    const d = await policy.evaluate(datasetInput());
    assert.deepEqual([d.allow, d.reasons], [false, ['policy_undefined']]);
  });

  const malformed: Array<[string, string]> = [
    ['allow is not a boolean', 'decision := {"allow": "yes", "reasons": []}'],
    ['allow without a scope', 'decision := {"allow": true, "reasons": ["because"]}'],
    ['a scope of the wrong shape', 'decision := {"allow": true, "scope": {"org_units": "*", "kinds": ["click"], "max_sensitivity": 1, "from": "2026-01-01T00:00:00Z", "to": "2026-02-01T00:00:00Z"}}'],
    ['a result that is not an object', 'decision := true'],
  ];
  for (const [name, rule] of malformed) {
    it(`a malformed result (${name}): denied`, async () => {
      const policy = await evaluatorFor(key, `malformed-${malformed.findIndex(([n]) => n === name)}`, `package vault.authz\nimport rego.v1\n${rule}\n`);
      const d = await policy.evaluate(datasetInput());
      assert.deepEqual([d.allow, d.reasons, d.scope], [false, ['policy_result_malformed'], undefined]);
      assert.ok(d.fault);
    });
  }
});
