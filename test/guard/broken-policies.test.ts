import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { after, before, describe, it } from 'node:test';
import { insertActivation } from '../../src/db/index.js';
import { STORE } from '../support/database.js';
import { activateBundle, buildTestBundle, newSigningKey, shippedSources, stageBundle, trustedKeysFile, type SigningKey } from '../support/policies.js';
import { postRecords, putRoster, startTestVault, type TestVault } from '../support/vault.js';

const UNITS = ['engineering', 'design', 'support', 'sales', 'finance', 'legal', 'hr', 'marketing', 'operations', 'research'];
const KINDS: Record<string, number> = { keystroke: 2, prompt: 2, click: 0, mouse_move: 0, screenshot: 3, clipboard: 3 };
const WINDOW = { from: new Date(Date.now() - 30 * 86_400_000).toISOString(), to: new Date(Date.now() + 60_000).toISOString() };

interface Grant {
  org_units: string[];
  kinds: string[];
  max_sensitivity: number;
  purposes: string[];
}

/** A deliberately broken policy or grant, as a security engineer might write it under pressure. */
interface BrokenCase {
  readonly name: string;
  readonly rego?: (shipped: string) => string;
  readonly grants?: (shipped: Record<string, Grant>) => Record<string, Grant>;
}

function edit(source: string, from: string, to: string): string {
  assert.ok(source.includes(from), `the shipped policy no longer contains: ${from}`);
  return source.replace(from, to);
}

const ALLOW_EVERYTHING = JSON.stringify({
  allow: true,
  scope: { org_units: UNITS, kinds: Object.keys(KINDS), max_sensitivity: 3, from: '2000-01-01T00:00:00Z', to: '2100-01-01T00:00:00Z' },
  reasons: ['default_allow'],
});

const ROLE_WITHOUT_TEAM = `package vault.authz

import rego.v1

default decision := {"allow": false, "reasons": ["default_deny"]}

decision := {"allow": true, "scope": scope, "reasons": ["training_job"]} if {
	"training-job" in input.subject.roles
}

scope := {
	"org_units": object.get(input.request, "org_units", ["engineering"]),
	"kinds": object.get(input.request, "kinds", ["keystroke"]),
	"max_sensitivity": object.get(input.request, "max_sensitivity", 2),
	"from": input.request.from,
	"to": input.request.to,
}
`;

const CORPUS: BrokenCase[] = [
  {
    name: 'a wildcard org unit in a grant, honoured by the policy',
    grants: (g) => ({ ...g, 'team-autocomplete': { ...g['team-autocomplete']!, org_units: ['*'] } }),
    rego: (r) => edit(r, '\tnot u in grant.org_units\n', '\tnot u in grant.org_units\n\tnot "*" in grant.org_units\n'),
  },
  {
    name: 'default allow',
    rego: (r) =>
      edit(
        edit(r, 'default decision := {"allow": false, "reasons": ["default_deny"]}', `default decision := ${ALLOW_EVERYTHING}`),
        'decision := {"allow": false, "reasons": sort(deny_reasons)} if {\n\tcount(deny_reasons) > 0\n}',
        '',
      ),
  },
  {
    name: "a rule that ignores the token's team claim",
    rego: (r) => edit(r, 'granted_teams := {t | some t in teams; data.grants[t]}', 'granted_teams := {t | some t, _ in data.grants}'),
  },
  {
    name: 'a team granted every org unit',
    grants: (g) => ({ ...g, 'team-autocomplete': { ...g['team-autocomplete']!, org_units: UNITS } }),
  },
  {
    name: 'the sensitivity cap removed',
    rego: (r) =>
      edit(
        edit(r, '} else := grant.max_sensitivity', '} else := 4'),
        'deny_reasons contains "sensitivity_outside_grant" if max_sensitivity > grant.max_sensitivity',
        '',
      ),
  },
  {
    name: 'a grant that matches the empty team',
    grants: (g) => ({ ...g, '': { org_units: ['finance', 'hr'], kinds: Object.keys(KINDS), max_sensitivity: 3, purposes: ['autocomplete-model', 'ui-navigation-agent'] } }),
    rego: (r) => edit(r, 'teams := {t | some t in object.get(subject, "teams", []); is_string(t); t != ""}', 'teams := {t | some t in object.get(subject, "teams", []); is_string(t)}'),
  },
  { name: 'a role check without a team check', rego: () => ROLE_WITHOUT_TEAM },
  {
    name: 'a scope copied from the request',
    rego: (r) =>
      edit(
        edit(r, 'deny_reasons contains "org_unit_outside_grant" if {\n\tsome u in requested("org_units")\n\tnot u in grant.org_units\n}', ''),
        'deny_reasons contains "kind_outside_grant" if {\n\tsome k in requested("kinds")\n\tnot k in grant.kinds\n}',
        '',
      ),
  },
  {
    name: 'the purpose check removed',
    rego: (r) =>
      edit(
        edit(r, 'applicable_teams := {t | some t in granted_teams; purpose in data.grants[t].purposes}', 'applicable_teams := granted_teams'),
        'deny_reasons contains "purpose_mismatch" if {\n\tpurpose\n\trequest.purpose != purpose\n}',
        '',
      ),
  },
  {
    name: "a typo'd claim name (subject.purpse)",
    rego: (r) => edit(r, '\trequest.purpose != purpose\n', '\trequest.purpose != subject.purpse\n'),
  },
  {
    name: "a typo'd request field in the org unit check",
    rego: (r) => edit(r, '\tsome u in requested("org_units")\n', '\tsome u in requested("org_unit")\n'),
  },
  {
    name: "another team's org units pasted into a grant",
    grants: (g) => ({ ...g, 'team-autocomplete': { ...g['team-autocomplete']!, org_units: ['engineering', 'design', 'support', 'finance'] } }),
  },
];

interface Sent {
  unit: string;
  kind: string;
  sensitivity: number;
}

interface Token {
  label: string;
  sub: string;
  teams: string[];
  purpose?: string;
  requestPurpose: string;
}

const TOKENS: Token[] = [
  { label: 'team-autocomplete', sub: 'job-a', teams: ['team-autocomplete'], purpose: 'autocomplete-model', requestPurpose: 'autocomplete-model' },
  { label: 'team-ux-agents', sub: 'job-u', teams: ['team-ux-agents'], purpose: 'ui-navigation-agent', requestPurpose: 'ui-navigation-agent' },
  { label: "team-autocomplete with ux's purpose", sub: 'job-a2', teams: ['team-autocomplete'], purpose: 'ui-navigation-agent', requestPurpose: 'ui-navigation-agent' },
  { label: 'team-autocomplete asking for another purpose', sub: 'job-a3', teams: ['team-autocomplete'], purpose: 'autocomplete-model', requestPurpose: 'ui-navigation-agent' },
  { label: 'no team claim', sub: 'job-n', teams: [], purpose: 'autocomplete-model', requestPurpose: 'autocomplete-model' },
  { label: 'empty-string team', sub: 'job-e', teams: [''], purpose: 'autocomplete-model', requestPurpose: 'autocomplete-model' },
  { label: 'unknown team', sub: 'job-x', teams: ['team-unknown'], purpose: 'autocomplete-model', requestPurpose: 'autocomplete-model' },
  { label: 'no purpose claim', sub: 'job-p', teams: ['team-autocomplete'], requestPurpose: 'autocomplete-model' },
];

const REQUESTS: Array<Record<string, unknown>> = [
  {},
  { org_units: ['finance'] },
  { org_units: ['engineering', 'design', 'support', 'finance'] },
  { org_units: ['*'] },
  { kinds: ['screenshot', 'clipboard'], max_sensitivity: 3 },
  { max_sensitivity: 4 },
  { org_units: ['engineering'], kinds: ['keystroke'], max_sensitivity: 3 },
];

describe(`a corpus of broken policies and grants (${STORE})`, { timeout: 20 * 60_000 }, () => {
  let t: TestVault;
  let key: SigningKey;
  let legit: Record<string, Grant>;
  let shippedRego: string;
  const sent = new Map<string, Sent>();

  /** Every record any token can get, checked against the requesting team's legitimate grant. */
  async function reachOutsideLegitimateGrants(): Promise<{ granted: number; streamed: number; outside: string[] }> {
    let granted = 0;
    let streamed = 0;
    const outside: string[] = [];
    for (const token of TOKENS) {
      const bearer = await t.token('training-job', { sub: token.sub, teams: token.teams, ...(token.purpose ? { purpose: token.purpose } : {}) });
      for (const asked of REQUESTS) {
        const response = await t.app.inject({
          method: 'POST',
          url: '/v1/datasets',
          headers: { authorization: `Bearer ${bearer}` },
          payload: { purpose: token.requestPurpose, ...WINDOW, ...asked },
        });
        if (response.statusCode !== 201) {
          assert.ok([400, 401, 403].includes(response.statusCode), `${token.label} ${JSON.stringify(asked)}: ${response.statusCode} ${response.body}`);
          continue;
        }
        granted++;
        const lease = response.json();
        const body = (await t.app.inject({ url: `/v1/datasets/${lease.dataset_id}/records`, headers: { authorization: `Bearer ${bearer}` } })).body;
        const legitimate = token.teams.length === 1 && token.purpose === token.requestPurpose ? legit[token.teams[0]!] : undefined;
        for (const line of body.split('\n').filter(Boolean)) {
          streamed++;
          const record = sent.get(JSON.parse(line).payload.tag)!;
          const ok =
            legitimate !== undefined &&
            legitimate.purposes.includes(token.purpose!) &&
            legitimate.org_units.includes(record.unit) &&
            legitimate.kinds.includes(record.kind) &&
            record.sensitivity <= legitimate.max_sensitivity;
          if (!ok) outside.push(`${token.label} ${JSON.stringify(asked)} got ${JSON.stringify(record)}`);
        }
      }
    }
    return { granted, streamed, outside };
  }

  before(async () => {
    key = await newSigningKey();
    // Level-4 records are kept (encrypted, never exportable) so that the corpus can show none leaves.
    t = await startTestVault({ env: { VAULT_BUNDLE_KEYS_FILE: await trustedKeysFile(key), VAULT_STORE_LEVEL_4: 'true' } });
    const shipped = await shippedSources();
    legit = shipped.data.grants as Record<string, Grant>;
    shippedRego = shipped.rego;

    await putRoster(t, UNITS.flatMap((unit) => Array.from({ length: 10 }, (_, i) => ({ employee_id: `${unit}-${i}`, org_unit: unit }))));
    const records = [];
    for (const unit of UNITS) {
      for (let i = 0; i < 10; i++) {
        for (const [kind, floor] of Object.entries(KINDS)) {
          for (const sensitivity of new Set([floor, Math.min(floor + 1, 4), 4])) {
            const tag = randomUUID();
            sent.set(tag, { unit, kind, sensitivity });
            records.push({
              event_id: randomUUID(),
              employee_id: `${unit}-${i}`,
              captured_at: new Date(Date.now() - (1 + (records.length % 5)) * 86_400_000).toISOString(),
              kind,
              sensitivity,
              payload: { tag },
            });
          }
        }
      }
    }
    for (let i = 0; i < records.length; i += 2000) assert.equal((await postRecords(t, records.slice(i, i + 2000))).json().accepted, Math.min(2000, records.length - i));
  });
  after(() => t?.close());

  it('the shipped policy passes the pre-activation check and reaches only its grants', async () => {
    const archive = await buildTestBundle({ key, revision: 'legit-1' });
    const staged = await stageBundle(t, archive);
    assert.equal(staged.statusCode, 201, staged.body);
    assert.deepEqual(staged.json().diff.access.violations, []);
    const activated = await activateBundle(t, 'legit-1', 'alice');
    assert.equal(activated.statusCode, 200, activated.body);
    const reach = await reachOutsideLegitimateGrants();
    assert.ok(reach.granted > 0 && reach.streamed > 0);
    assert.deepEqual(reach.outside, []);
  });

  assert.ok(CORPUS.length >= 10);
  for (const [i, broken] of CORPUS.entries()) {
    it(`${broken.name}: activation is refused, and forced active it still reaches nothing outside a legitimate grant`, async () => {
      const revision = `broken-${i}`;
      const archive = await buildTestBundle({
        key,
        revision,
        rego: broken.rego ? broken.rego(shippedRego) : shippedRego,
        data: { grants: broken.grants ? broken.grants(structuredClone(legit)) : legit },
      });
      const staged = await stageBundle(t, archive, 'alice');
      assert.equal(staged.statusCode, 201, staged.body);
      assert.ok(staged.json().diff.access.violations.length > 0, 'staging shows the violations');

      // Even a second admin cannot activate it: invariants are not subject to approval.
      const refused = await activateBundle(t, revision, 'bob');
      assert.equal(refused.statusCode, 409, refused.body);
      assert.equal(refused.json().error, 'policy_rejected');
      assert.ok(refused.json().violations.length > 0);
      const { events } = await t.vault.audit.query({ action: 'policy.activate', decision: 'deny', limit: 1 });
      assert.equal(events[0]!.severity, 'high');
      assert.equal(events[0]!.policy_revision, revision);
      assert.ok(t.logs.some((l) => l.includes('"alarm":"activation_refused"') && l.includes(revision)));

      // Forced active behind the vault's back, straight into the database.
      await insertActivation(t.database.db, revision, 'mallory-with-database-access');
      await t.vault.policy.refresh();
      assert.equal(t.vault.policy.revision, revision);
      const reach = await reachOutsideLegitimateGrants();
      assert.deepEqual(reach.outside, [], `records outside a legitimate grant were served under ${revision}`);
    });
  }

  it('a denied scope breach is a high-severity audit event and an alarm line', async () => {
    const { events } = await t.vault.audit.query({ action: 'policy.decision', decision: 'deny', limit: 1000 });
    const breaches = events.filter((e) => e.details.alarm === 'scope_breach');
    assert.ok(breaches.length > 0);
    assert.ok(breaches.every((e) => e.severity === 'high' && typeof e.details.invariant === 'string' && e.policy_revision));
    assert.ok(t.logs.some((l) => l.includes('"alarm":"scope_breach"')));
  });
});
