import { randomUUID } from 'node:crypto';
import fs from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { loadDevSigningKey, type Role } from '../auth/index.js';
import { VaultClient, VaultClientError, type DatasetRecord } from '../client/index.js';
import { loadConfig, type VaultConfig } from '../config/index.js';
import { buildHttpServer } from '../http/index.js';
import type { VaultServices } from '../services/index.js';
import { accessReportText } from './audit.js';
import { table } from './output.js';

const ORG_UNITS = ['engineering', 'design', 'support', 'sales', 'finance', 'legal', 'hr', 'marketing', 'operations', 'research'];
const EMPLOYEES_PER_UNIT = 10;
const DAYS = 7;

export interface DemoOptions {
  /** Where the embedded database and keys live; default: a temporary directory removed afterwards. */
  readonly dataDir?: string;
  readonly recordsPerEmployee?: number;
  readonly write?: (text: string) => void;
}

/** Builds the throwaway vault (the CLI entry passes the composition root's `openVault`). */
export type OpenDemoVault = (config: VaultConfig) => Promise<{ readonly services: VaultServices; close(): Promise<void> }>;

export interface DemoSummary {
  readonly ingested: number;
  readonly markerFoundInStore: number;
  readonly granted: { readonly dataset_id: string; readonly record_count: number; readonly employee_count: number; readonly org_units: string[] };
  readonly streamed: number;
  readonly streamedOutsideGrant: number;
  readonly denied: { readonly status: number; readonly error: string; readonly decision_id: string };
  readonly foreignStream: { readonly status: number; readonly error: string };
  readonly auditEvents: number;
  readonly auditIntact: boolean;
  /** The pause step: what the agent was told, and what became of records captured inside the pause. */
  readonly pause: { readonly statusReason: string | null; readonly accepted: number; readonly dropped: readonly string[] };
}

function payloadFor(kind: string, i: number, marker: string): unknown {
  switch (kind) {
    case 'keystroke':
      return { app: 'vscode', text: `const total = items.reduce((a, b) => a + b, ${i}); // ${marker}` };
    case 'prompt':
      return { app: 'assistant', text: `summarise the Q${(i % 4) + 1} incident review for my manager ${marker}` };
    case 'click':
      return { app: 'browser', x: (i * 37) % 1920, y: (i * 53) % 1080, target: 'button#submit', note: marker };
    case 'mouse_move':
      return { app: 'browser', path: [[i % 1920, i % 1080], [(i + 40) % 1920, (i + 25) % 1080]], note: marker };
    default:
      return { app: 'desktop', png_base64: Buffer.from(`fake-screenshot-${i}-${marker}`).toString('base64') };
  }
}

/**
 * The whole story on an embedded vault, through its real HTTP API: a roster and encrypted records,
 * a team's permitted dataset streamed, a request outside the grant denied, and the audit trail.
 */
export async function runDemo(openDemoVault: OpenDemoVault, options: DemoOptions = {}): Promise<DemoSummary> {
  const write = options.write ?? ((text: string) => process.stdout.write(`${text}\n`));
  const perEmployee = options.recordsPerEmployee ?? 40;
  const temporary = options.dataDir === undefined;
  const dataDir = options.dataDir ?? (await fs.mkdtemp(path.join(os.tmpdir(), 'activity-vault-demo-')));
  const started = Date.now();
  const step = (title: string) => write(`\n== ${title}  (+${((Date.now() - started) / 1000).toFixed(1)} s)`);

  const config = loadConfig({ VAULT_DATA_DIR: dataDir, VAULT_ENV: 'development', VAULT_LOG_LEVEL: 'silent' });
  const vault = await openDemoVault(config);
  const app = await buildHttpServer(vault.services, { logger: false });
  try {
    await app.listen({ host: '127.0.0.1', port: 0 });
    const url = `http://127.0.0.1:${(app.server.address() as { port: number }).port}`;
    const dev = await loadDevSigningKey(dataDir);
    const token = (sub: string, role: Role, extra: { teams?: string[]; purpose?: string } = {}) =>
      dev.sign({ sub, roles: [role], ...extra, issuer: config.jwt.issuer, audience: config.jwt.audience, ttlSeconds: 3600 });
    const clientAs = async (sub: string, role: Role) => new VaultClient({ url, token: await token(sub, role) });

    const facts = vault.services.facts();
    write(`activity-vault demo: an embedded vault in ${dataDir}`);
    write(`KEK ${facts.kekId}, ${facts.aead}; active policy revision ${facts.policyRevision ?? 'none'}`);

    step(`1. A privacy officer enrols ${ORG_UNITS.length * EMPLOYEES_PER_UNIT} employees in ${ORG_UNITS.length} org units`);
    const employees = ORG_UNITS.flatMap((unit) =>
      Array.from({ length: EMPLOYEES_PER_UNIT }, (_, i) => ({ employee_id: `${unit}-${String(i + 1).padStart(2, '0')}`, org_unit: unit, region: i % 2 ? 'eu' : 'us', enrolled: true })),
    );
    await (await clientAs('privacy-office', 'privacy-officer')).upsertRoster(employees);
    write(ORG_UNITS.map((u) => `${u} ${EMPLOYEES_PER_UNIT}`).join(', '));

    step(`2. A capture agent sends ${(employees.length * perEmployee).toLocaleString('en-US')} records, each sealed under its employee's data key`);
    const marker = `demo-secret-${randomUUID()}`;
    const kinds = ['keystroke', 'prompt', 'click', 'mouse_move', 'screenshot'];
    const now = Date.now();
    const windowStart = new Date(now - DAYS * 86_400_000);
    const records = employees.flatMap((e, ei) =>
      Array.from({ length: perEmployee }, (_, k) => {
        const kind = kinds[(ei + k) % kinds.length]!;
        return {
          event_id: randomUUID(),
          employee_id: e.employee_id,
          captured_at: new Date(windowStart.getTime() + ((ei * perEmployee + k) * 7919_000) % (DAYS * 86_400_000)).toISOString(),
          kind,
          payload: payloadFor(kind, ei * perEmployee + k, marker),
        };
      }),
    );
    const agent = await clientAs('capture-agent-7', 'ingest-agent');
    let ingested = 0;
    for (let i = 0; i < records.length; i += 2000) ingested += (await agent.ingestRecords(records.slice(i, i + 2000))).accepted;
    const markerFoundInStore = await vault.services.leakProbe.rowsContaining(Buffer.from(marker));
    write(`${ingested} accepted. Every payload carries the string "${marker}";`);
    write(`rows of the records table that contain it: ${markerFoundInStore} (the store holds only ciphertext).`);

    step('2b. An engineer pauses their capture; records their agent captured inside the pause arrive later and are dropped');
    const paused = 'engineering-05';
    const pausedState = await (await clientAs(paused, 'employee')).pauseEmployee(paused, 30);
    write(`${paused} paused until ${pausedState.paused_until} (their own token; a privacy officer may too)`);
    const agentStatus = await agent.collectionStatus(paused);
    write(`their agent asks first: capture=${agentStatus.capture}, reason=${agentStatus.reason}, ask again at ${agentStatus.until}, permit: ${agentStatus.permit ? 'yes' : 'none'}`);
    const pausedFrom = Date.parse(pausedState.paused_until!) - 30 * 60_000;
    const buffered = [
      { offsetMs: -1000, kind: 'keystroke', payload: { app: 'vscode', text: `just before the pause ${marker}` } },
      { offsetMs: 1000, kind: 'keystroke', payload: { app: 'vscode', text: `inside the pause ${marker}` } },
      { offsetMs: 10 * 60_000, kind: 'screenshot', payload: { app: 'desktop', png_base64: 'AAAA' } },
      { offsetMs: 29 * 60_000, kind: 'click', payload: { app: 'browser', x: 1, y: 2 } },
    ].map((b) => ({ event_id: randomUUID(), employee_id: paused, captured_at: new Date(pausedFrom + b.offsetMs).toISOString(), kind: b.kind, payload: b.payload }));
    const chat = { event_id: randomUUID(), employee_id: 'engineering-06', captured_at: new Date(now - 60_000).toISOString(), kind: 'keystroke', payload: { app: 'WhatsApp', text: `see you at 7 ${marker}` } };
    const late = await agent.ingestRecords([...buffered, chat]);
    const droppedReasons = late.dropped.map((d) => d.reason);
    write(`the agent sends what it buffered offline: ${late.accepted} accepted (captured before the pause), dropped: ${late.dropped.map((d) => `#${d.index} ${d.reason}`).join(', ')}`);
    write('the decision is by captured_at, not arrival: a pause holds for records that arrive an hour later. A WhatsApp message is never captured at all (the manifest excludes it).');
    await (await clientAs(paused, 'employee')).endEmployeePause(paused);
    write(`${paused} ends the pause early; capture resumes from now.`);
    records.push(buffered[0]!);

    step('3. team-autocomplete\'s training job requests keystrokes and prompts of the last week');
    const autocomplete = new VaultClient({ url, token: await token('job-autocomplete-42', 'training-job', { teams: ['team-autocomplete'], purpose: 'autocomplete-model' }) });
    const window = { from: windowStart.toISOString(), to: new Date(now + 60_000).toISOString() };
    const lease = await autocomplete.requestDataset({ purpose: 'autocomplete-model', kinds: ['keystroke', 'prompt'], ...window });
    write(`granted ${lease.dataset_id}: ${lease.record_count} records of ${lease.employee_count} employees`);
    write(`scope: org units ${lease.scope.org_units.join(', ')}; kinds ${lease.scope.kinds.join(', ')}; sensitivity <= ${lease.scope.max_sensitivity}; policy ${lease.policy_revision}; lease until ${lease.expires_at}`);
    const granted = new Set(employees.filter((e) => lease.scope.org_units.includes(e.org_unit)).map((e) => e.employee_id));
    const expected = new Map(records.filter((r) => granted.has(r.employee_id) && lease.scope.kinds.includes(r.kind)).map((r) => [JSON.stringify(r.payload), r]));
    let streamed = 0;
    let streamedOutsideGrant = 0;
    const samples: DatasetRecord[] = [];
    for await (const record of autocomplete.records(lease.dataset_id)) {
      streamed++;
      if (!expected.has(JSON.stringify(record.payload))) streamedOutsideGrant++;
      if (samples.length < 2) samples.push(record);
    }
    write(`streamed ${streamed} records as NDJSON; ${streamedOutsideGrant} of them outside the grant. Two lines:`);
    for (const s of samples) write(`  ${JSON.stringify({ ...s, cursor: `${s.cursor.slice(0, 12)}...` })}`);
    write('`subject` is a pseudonym keyed per dataset: no employee id leaves the vault, and two datasets cannot be joined on it.');

    step('4. The same job asks for finance screenshots, outside its grant');
    let denied: DemoSummary['denied'] = { status: 0, error: 'none', decision_id: '' };
    try {
      await autocomplete.requestDataset({ purpose: 'autocomplete-model', kinds: ['screenshot'], org_units: ['finance'], ...window });
    } catch (err) {
      if (!(err instanceof VaultClientError)) throw err;
      denied = { status: err.status, error: err.error, decision_id: String(err.body.decision_id ?? '') };
      write(`${err.status} ${err.error}: ${err.message}; reasons: ${JSON.stringify(err.body.reasons ?? [])}; decision ${denied.decision_id}`);
    }

    step("5. team-ux-agents' job tries to stream team-autocomplete's dataset");
    const ux = new VaultClient({ url, token: await token('job-ux-7', 'training-job', { teams: ['team-ux-agents'], purpose: 'ui-navigation-agent' }), maxRetries: 0 });
    let foreignStream: DemoSummary['foreignStream'] = { status: 0, error: 'none' };
    try {
      for await (const _ of ux.records(lease.dataset_id)) break;
    } catch (err) {
      if (!(err instanceof VaultClientError)) throw err;
      foreignStream = { status: err.status, error: err.error };
      write(`${err.status} ${err.error}: ${err.message}`);
    }

    step('6. The auditor reads the trail (oldest first)');
    const auditor = await clientAs('auditor-1', 'auditor');
    const { events } = await auditor.auditEvents({ limit: 100 });
    const rows = [
      ['seq', 'time (UTC)', 'actor', 'action', 'decision', 'records', 'why'],
      ...[...events].reverse().map((e) => [
        String(e.seq),
        e.occurred_at.slice(11, 23),
        e.actor ?? '-',
        e.action,
        e.decision,
        e.record_count === null ? '' : String(e.record_count),
        String(e.details.reason ?? (Array.isArray(e.details.reasons) ? e.details.reasons.join('; ') : '') ?? ''),
      ]),
    ];
    write(table(rows));
    const verify = await auditor.verifyAudit();
    write(`hash chain: ${verify.ok ? 'intact' : `BROKEN at ${verify.broken_at}`} (${verify.checked} events checked)`);

    step('7. An engineer asks who read their data');
    const engineer = 'engineering-03';
    const report = await (await clientAs(engineer, 'employee')).accessReport(engineer);
    write(accessReportText(report));

    write(`\ndone in ${((Date.now() - started) / 1000).toFixed(1)} s${temporary ? '' : `; the vault is kept in ${dataDir} (npm start with VAULT_DATA_DIR=${dataDir} serves it)`}`);
    return {
      ingested,
      markerFoundInStore,
      granted: { dataset_id: lease.dataset_id, record_count: lease.record_count, employee_count: lease.employee_count, org_units: lease.scope.org_units },
      streamed,
      streamedOutsideGrant,
      denied,
      foreignStream,
      auditEvents: events.length,
      auditIntact: verify.ok,
      pause: { statusReason: agentStatus.reason, accepted: late.accepted, dropped: droppedReasons },
    };
  } finally {
    await app.close();
    await vault.close();
    if (temporary) await fs.rm(dataDir, { recursive: true, force: true });
  }
}
