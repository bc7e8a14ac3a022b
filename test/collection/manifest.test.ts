import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { after, before, describe, it } from 'node:test';
import { sql } from 'kysely';
import { DEFAULT_RECORD_KINDS } from '../../src/config/index.js';
import { STORE } from '../support/database.js';
import { dumpAllTablesAsText } from '../support/records.js';
import { postRecords, putRoster, startTestVault, type TestVault } from '../support/vault.js';

const AT = Date.parse('2026-11-25T10:00:00Z');
const MARKER = `manifest-marker-${randomUUID()}`;

function record(employee: string, kind: string, payload: Record<string, unknown>, i = 0) {
  return { event_id: randomUUID(), employee_id: employee, captured_at: new Date(AT + i * 1000).toISOString(), kind, payload: { ...payload, marker: MARKER, tracer: `tracer-marker-${randomUUID()}` } };
}

const terms = (extra: Record<string, unknown> = {}) => ({ purposes: ['ai-agent-training'], retention_days: 180, ...extra });

/** Every rule of the manifest below, with records it must drop and look-alikes it must keep. */
const MANIFEST = {
  kinds: {
    keystroke: terms({ excluded_contexts: { titles: ['*payroll*'] } }),
    click: terms(),
    screenshot: terms({ excluded_regions: ['eu-*'] }),
  },
  excluded_contexts: {
    apps: ['WhatsApp', '1Password'],
    domains: ['whatsapp.com', '*.bank.example', 'irs.gov'],
    titles: ['*medical record*', 'Inbox - Personal*'],
  },
};

const CASES: Array<[string, ReturnType<typeof record>, string | undefined]> = [
  ['a kind the manifest does not declare', record('eu-1', 'clipboard', { text: 'copied' }), 'not_in_manifest'],
  ['an excluded app, any case and spacing', record('eu-1', 'keystroke', { app: '  whatsapp ', text: 'hi' }), 'excluded_context'],
  ['an excluded app by its other field name', record('eu-1', 'click', { application: '1PASSWORD', x: 1 }), 'excluded_context'],
  ['a subdomain of an excluded domain', record('eu-1', 'click', { url: 'https://web.WhatsApp.com/chat/123' }), 'excluded_context'],
  ['an excluded domain with a trailing dot and a port', record('eu-1', 'click', { url: 'https://irs.gov.:443/forms' }), 'excluded_context'],
  ['a bare host in `domain`', record('eu-1', 'click', { domain: 'www.irs.gov' }), 'excluded_context'],
  ['a subdomain under a `*.` rule', record('eu-1', 'click', { url: 'https://login.bank.example/' }), 'excluded_context'],
  ['a title glob', record('eu-1', 'keystroke', { window_title: 'My Medical Record - Portal', text: 'x' }), 'excluded_context'],
  ['a title glob anchored at the start', record('eu-1', 'click', { title: 'Inbox - Personal (3)' }), 'excluded_context'],
  ["a kind's own title rule", record('eu-1', 'keystroke', { window_title: 'Q3 Payroll.xlsx', text: 'x' }), 'excluded_context'],
  ['a kind not collected in the employee region', record('eu-1', 'screenshot', { image: 'AAAA' }), 'excluded_context'],
  ['the same kind for an employee elsewhere', record('us-1', 'screenshot', { image: 'AAAA' }), undefined],
  ['a look-alike domain', record('eu-1', 'click', { url: 'https://notwhatsapp.com/' }), undefined],
  ['an excluded domain as a prefix of another', record('eu-1', 'click', { url: 'https://whatsapp.com.evil.example/' }), undefined],
  ['the apex of a `*.` rule', record('eu-1', 'click', { url: 'https://bank.example/' }), undefined],
  ['an app whose name has an excluded one as a word', record('eu-1', 'click', { app: 'WhatsApp Beta' }), 'excluded_context'],
  ['an excluded app as a bundle id or an executable', record('eu-1', 'click', { app: 'Signal.exe', application: 'net.whatsapp.WhatsApp' }), 'excluded_context'],
  ['an excluded app in the second of two fields', record('eu-1', 'click', { app: 'Chrome', application: '1Password 8' }), 'excluded_context'],
  ['an excluded app with a zero-width space inside', record('eu-1', 'click', { app: 'What\u200bsApp' }), 'excluded_context'],
  ['an excluded domain inside a blob: URL', record('eu-1', 'click', { url: 'blob:https://web.whatsapp.com/1f2e' }), 'excluded_context'],
  ['an excluded domain in a protocol-relative URL', record('eu-1', 'click', { url: '//web.whatsapp.com/x' }), 'excluded_context'],
  ['an excluded domain in a URL padded past 8 KB', record('eu-1', 'click', { url: `https://web.whatsapp.com/?q=${'x'.repeat(9000)}` }), 'excluded_context'],
  ['an excluded domain in the second field', record('eu-1', 'click', { url: 'https://example.com/', domain: 'whatsapp.com' }), 'excluded_context'],
  ['a context field that is not text', record('eu-1', 'click', { app: { name: 'Signal' } }), 'excluded_context'],
  ['an app whose name holds an excluded one inside a word', record('eu-1', 'click', { app: 'NotWhatsApp Studio' }), undefined],
  ["another kind's title rule", record('eu-1', 'click', { title: 'Q3 Payroll.xlsx' }), undefined],
  ['a title that does not match from its start', record('eu-1', 'click', { title: 'Re: Inbox - Personal' }), undefined],
  ['no context at all', record('eu-1', 'keystroke', { text: 'plain work' }), undefined],
];

describe(`the collection manifest decides what is stored (${STORE})`, () => {
  let t: TestVault;
  let officer: string;

  before(async () => {
    // Version 1 (the default manifest) keeps every kind 1,000 days, so a version keeping keystrokes 3,650 widens it.
    t = await startTestVault({ env: { VAULT_RECORD_KINDS: DEFAULT_RECORD_KINDS.split(',').map((k) => `${k}:1000`).join(',') } });
    await putRoster(t, [
      { employee_id: 'eu-1', org_unit: 'engineering', region: 'eu-west' },
      { employee_id: 'us-1', org_unit: 'engineering', region: 'us-east' },
      { employee_id: 'late-1', org_unit: 'engineering', region: 'us-east' },
    ]);
    officer = await t.token('privacy-officer', { sub: 'dpo-1' });
  });
  after(() => t.close());

  const put = async (body: unknown, token = officer) => t.app.inject({ method: 'PUT', url: '/v1/collection/manifest', headers: { authorization: `Bearer ${token}` }, payload: body as object });
  const get = async (url: string, token: string) => t.app.inject({ method: 'GET', url, headers: { authorization: `Bearer ${token}` } });

  it('starts from the default manifest: every configured kind, messaging, tax, health and password managers excluded', async () => {
    const view = (await get('/v1/collection/manifest', await t.token('employee', { sub: 'eu-1' }))).json();
    assert.equal(view.version, 1);
    assert.deepEqual(Object.keys(view.manifest.kinds).sort(), [...t.config.recordKinds.keys()].sort());
    for (const app of ['WhatsApp', 'Signal', 'TurboTax', 'MyChart', '1Password']) assert.ok(view.manifest.excluded_contexts.apps.includes(app), app);
    assert.ok(view.plain_language.some((line: string) => line.includes('Nothing is captured while you use')));
    const dropped = (await postRecords(t, [record('us-1', 'keystroke', { app: 'Signal', text: 'hi' }), record('us-1', 'keystroke', { url: 'https://www.turbotax.intuit.com/x', text: 'w2' })])).json();
    assert.deepEqual(dropped.dropped.map((d: { reason: string }) => d.reason), ['excluded_context', 'excluded_context']);
  });

  it('stores a new version, audited with its diff', async () => {
    const response = await put({ ...MANIFEST, base_version: 1 });
    assert.equal(response.statusCode, 200, response.body);
    assert.equal(response.json().version, 2);
    assert.deepEqual(response.json().diff.kinds_removed.sort(), ['clipboard', 'mouse_move', 'prompt', 'scroll', 'window_focus']);
    assert.deepEqual(response.json().diff.needs_fresh_consent, []);
    await t.vault.audit.sequenced();
    const [event] = (await t.vault.audit.query({ action: 'collection.manifest', limit: 1 })).events;
    assert.equal(event!.actor, 'dpo-1');
    assert.equal(event!.details.version, 2);
    assert.ok((event!.details.diff as { kinds_removed: string[] }).kinds_removed.includes('clipboard'));
    assert.equal((await put({ ...MANIFEST })).json().unchanged, true, 'the same document is not a new version');
    const stale = await put({ ...MANIFEST, kinds: { click: terms() }, base_version: 1 });
    assert.equal(stale.statusCode, 409, 'base_version guards against a lost update');
  });

  for (const [name, input, reason] of CASES) {
    it(`${reason ? `drops (${reason})` : 'keeps'} ${name}`, async () => {
      const result = (await postRecords(t, [input])).json();
      assert.deepEqual(result.dropped, reason ? [{ index: 0, reason }] : []);
      assert.equal(result.accepted, reason ? 0 : 1);
      const { rows } = await sql<{ n: number }>`select count(*)::int as n from activity_records where event_id = ${input.event_id}::uuid`.execute(t.database.db);
      assert.equal(rows[0]!.n, reason ? 0 : 1);
    });
  }

  it('keeps nothing of a dropped record anywhere in the database', async () => {
    const dump = await dumpAllTablesAsText(t.database.db);
    assert.ok(!dump.includes(MARKER), 'a payload reached the database in clear');
    for (const [name, r, reason] of CASES) if (reason) assert.ok(!dump.includes(r.payload.tracer), `${name}: its payload reached the database`);
  });

  it('refuses a malformed manifest whole, naming the field, and keeps the version in force', async () => {
    const bad: unknown[] = [
      {},
      { kinds: { keystroke: terms({ retention_days: 0 }) } },
      { kinds: { keystroke: terms({ retention_days: 3651 }) } },
      { kinds: { keystroke: terms({ purposes: [] }) } },
      { kinds: { keystroke: terms({ purposes: ['Not A Purpose'] }) } },
      { kinds: { teleport: terms() } },
      { kinds: { keystroke: terms({ excluded_contexts: { domains: ['not a domain'] } }) } },
      { kinds: { keystroke: terms({ excluded_regions: ['eu west'] }) } },
      { kinds: { keystroke: terms() }, excluded_contexts: { apps: ['a\u0000b'] } },
      { kinds: { keystroke: terms() }, excluded_contexts: { apps: Array.from({ length: 501 }, (_, i) => `app-${i}`) } },
      { kinds: { keystroke: terms() }, surprise: true },
    ];
    for (const body of bad) assert.equal((await put(body)).statusCode, 400, JSON.stringify(body).slice(0, 80));
    assert.equal((await put(MANIFEST, await t.token('security-admin'))).statusCode, 403);
    assert.equal((await get('/v1/collection/manifest', officer)).json().version, 2);
  });

  it('drops what an employee has not consented to once a version adds a kind, widens retention or a purpose', async () => {
    const widened = {
      ...MANIFEST,
      kinds: {
        ...MANIFEST.kinds,
        keystroke: terms({ retention_days: 3650, excluded_contexts: { titles: ['*payroll*'] } }),
        click: terms({ purposes: ['ai-agent-training', 'productivity-analytics'] }),
        prompt: terms(),
        screenshot: terms({ retention_days: 30, excluded_regions: ['eu-*'] }),
      },
    };
    const stored = (await put(widened)).json();
    assert.equal(stored.version, 3);
    assert.deepEqual(stored.diff.needs_fresh_consent.sort(), ['click', 'keystroke', 'prompt']);
    const batch = [record('us-1', 'keystroke', { text: 'a' }), record('us-1', 'click', { x: 1 }), record('us-1', 'prompt', { text: 'p' }), record('us-1', 'screenshot', { image: 'B' })];
    const result = (await postRecords(t, batch)).json();
    // us-1 consented to version 1, which declared prompts on the same terms as version 3 does.
    assert.deepEqual(result.dropped, [
      { index: 0, reason: 'not_consented' },
      { index: 1, reason: 'not_consented' },
    ]);
    assert.equal(result.accepted, 2, 'a shorter retention, or terms consented to before, need no fresh consent');

    const us1 = await t.token('employee', { sub: 'us-1' });
    const consent = (await get('/v1/employees/us-1/consent', us1)).json();
    assert.equal(consent.consented_version, 1);
    assert.equal(consent.manifest_version, 3);
    assert.deepEqual(consent.kinds_needing_consent.sort(), ['click', 'keystroke']);
    assert.deepEqual(consent.kinds_consented.sort(), ['prompt', 'screenshot']);

    const renewed = await t.app.inject({
      method: 'PUT',
      url: '/v1/employees',
      headers: { authorization: `Bearer ${officer}` },
      payload: { employees: [{ employee_id: 'us-1', org_unit: 'engineering', region: 'us-east', enrolled: true, consent: { manifest_version: 3, consented_at: new Date().toISOString() } }] },
    });
    assert.equal(renewed.statusCode, 200, renewed.body);
    const again = (await postRecords(t, batch.map((r) => ({ ...r, event_id: randomUUID() })))).json();
    assert.deepEqual(again.dropped, []);
    assert.equal(again.accepted, 4);
    assert.equal((await get('/v1/employees/us-1/consent', us1)).json().kinds_needing_consent.length, 0);
  });

  it('records enrolment as consent to the version in force, and refuses consent to a version that does not exist', async () => {
    await putRoster(t, [{ employee_id: 'new-1', org_unit: 'engineering', region: 'us-east' }]);
    const consent = (await get('/v1/employees/new-1/consent', officer)).json();
    assert.equal(consent.consented_version, 3);
    for (const c of [{ manifest_version: 99, consented_at: new Date().toISOString() }, { manifest_version: 1, consented_at: '2999-01-01T00:00:00Z' }, { manifest_version: 1 }]) {
      const response = await t.app.inject({
        method: 'PUT',
        url: '/v1/employees',
        headers: { authorization: `Bearer ${officer}` },
        payload: { employees: [{ employee_id: 'late-1', org_unit: 'engineering', region: 'us-east', enrolled: true, consent: c }] },
      });
      assert.equal(response.statusCode, 400, JSON.stringify(c));
    }
    assert.equal((await get('/v1/employees/late-1/consent', officer)).json().consented_version, 1, 'a refused upsert changed nothing');
  });
});
