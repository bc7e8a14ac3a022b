import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { findGrantViolations, type RosterReach } from '../../src/guard/index.js';
import { STORE } from '../support/database.js';
import { activateBundle, approveBundle, buildTestBundle, newSigningKey, shippedSources, stageBundle, trustedKeysFile, type SigningKey } from '../support/policies.js';
import { putRoster, startTestVault, type TestVault } from '../support/vault.js';

const GOOD = { org_units: ['eng'], kinds: ['click'], max_sensitivity: 1, purposes: ['nav'] };
const ROSTER: RosterReach = { enrolledByUnit: new Map([['eng', 10], ['sales', 10], ['ops', 10], ['hr', 70], ['empty', 0]]), totalEnrolled: 100 };

describe('every grant is judged on its own', () => {
  const reasonsOf = (grants: unknown, roster = ROSTER) => findGrantViolations(grants, roster, 0.2).map((v) => `${v.team}: ${v.reason}`);

  it('admits a well-formed grant within the fraction, one over units empty today, and no grants at all', () => {
    assert.deepEqual(reasonsOf({ 'team-a': GOOD, 'team.b_2': { ...GOOD, org_units: ['eng', 'sales'], max_sensitivity: 3 } }), []);
    assert.deepEqual(reasonsOf({ 'team-future': { ...GOOD, org_units: ['empty', 'not-enrolled-yet', 'eng/ml/research'] } }), []);
    assert.deepEqual(reasonsOf(undefined), []);
    assert.deepEqual(reasonsOf({}), []);
  });

  const cases: Array<[string, unknown, string[]]> = [
    ['an empty team name', { '': GOOD }, [': team_name_empty']],
    ['a blank team name', { '  ': GOOD }, ['  : team_name_empty']],
    ['a wildcard team', { '*': GOOD }, ['*: team_name_wildcard']],
    ['a team name with a wildcard', { 'team-?': GOOD, 'team-*': GOOD }, ['team-?: team_name_wildcard', 'team-*: team_name_wildcard']],
    ['a team name that is not an identifier', { 'team a': GOOD, '-team': GOOD, 'team/a': GOOD, '\u202eteam': GOOD, ['t'.repeat(129)]: GOOD }, ['team a: team_name_invalid', '-team: team_name_invalid', 'team/a: team_name_invalid', '\u202eteam: team_name_invalid', `${'t'.repeat(129)}: team_name_invalid`]],
    ['a grant over the fraction', { 'team-wide': { ...GOOD, org_units: ['eng', 'sales', 'ops'] } }, ['team-wide: grant_too_wide']],
    ['a grant over the fraction through one unit', { 'team-hr': { ...GOOD, org_units: ['hr'] } }, ['team-hr: grant_too_wide']],
    ['a wildcard org unit', { 'team-star': { ...GOOD, org_units: ['*'] } }, ['team-star: grant_names_every_unit']],
    ['a pattern org unit', { 'team-like': { ...GOOD, org_units: ['eng%'] }, 'team-glob': { ...GOOD, org_units: ['eng/*'] } }, ['team-like: grant_names_every_unit', 'team-glob: grant_names_every_unit']],
    ['"all" units', { 'team-all': { ...GOOD, org_units: ['ALL'] }, 'team-any': { ...GOOD, org_units: ['any_unit'] } }, ['team-all: grant_names_every_unit', 'team-any: grant_names_every_unit']],
    ['level 4', { 'team-hr': { ...GOOD, max_sensitivity: 4 } }, ['team-hr: grant_reaches_level_4']],
    ['a level above 4', { 'team-hr': { ...GOOD, max_sensitivity: 9 } }, ['team-hr: grant_reaches_level_4']],
    ['a wildcard kind', { 'team-k': { ...GOOD, kinds: ['*'] } }, ['team-k: grant_names_pattern']],
    ['a wildcard purpose', { 'team-p': { ...GOOD, purposes: ['*'] } }, ['team-p: grant_names_pattern']],
    ['a blank purpose', { 'team-p': { ...GOOD, purposes: [' '] } }, ['team-p: grant_names_pattern']],
    ['a grant that is not an object', { 'team-n': null, 'team-s': 'eng', 'team-l': [GOOD] }, ['team-n: grant_malformed', 'team-s: grant_malformed', 'team-l: grant_malformed']],
    ['grants that are not an object', [GOOD], ['undefined: grants_not_an_object']],
    ['null grants', null, ['undefined: grants_not_an_object']],
  ];
  for (const [name, grants, expected] of cases) {
    it(`refuses ${name}`, () => assert.deepEqual(reasonsOf(grants), expected));
  }

  const malformed: Array<[string, Record<string, unknown>, RegExp]> = [
    ['missing org_units', { kinds: ['click'], max_sensitivity: 1, purposes: ['nav'] }, /org_units is missing/],
    ['org_units as a string', { ...GOOD, org_units: 'eng' }, /org_units is a string, not a list of org units/],
    ['empty org_units', { ...GOOD, org_units: [] }, /org_units is empty/],
    ['a number among org_units', { ...GOOD, org_units: ['eng', 7] }, /org_units holds a number/],
    ['an org unit that is not one', { ...GOOD, org_units: ['eng/../hr'] }, /org_units "eng\/..\/hr" is not an org unit/],
    ['missing kinds', { ...GOOD, kinds: undefined }, /kinds is missing/],
    ['an object of purposes (Rego\'s `in` reads its values)', { ...GOOD, purposes: { a: 'nav' } }, /purposes is an object/],
    ['purposes as a string', { ...GOOD, purposes: 'nav' }, /purposes is a string/],
    ['a purpose with a bidi override', { ...GOOD, purposes: ['nav\u202e'] }, /purposes "nav\\u202e" hold control or invisible characters/],
    ['missing max_sensitivity (the policy then takes the request\'s)', { ...GOOD, max_sensitivity: undefined }, /max_sensitivity is missing/],
    ['max_sensitivity as a string (it compares above every number in Rego)', { ...GOOD, max_sensitivity: '2' }, /max_sensitivity is a string/],
    ['a fractional max_sensitivity', { ...GOOD, max_sensitivity: 2.5 }, /max_sensitivity is 2.5/],
    ['a negative max_sensitivity', { ...GOOD, max_sensitivity: -1 }, /below level 0/],
    ['a field the vault does not judge', { ...GOOD, all_units: true }, /unknown field "all_units"/],
  ];
  for (const [name, grant, detail] of malformed) {
    it(`refuses a malformed grant: ${name}`, () => {
      const found = findGrantViolations({ 'team-m': JSON.parse(JSON.stringify(grant)) }, ROSTER, 0.2);
      assert.deepEqual(found.map((v) => v.reason), ['grant_malformed']);
      assert.equal(found[0]!.team, 'team-m');
      assert.match(found[0]!.detail, detail);
    });
  }

  it('names every reason of one grant, and at the limit admits', () => {
    const found = findGrantViolations({ '*': { org_units: ['eng', 'sales', 'ops'], kinds: ['click'], max_sensitivity: 4, purposes: ['nav'] } }, ROSTER, 0.2);
    assert.deepEqual(found.map((v) => v.reason), ['team_name_wildcard', 'grant_too_wide', 'grant_reaches_level_4']);
    assert.match(found[1]!.detail, /reach 30 of 100 enrolled employees \(limit 0.2\)/);
    assert.deepEqual(reasonsOf({ 'team-a': { ...GOOD, org_units: ['eng', 'sales'] } }), []);
    assert.deepEqual(findGrantViolations({ 'team-a': { ...GOOD, org_units: ['eng', 'sales'] } }, ROSTER, 0.19).map((v) => v.reason), ['grant_too_wide']);
  });

  it('refuses a grant of every unit whatever today\'s roster holds, even an empty one', () => {
    const empty: RosterReach = { enrolledByUnit: new Map(), totalEnrolled: 0 };
    assert.deepEqual(reasonsOf({ 'team-star': { ...GOOD, org_units: ['*'] }, 'team-all': { ...GOOD, org_units: ['all'] } }, empty), ['team-star: grant_names_every_unit', 'team-all: grant_names_every_unit']);
    assert.deepEqual(reasonsOf({ 'team-a': { ...GOOD, org_units: ['eng', 'sales', 'ops'] } }, empty), [], 'the fraction is measured on today\'s roster');
  });
});

const UNITS = ['engineering', 'design', 'support', 'sales', 'finance', 'legal', 'hr', 'marketing', 'operations', 'research', 'data', 'security'];
const DORMANT = 'team-dormant';
const SALES = { org_units: ['sales'], kinds: ['click'], max_sensitivity: 1, purposes: ['sales-model'] };

describe(`grants are judged at activation whether a subject reaches them today or not (${STORE})`, () => {
  let t: TestVault;
  let key: SigningKey;
  let shipped: { rego: string; grants: Record<string, unknown> };
  let activeRevision: string | undefined;

  /** The shipped policy that never serves `team-dormant`: one edit away from serving it. */
  const dormantRego = () => {
    const from = 'granted_teams := {t | some t in teams; data.grants[t]}';
    assert.ok(shipped.rego.includes(from));
    return shipped.rego.replace(from, `granted_teams := {t | some t in teams; data.grants[t]; t != "${DORMANT}"}`);
  };

  before(async () => {
    key = await newSigningKey();
    t = await startTestVault({ env: { VAULT_BUNDLE_KEYS_FILE: await trustedKeysFile(key) } });
    // 120 employees in 12 units of 10: the shipped grants reach 10 and 20 (limit 0.2 x 120 = 24).
    await putRoster(t, UNITS.flatMap((unit) => Array.from({ length: 10 }, (_, i) => ({ employee_id: `${unit}-${i}`, org_unit: unit }))));
    const sources = await shippedSources();
    shipped = { rego: sources.rego, grants: sources.data.grants as Record<string, unknown> };
  });
  after(() => t?.close());

  it('the shipped grants still stage clean and activate', async () => {
    const staged = await stageBundle(t, await buildTestBundle({ key, revision: 'grants-shipped' }));
    assert.equal(staged.statusCode, 201, staged.body);
    assert.deepEqual(staged.json().diff.access.violations, []);
    const activated = await activateBundle(t, 'grants-shipped');
    assert.equal(activated.statusCode, 200, activated.body);
    activeRevision = t.vault.policy.revision;
    assert.equal(activeRevision, 'grants-shipped');
  });

  const refused: Array<{ name: string; team: string; grant: unknown; dormant?: true; expected: RegExp[] }> = [
    { name: 'an empty team name', team: '', grant: SALES, expected: [/^grant "": team_name_empty: the team name is empty/] },
    { name: 'a wildcard team', team: '*', grant: SALES, expected: [/^grant "\*": team_name_wildcard: the team name is a pattern/] },
    { name: 'a team name with a wildcard', team: 'team-?', grant: SALES, expected: [/^grant "team-\?": team_name_wildcard/] },
    { name: 'a team name that is not an identifier', team: 'team sales', grant: SALES, expected: [/^grant "team sales": team_name_invalid: the team name is not a team identifier/] },
    {
      name: 'a grant over the fraction that the policy does not serve today',
      team: DORMANT,
      dormant: true,
      grant: { ...SALES, org_units: ['sales', 'finance', 'legal'] },
      expected: [/^grant "team-dormant": grant_too_wide: org_units reach 30 of 120 enrolled employees \(limit 0.2\)$/],
    },
    {
      name: 'a level-4 grant that the policy does not serve today',
      team: DORMANT,
      dormant: true,
      grant: { ...SALES, max_sensitivity: 4 },
      expected: [/^grant "team-dormant": grant_reaches_level_4: max_sensitivity 4 reaches level 4/],
    },
    {
      name: 'a grant of "all" units, which no one is enrolled in today',
      team: 'team-everyone',
      grant: { ...SALES, org_units: ['all'] },
      expected: [/^grant "team-everyone": grant_names_every_unit: org_units "all" reads as every org unit: all 120 enrolled employees and everyone enrolled later$/],
    },
    {
      name: 'a wildcard org unit that the policy does not serve today',
      team: DORMANT,
      dormant: true,
      grant: { ...SALES, org_units: ['*'] },
      expected: [/^grant "team-dormant": grant_names_every_unit/],
    },
    { name: 'purposes as a string', team: 'team-malformed', grant: { ...SALES, purposes: 'sales-model' }, expected: [/^grant "team-malformed": grant_malformed: purposes is a string, not a list of purposes$/] },
    { name: 'a missing max_sensitivity', team: 'team-malformed', grant: { org_units: ['sales'], kinds: ['click'], purposes: ['sales-model'] }, expected: [/^grant "team-malformed": grant_malformed: max_sensitivity is missing$/] },
    { name: 'max_sensitivity as a string', team: 'team-malformed', grant: { ...SALES, max_sensitivity: '1' }, expected: [/^grant "team-malformed": grant_malformed: max_sensitivity is a string/] },
    { name: 'a field the vault does not judge', team: 'team-malformed', grant: { ...SALES, any_unit: true }, expected: [/^grant "team-malformed": grant_malformed: unknown field "any_unit"/] },
  ];

  for (const [i, c] of refused.entries()) {
    it(`${c.name}: staging reports it, approval and activation are refused (409, named, audited, alarmed)`, async () => {
      const revision = `grants-bad-${i}`;
      const archive = await buildTestBundle({ key, revision, ...(c.dormant ? { rego: dormantRego() } : {}), data: { grants: { ...shipped.grants, [c.team]: c.grant } } });
      const staged = await stageBundle(t, archive);
      assert.equal(staged.statusCode, 201, staged.body);
      const reported: string[] = staged.json().diff.access.violations;
      for (const e of c.expected) assert.ok(reported.some((v) => e.test(v)), `staging diff lacks ${e}:\n${reported.join('\n')}`);

      const approval = await approveBundle(t, revision, 'bob');
      assert.equal(approval.statusCode, 409, approval.body);
      assert.equal(approval.json().error, 'policy_rejected');

      const response = await activateBundle(t, revision, 'alice');
      assert.equal(response.statusCode, 409, response.body);
      assert.equal(response.json().error, 'policy_rejected');
      const violations: string[] = response.json().violations;
      for (const e of c.expected) assert.ok(violations.some((v) => e.test(v)), `activation lacks ${e}:\n${violations.join('\n')}`);

      const { events } = await t.vault.audit.query({ action: 'policy.activate', decision: 'deny', limit: 1 });
      assert.equal(events[0]!.severity, 'high');
      assert.equal(events[0]!.policy_revision, revision);
      assert.equal(events[0]!.details.reason, 'invariant_violations');
      assert.ok((events[0]!.details.violations as string[]).some((v) => c.expected[0]!.test(v)));
      assert.ok(t.logs.some((l) => l.includes('"alarm":"activation_refused"') && l.includes(revision)));
      assert.equal(t.vault.policy.revision, activeRevision, 'the revision in force stays');
    });
  }

  it('a grant over units no one is enrolled in today passes the judgment, and is growth a second admin approves', async () => {
    const revision = 'grants-future-unit';
    const archive = await buildTestBundle({ key, revision, data: { grants: { ...shipped.grants, 'team-future': { ...SALES, org_units: ['not-enrolled-yet'] } } } });
    const staged = await stageBundle(t, archive);
    assert.equal(staged.statusCode, 201, staged.body);
    assert.deepEqual(staged.json().diff.access.violations, []);
    assert.ok(staged.json().diff.access.growth.some((g: string) => g.startsWith('team team-future grant widens')));
    assert.equal((await approveBundle(t, revision, 'bob')).statusCode, 200);
    const activated = await activateBundle(t, revision, 'alice');
    assert.equal(activated.statusCode, 200, activated.body);
    assert.equal(t.vault.policy.revision, revision);
  });
});
