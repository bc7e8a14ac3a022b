import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { findInvariantBreach, type BlastRadiusLimits, type GuardScope, type GuardSubject } from '../../src/guard/index.js';

const GRANTS = {
  'team-a': { org_units: ['eng', 'ghost'], kinds: ['keystroke', 'prompt'], max_sensitivity: 2, purposes: ['autocomplete'] },
  'team-wide': { org_units: ['eng', 'sales', 'ops'], kinds: ['click'], max_sensitivity: 1, purposes: ['nav'] },
  'team-star': { org_units: ['*'], kinds: ['click'], max_sensitivity: 1, purposes: ['nav'] },
};
const ROSTER = { enrolledByUnit: new Map([['eng', 10], ['sales', 10], ['ops', 10], ['hr', 70], ['empty', 0]]), totalEnrolled: 100 };
const LIMITS: BlastRadiusLimits = { grants: GRANTS, roster: ROSTER, maxScopeFraction: 0.2, requestPurpose: 'autocomplete' };
const JOB: GuardSubject = { roles: ['training-job'], teams: ['team-a'], purpose: 'autocomplete' };
const SCOPE: GuardScope = { orgUnits: ['eng'], kinds: ['keystroke'], maxSensitivity: 2 };

describe('invariants no policy can switch off', () => {
  it('admits a scope within the token team\'s own grant', () => {
    assert.equal(findInvariantBreach(JOB, SCOPE, LIMITS), undefined);
  });

  const cases: Array<[string, GuardSubject, GuardScope, Partial<BlastRadiusLimits>, string, string]> = [
    ['no training-job role', { ...JOB, roles: ['auditor'] }, SCOPE, {}, 'ERR_SUBJECT_INCOMPLETE', 'not_training_job'],
    ['no teams claim', { ...JOB, teams: [] }, SCOPE, {}, 'ERR_SUBJECT_INCOMPLETE', 'no_team_claim'],
    ['an empty-string team', { ...JOB, teams: ['team-a', ''] }, SCOPE, {}, 'ERR_SUBJECT_INCOMPLETE', 'no_team_claim'],
    ['no purpose claim', { ...JOB, purpose: undefined }, SCOPE, {}, 'ERR_SUBJECT_INCOMPLETE', 'no_purpose_claim'],
    ['a request purpose that is not the token\'s', JOB, SCOPE, { requestPurpose: 'nav' }, 'ERR_SUBJECT_INCOMPLETE', 'purpose_not_the_tokens'],
    ['sensitivity 4', JOB, { ...SCOPE, maxSensitivity: 4 }, {}, 'ERR_SENSITIVITY_FORBIDDEN', 'sensitivity_never_exported'],
    ['no org unit', JOB, { ...SCOPE, orgUnits: [] }, {}, 'ERR_SCOPE_NOT_EXPLICIT', 'no_org_units'],
    ['a wildcard org unit', JOB, { ...SCOPE, orgUnits: ['*'] }, {}, 'ERR_SCOPE_NOT_EXPLICIT', 'wildcard_scope'],
    ['a pattern org unit', JOB, { ...SCOPE, orgUnits: ['eng%'] }, {}, 'ERR_SCOPE_NOT_EXPLICIT', 'wildcard_scope'],
    ['an org unit of the grant that is not on the roster', JOB, { ...SCOPE, orgUnits: ['ghost'] }, {}, 'ERR_SCOPE_NOT_EXPLICIT', 'org_unit_not_on_roster'],
    ['a unit outside the grant', JOB, { ...SCOPE, orgUnits: ['eng', 'sales'] }, {}, 'ERR_SCOPE_OUTSIDE_GRANT', 'scope_outside_grant'],
    ['a kind outside the grant', JOB, { ...SCOPE, kinds: ['screenshot'] }, {}, 'ERR_SCOPE_OUTSIDE_GRANT', 'scope_outside_grant'],
    ['a sensitivity above the grant', JOB, { ...SCOPE, maxSensitivity: 3 }, {}, 'ERR_SCOPE_OUTSIDE_GRANT', 'scope_outside_grant'],
    ['another team\'s grant', { ...JOB, teams: ['team-b'] }, SCOPE, {}, 'ERR_SCOPE_OUTSIDE_GRANT', 'scope_outside_grant'],
    ['a grant for another purpose', { ...JOB, purpose: 'nav' }, SCOPE, { requestPurpose: 'nav' }, 'ERR_SCOPE_OUTSIDE_GRANT', 'scope_outside_grant'],
    ['a scope over the fraction', { ...JOB, teams: ['team-wide'], purpose: 'nav' }, { orgUnits: ['eng', 'sales', 'ops'], kinds: ['click'], maxSensitivity: 1 }, { requestPurpose: 'nav' }, 'ERR_SCOPE_TOO_WIDE', 'scope_too_wide'],
    ['a narrow scope from a grant over the fraction', { ...JOB, teams: ['team-wide'], purpose: 'nav' }, { orgUnits: ['eng'], kinds: ['click'], maxSensitivity: 1 }, { requestPurpose: 'nav' }, 'ERR_SCOPE_TOO_WIDE', 'grant_too_wide'],
    ['a scope under a wildcard grant', { ...JOB, teams: ['team-star'], purpose: 'nav' }, { orgUnits: ['eng'], kinds: ['click'], maxSensitivity: 1 }, { requestPurpose: 'nav' }, 'ERR_SCOPE_OUTSIDE_GRANT', 'scope_outside_grant'],
  ];
  for (const [name, subject, scope, limits, code, reason] of cases) {
    it(`denies ${name} (${code}, ${reason})`, () => {
      const found = findInvariantBreach(subject, scope, { ...LIMITS, ...limits });
      assert.equal(found?.code, code);
      assert.equal(found?.reason, reason);
    });
  }

  it('measures the fraction against enrolled employees only, and at the limit admits', () => {
    const atLimit = { enrolledByUnit: new Map([['eng', 20], ['hr', 80]]), totalEnrolled: 100 };
    assert.equal(findInvariantBreach(JOB, SCOPE, { ...LIMITS, roster: atLimit }), undefined);
    const over = { enrolledByUnit: new Map([['eng', 21], ['hr', 79]]), totalEnrolled: 100 };
    assert.equal(findInvariantBreach(JOB, SCOPE, { ...LIMITS, roster: over })?.reason, 'scope_too_wide');
  });
});
