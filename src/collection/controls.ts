import { createHash } from 'node:crypto';
import type { AuditEventInput, AuditLog } from '../audit/index.js';
import { isEmployeeSelf, type Principal } from '../auth/index.js';
import {
  appendCollectionEvent,
  collectionEventsAfter,
  consentEnrolledWithoutConsent,
  databaseNow,
  employeeCollectionFacts,
  endEmployeePauses,
  endProgramPause,
  inTransaction,
  insertEmployeePause,
  lastCollectionEventId,
  insertManifest,
  insertProgramPause,
  latestManifest,
  lockCollectionControls,
  openEmployeeWindows,
  openProgramPauses,
  requestProgramResume,
  type CollectionEventRow,
  type Db,
  type ProgramScope,
  type VaultDatabase,
} from '../db/index.js';
import { VaultError } from '../errors/index.js';
import { isEmployeeId, isPlainText } from '../model/index.js';
import { diffManifests, parseManifest, parseStoredManifest, plainLanguage, type ContextRules, type ManifestDiff, type ManifestDocument } from './manifest.js';
import type { PermitSigner } from './permit.js';
import type { ChangeListener, ControlState } from './state.js';

export const MIN_PAUSE_MINUTES = 1;
export const MAX_PAUSE_MINUTES = 120;
export const DEFAULT_PAUSE_MINUTES = 30;
const MAX_REASON = 500;
/** The most changes a reconnecting agent is sent again; further behind, it is told to start over. */
export const MAX_REPLAY = 1000;

export interface ManifestView {
  readonly version: number;
  readonly created_at: string;
  readonly created_by: string;
  readonly manifest: ManifestDocument;
  readonly plain_language: string[];
}

export interface EmployeeCaptureState {
  readonly employee_id: string;
  readonly paused: boolean;
  readonly opted_out: boolean;
  readonly paused_until: string | null;
}

export interface ProgramStatus {
  readonly collection: ProgramScopeStatus;
  readonly exports: ProgramScopeStatus;
}

export interface ProgramScopeStatus {
  readonly paused: boolean;
  readonly since: string | null;
  readonly reason: string | null;
  readonly paused_by: string | null;
  /** Exports only: who asked to resume; a second person must confirm. */
  readonly resume_requested_by: string | null;
}

export interface ConsentView {
  readonly employee_id: string;
  readonly enrolled: boolean;
  readonly consented_version: number | null;
  readonly consented_at: string | null;
  readonly manifest_version: number;
  readonly kinds_consented: string[];
  readonly kinds_needing_consent: string[];
  /** Whether capture is paused or opted out now, so the employee's page shows it before they act. */
  readonly capture: EmployeeCaptureState;
}

export type CaptureRefusal = 'program_paused' | 'not_enrolled' | 'opted_out' | 'paused' | 'not_consented';

export interface CaptureStatus {
  readonly employee_id: string;
  readonly capture: boolean;
  readonly reason: CaptureRefusal | null;
  readonly kinds: string[];
  readonly excluded_contexts: ContextRules;
  /** Per kind, exclusions on top of `excluded_contexts` (only kinds that have some). */
  readonly kind_exclusions: Record<string, ContextRules>;
  /** Ask again by then: the permit's expiry, or the end of the pause. */
  readonly until: string | null;
  readonly manifest_version: number;
  readonly permit: string | null;
  readonly permit_expires_at: string | null;
  readonly permit_key_id: string;
}

export interface CollectionDeps {
  readonly database: VaultDatabase;
  readonly audit: AuditLog;
  readonly state: ControlState;
  readonly permits: PermitSigner;
  readonly knownKinds: ReadonlySet<string>;
}

const SYSTEM = { sub: 'system:default-manifest', roles: [], teams: [], purpose: undefined } as const;

function invalid(message: string): VaultError {
  return new VaultError('ERR_INVALID_REQUEST', message);
}

function reasonOf(body: unknown): string {
  const reason = (body as { reason?: unknown } | null)?.reason;
  if (typeof reason !== 'string' || reason.trim().length === 0 || reason.length > MAX_REASON || !isPlainText(reason)) {
    throw invalid(`reason must be 1-${MAX_REASON} characters without control characters`);
  }
  return reason.trim();
}

function scopeOf(body: unknown): ProgramScope {
  const scope = (body as { scope?: unknown } | null)?.scope ?? 'collection';
  if (scope !== 'collection' && scope !== 'exports') throw invalid('scope must be "collection" or "exports"');
  return scope;
}

function onlyFields(body: unknown, fields: readonly string[]): void {
  if (body === undefined || body === null) return;
  if (typeof body !== 'object' || Array.isArray(body)) throw invalid('the body must be a JSON object');
  for (const field of Object.keys(body)) if (!fields.includes(field)) throw invalid(`unknown field${/^[a-z_]{1,32}$/.test(field) ? ` "${field}"` : ''}`);
}

/** Whether `principal` acts for `employeeId`'s capture: a privacy officer for anyone, an employee for themselves. */
export function actsForEmployee(principal: Principal, employeeId: string): boolean {
  return principal.roles.includes('privacy-officer') || isEmployeeSelf(principal, employeeId);
}

const sha256 = (text: string) => createHash('sha256').update(text).digest('hex');
const iso = (d: Date | null | undefined) => (d ? d.toISOString() : null);

/**
 * The collection controls: the manifest, consent state, employees' pauses and opt-outs, the
 * program's kill switch and export freeze, and what capture agents ask. Every change takes the
 * controls lock (so no ingest straddles it), is audited in its own transaction, and is appended
 * to the change feed agents follow.
 */
export class CollectionControls {
  readonly #deps: CollectionDeps;

  constructor(deps: CollectionDeps) {
    this.#deps = deps;
  }

  /** Installs the default manifest as version 1 unless one exists; enrolled employees consent to it. */
  async installDefaultManifest(document: ManifestDocument): Promise<void> {
    await inTransaction(this.#deps.database, async (trx) => {
      await lockCollectionControls(trx, 'change');
      if (await latestManifest(trx)) return;
      const text = JSON.stringify(document);
      await insertManifest(trx, { version: 1, document, sha256: sha256(text), createdBy: SYSTEM.sub });
      const carried = await consentEnrolledWithoutConsent(trx, 1);
      const eventId = await appendCollectionEvent(trx, 'manifest', null, { version: 1 });
      await this.#deps.audit.append(trx, {
        action: 'collection.manifest',
        decision: 'info',
        actor: SYSTEM,
        recordCount: 0,
        details: { version: 1, sha256: sha256(text), default: true, consent_carried_over: carried, collection_event: eventId },
      });
    });
    await this.#deps.state.refresh();
  }

  manifest(): ManifestView {
    const compiled = this.#deps.state.inForce();
    const stored = this.#deps.state.storedInForce();
    return {
      version: compiled.version,
      created_at: stored.createdAt.toISOString(),
      created_by: stored.createdBy,
      manifest: compiled.document,
      plain_language: plainLanguage(compiled.version, compiled.document),
    };
  }

  async putManifest(actor: Principal, body: unknown): Promise<{ version: number; unchanged: boolean; diff: ManifestDiff | null }> {
    const raw = body as Record<string, unknown> | null;
    const base = raw && typeof raw === 'object' && !Array.isArray(raw) ? raw.base_version : undefined;
    if (base !== undefined && (typeof base !== 'number' || !Number.isInteger(base) || base < 1)) throw invalid('base_version must be a positive integer');
    const { base_version: _ignored, ...rest } = (raw && typeof raw === 'object' && !Array.isArray(raw) ? raw : {}) as Record<string, unknown>;
    const document = parseManifest(raw && typeof raw === 'object' && !Array.isArray(raw) ? rest : raw, this.#deps.knownKinds);
    const text = JSON.stringify(document);
    const result = await inTransaction(this.#deps.database, async (trx) => {
      await lockCollectionControls(trx, 'change');
      const current = await latestManifest(trx);
      if (!current) throw new VaultError('ERR_UNAVAILABLE', 'no collection manifest is installed yet');
      if (base !== undefined && base !== current.version) {
        throw new VaultError('ERR_CONFLICT', `the manifest in force is version ${current.version}, not ${base}`, { details: { version: current.version } });
      }
      if (current.sha256 === sha256(text)) {
        await this.#deps.audit.append(trx, { action: 'collection.manifest', decision: 'info', actor, recordCount: 0, details: { version: current.version, unchanged: true } });
        return { version: current.version, unchanged: true, diff: null };
      }
      const version = current.version + 1;
      const previous = parseStoredManifest(current.document);
      const diff = diffManifests(previous, document);
      await insertManifest(trx, { version, document, sha256: sha256(text), createdBy: actor.sub });
      const eventId = await appendCollectionEvent(trx, 'manifest', null, { version, needs_fresh_consent: diff.needs_fresh_consent });
      await this.#deps.audit.append(trx, {
        action: 'collection.manifest',
        decision: 'allow',
        severity: diff.kinds_added.length > 0 || diff.needs_fresh_consent.length > 0 ? 'high' : 'info',
        actor,
        recordCount: 0,
        details: { version, previous_version: current.version, sha256: sha256(text), diff, collection_event: eventId },
      });
      return { version, unchanged: false, diff };
    }).catch((err: unknown) => this.#auditRefusal(err, { action: 'collection.manifest', actor, details: {} }));
    await this.#deps.state.refresh();
    return result;
  }

  /** Pauses an employee's capture from now for `minutes` (default 30): records captured meanwhile are dropped whenever they arrive. */
  async pauseEmployee(actor: Principal, employeeId: string, body: unknown): Promise<EmployeeCaptureState> {
    await this.#mayActFor(actor, employeeId, 'employee.pause');
    onlyFields(body, ['minutes']);
    const minutes = (body as { minutes?: unknown } | null)?.minutes ?? DEFAULT_PAUSE_MINUTES;
    if (typeof minutes !== 'number' || !Number.isInteger(minutes) || minutes < MIN_PAUSE_MINUTES || minutes > MAX_PAUSE_MINUTES) {
      throw invalid(`minutes must be an integer ${MIN_PAUSE_MINUTES}-${MAX_PAUSE_MINUTES}`);
    }
    return this.#employeeChange(actor, employeeId, 'employee.pause', async (trx, at) => {
      const until = new Date(at.getTime() + minutes * 60_000);
      const pauseId = await insertEmployeePause(trx, { employeeId, kind: 'pause', startsAt: at, until, startedBy: actor.sub });
      return { event: 'pause', data: { from: at.toISOString(), until: until.toISOString() }, details: { minutes, from: at.toISOString(), until: until.toISOString(), pause_id: pauseId } };
    });
  }

  /** Ends the employee's running pause now. */
  async endEmployeePause(actor: Principal, employeeId: string): Promise<EmployeeCaptureState> {
    await this.#mayActFor(actor, employeeId, 'employee.resume');
    return this.#employeeChange(actor, employeeId, 'employee.resume', async (trx, at) => {
      const ended = await endEmployeePauses(trx, employeeId, 'pause', at, actor.sub);
      return { event: ended > 0 ? 'resume' : undefined, data: { at: at.toISOString() }, details: { pauses_ended: ended } };
    });
  }

  /** Stops the employee's capture until they opt back in. */
  async optOut(actor: Principal, employeeId: string): Promise<EmployeeCaptureState> {
    await this.#mayActFor(actor, employeeId, 'employee.opt_out');
    return this.#employeeChange(actor, employeeId, 'employee.opt_out', async (trx, at) => {
      const open = (await openEmployeeWindows(trx, employeeId, at)).some((w) => w.kind === 'opt_out');
      if (open) return { event: undefined, data: {}, details: { already_opted_out: true } };
      const pauseId = await insertEmployeePause(trx, { employeeId, kind: 'opt_out', startsAt: at, until: null, startedBy: actor.sub });
      return { event: 'opt_out', data: { from: at.toISOString() }, details: { from: at.toISOString(), pause_id: pauseId } };
    });
  }

  async optIn(actor: Principal, employeeId: string): Promise<EmployeeCaptureState> {
    await this.#mayActFor(actor, employeeId, 'employee.opt_in');
    return this.#employeeChange(actor, employeeId, 'employee.opt_in', async (trx, at) => {
      const ended = await endEmployeePauses(trx, employeeId, 'opt_out', at, actor.sub);
      return { event: ended > 0 ? 'opt_in' : undefined, data: { at: at.toISOString() }, details: { opt_outs_ended: ended } };
    });
  }

  async #mayActFor(actor: Principal, employeeId: string, action: string): Promise<void> {
    if (!isEmployeeId(employeeId)) throw invalid('employee id is invalid');
    if (actsForEmployee(actor, employeeId)) return;
    await this.#deps.audit.appendAlone({ action, decision: 'deny', severity: 'high', actor, employeeId, recordCount: 0, details: { reason: 'not_own_capture' } });
    throw new VaultError('ERR_FORBIDDEN', "an employee may change only their own capture");
  }

  async #employeeChange(
    actor: Principal,
    employeeId: string,
    action: string,
    change: (trx: Db, at: Date) => Promise<{ event: string | undefined; data: Record<string, unknown>; details: Record<string, unknown> }>,
  ): Promise<EmployeeCaptureState> {
    const state = await inTransaction(this.#deps.database, async (trx) => {
      await lockCollectionControls(trx, 'change');
      if (!(await employeeCollectionFacts(trx, employeeId))) throw new VaultError('ERR_NOT_FOUND', 'no such employee');
      const at = await databaseNow(trx);
      const { event, data, details } = await change(trx, at);
      const eventId = event ? await appendCollectionEvent(trx, event, employeeId, { employee_id: employeeId, ...data }) : undefined;
      await this.#deps.audit.append(trx, { action, decision: 'allow', actor, employeeId, recordCount: 0, details: { ...details, ...(eventId ? { collection_event: eventId } : {}) } });
      return this.#captureStateAt(trx, employeeId, at);
    }).catch((err: unknown) => this.#auditRefusal(err, { action, actor, employeeId, details: {} }));
    await this.#deps.state.refresh();
    return state;
  }

  async #captureStateAt(db: Db, employeeId: string, at: Date): Promise<EmployeeCaptureState> {
    const open = await openEmployeeWindows(db, employeeId, at);
    const pauses = open.filter((w) => w.kind === 'pause');
    const until = pauses.reduce<Date | null>((latest, w) => (w.ends_at && (!latest || w.ends_at > latest) ? w.ends_at : latest), null);
    return { employee_id: employeeId, paused: pauses.length > 0, opted_out: open.some((w) => w.kind === 'opt_out'), paused_until: iso(until) };
  }

  async pauseProgram(actor: Principal, body: unknown): Promise<ProgramStatus> {
    onlyFields(body, ['reason', 'scope']);
    const [reason, scope] = [reasonOf(body), scopeOf(body)];
    await inTransaction(this.#deps.database, async (trx) => {
      await lockCollectionControls(trx, 'change');
      const open = (await openProgramPauses(trx, true)).find((p) => p.scope === scope);
      if (open) {
        await this.#deps.audit.append(trx, { action: 'program.pause', decision: 'info', actor, recordCount: 0, details: { scope, reason, already_paused_since: open.startsAt.toISOString() } });
        return;
      }
      const at = await databaseNow(trx);
      const pauseId = await insertProgramPause(trx, { scope, startsAt: at, reason, pausedBy: actor.sub });
      const eventId = await appendCollectionEvent(trx, scope === 'exports' ? 'exports_freeze' : 'program_pause', null, { scope, since: at.toISOString(), reason });
      await this.#deps.audit.append(trx, {
        action: 'program.pause',
        decision: 'allow',
        severity: 'high',
        actor,
        recordCount: 0,
        details: { scope, reason, since: at.toISOString(), pause_id: pauseId, collection_event: eventId },
      });
    }).catch((err: unknown) => this.#auditRefusal(err, { action: 'program.pause', actor, details: { scope } }));
    await this.#deps.state.refresh();
    return this.programStatus();
  }

  /**
   * Resumes collection, or exports. An export freeze is the lever pulled on a suspected bad grant:
   * the first call only requests the resume, and a different person's call completes it.
   */
  async resumeProgram(actor: Principal, body: unknown): Promise<ProgramStatus & { resumed: boolean }> {
    onlyFields(body, ['reason', 'scope']);
    const [reason, scope] = [reasonOf(body), scopeOf(body)];
    const action = 'program.resume';
    const resumed = await inTransaction(this.#deps.database, async (trx) => {
      await lockCollectionControls(trx, 'change');
      const open = (await openProgramPauses(trx, true)).find((p) => p.scope === scope);
      if (!open) throw new VaultError('ERR_CONFLICT', `${scope === 'exports' ? 'exports are' : 'collection is'} not paused`);
      const at = await databaseNow(trx);
      if (scope === 'exports' && open.resumeRequestedBy === null) {
        await requestProgramResume(trx, open.pauseId, actor.sub, reason, at);
        const eventId = await appendCollectionEvent(trx, 'exports_resume_requested', null, { scope, requested_by: actor.sub });
        await this.#deps.audit.append(trx, {
          action: 'program.resume_requested',
          decision: 'allow',
          severity: 'high',
          actor,
          recordCount: 0,
          details: { scope, reason, pause_id: open.pauseId, collection_event: eventId },
        });
        return false;
      }
      if (scope === 'exports' && open.resumeRequestedBy === actor.sub) {
        throw new VaultError('ERR_CONFLICT', 'a second person must confirm resuming exports', { internal: { reason: 'second_person_required' } });
      }
      await endProgramPause(trx, open.pauseId, actor.sub, reason, at);
      const eventId = await appendCollectionEvent(trx, scope === 'exports' ? 'exports_resume' : 'program_resume', null, { scope, at: at.toISOString() });
      await this.#deps.audit.append(trx, {
        action,
        decision: 'allow',
        severity: 'high',
        actor,
        recordCount: 0,
        details: { scope, reason, pause_id: open.pauseId, paused_since: open.startsAt.toISOString(), ...(open.resumeRequestedBy ? { requested_by: open.resumeRequestedBy } : {}), collection_event: eventId },
      });
      return true;
    }).catch((err: unknown) => this.#auditRefusal(err, { action, actor, details: { scope } }));
    await this.#deps.state.refresh();
    return { ...this.programStatus(), resumed };
  }

  programStatus(): ProgramStatus {
    const of = (scope: ProgramScope): ProgramScopeStatus => {
      const p = this.#deps.state.programPause(scope);
      return { paused: p !== undefined, since: iso(p?.startsAt), reason: p?.reason ?? null, paused_by: p?.pausedBy ?? null, resume_requested_by: p?.resumeRequestedBy ?? null };
    };
    return { collection: of('collection'), exports: of('exports') };
  }

  async consent(actor: Principal, employeeId: string): Promise<ConsentView> {
    if (!isEmployeeId(employeeId)) throw invalid('employee id is invalid');
    if (!actsForEmployee(actor, employeeId)) {
      await this.#deps.audit.appendAlone({ action: 'employee.consent', decision: 'deny', severity: 'high', actor, employeeId, recordCount: 0, details: { reason: 'not_own_consent' } });
      throw new VaultError('ERR_FORBIDDEN', 'an employee may read only their own consent');
    }
    const { audit, state } = this.#deps;
    // Every read and the allow commit together: a read that fails leaves no allow on the log.
    return audit.runAudited(
      async (trx): Promise<ConsentView> => {
        const facts = await employeeCollectionFacts(trx, employeeId);
        if (!facts) throw new VaultError('ERR_NOT_FOUND', 'no such employee');
        const inForce = state.inForce();
        const consented = facts.consented_version === null ? undefined : await state.manifest(facts.consented_version, trx);
        const covered = inForce.kindsConsented(consented);
        const kinds = Object.keys(inForce.document.kinds);
        return {
          employee_id: employeeId,
          enrolled: facts.enrolled,
          consented_version: facts.consented_version,
          consented_at: iso(facts.consented_at),
          manifest_version: inForce.version,
          kinds_consented: kinds.filter((k) => covered.has(k)),
          kinds_needing_consent: kinds.filter((k) => !covered.has(k)),
          capture: await this.#captureStateAt(trx, employeeId, await databaseNow(trx)),
        };
      },
      (view) => ({ action: 'employee.consent', decision: 'allow', actor, employeeId, recordCount: 0, details: { consented_version: view.consented_version, manifest_version: view.manifest_version } }),
    );
  }

  /** What an agent asks before it captures: now or not, which kinds and contexts, until when, and a permit while it may. */
  async captureStatus(actor: Principal, employeeId: string): Promise<CaptureStatus> {
    if (!isEmployeeId(employeeId)) throw invalid('employee_id is invalid');
    const { database, state, permits, audit } = this.#deps;
    const facts = await employeeCollectionFacts(database.db, employeeId);
    if (!facts) {
      await audit.appendAlone({ action: 'collection.permit', decision: 'deny', actor, employeeId, recordCount: 0, details: { reason: 'no_such_employee' } });
      throw new VaultError('ERR_NOT_FOUND', 'no such employee');
    }
    const now = await databaseNow(database.db);
    const inForce = state.inForce();
    const windows = await openEmployeeWindows(database.db, employeeId, now);
    const consented = facts.consented_version === null ? undefined : await state.manifest(facts.consented_version);
    const kinds = [...inForce.kindsConsented(consented)].filter((k) => inForce.collectsFromRegion(k, facts.region)).sort();
    const pause = windows.find((w) => w.kind === 'pause');
    const reason: CaptureRefusal | null = state.programPause('collection')
      ? 'program_paused'
      : !facts.enrolled
        ? 'not_enrolled'
        : windows.some((w) => w.kind === 'opt_out')
          ? 'opted_out'
          : pause
            ? 'paused'
            : kinds.length === 0
              ? 'not_consented'
              : null;
    const kindExclusions: Record<string, ContextRules> = {};
    for (const k of kinds) {
      const own = inForce.document.kinds[k]!.excluded_contexts;
      if (own.apps.length + own.domains.length + own.titles.length > 0) kindExclusions[k] = own;
    }
    const permit = reason === null ? await permits.sign({ employeeId, kinds, manifestVersion: inForce.version, notAfter: new Date(now.getTime() + 60_000) }, now) : undefined;
    await audit.appendAlone({
      action: 'collection.permit',
      decision: reason === null ? 'allow' : 'deny',
      actor,
      employeeId,
      recordCount: 0,
      details: { manifest_version: inForce.version, ...(reason ? { reason } : { kinds, expires_at: permit!.expiresAt.toISOString() }) },
    });
    return {
      employee_id: employeeId,
      capture: reason === null,
      reason,
      kinds: reason === null ? kinds : [],
      excluded_contexts: inForce.document.excluded_contexts,
      kind_exclusions: reason === null ? kindExclusions : {},
      until: reason === 'paused' ? iso(pause?.ends_at) : iso(permit?.expiresAt),
      manifest_version: inForce.version,
      permit: permit?.permit ?? null,
      permit_expires_at: iso(permit?.expiresAt),
      permit_key_id: permits.keyId,
    };
  }

  permitKeys() {
    return this.#deps.permits.jwks();
  }

  /**
   * Opens an agent's feed, audited: the changes after `lastEventId`, or, when the agent is more
   * than 1,000 changes behind or names an event that never was, `resetTo` the newest change (the
   * agent asks for its status again instead of replaying history).
   */
  async eventFeed(actor: Principal, lastEventId: number, employeeId: string | undefined): Promise<{ backlog: CollectionEventRow[]; resetTo?: number }> {
    const newest = await lastCollectionEventId(this.#deps.database.db);
    const backlog = lastEventId > newest ? [] : await collectionEventsAfter(this.#deps.database.db, lastEventId, MAX_REPLAY + 1);
    const reset = lastEventId > newest || backlog.length > MAX_REPLAY;
    await this.#deps.audit.appendAlone({
      action: 'collection.events',
      decision: 'allow',
      actor,
      ...(employeeId ? { employeeId } : {}),
      recordCount: 0,
      details: { after: lastEventId, ...(reset ? { reset_to: newest } : { backlog: backlog.length }) },
    });
    return reset ? { backlog: [], resetTo: newest } : { backlog };
  }

  get lastEventId(): number {
    return this.#deps.state.lastEventId;
  }

  subscribe(listener: ChangeListener): () => void {
    return this.#deps.state.subscribe(listener);
  }

  /** A refused change (a 4xx the service decided) is audited as a deny, then rethrown. */
  async #auditRefusal(err: unknown, event: Pick<AuditEventInput, 'action' | 'actor' | 'employeeId' | 'details'>): Promise<never> {
    if (err instanceof VaultError && err.code !== 'ERR_UNAVAILABLE' && err.code !== 'ERR_INTERNAL') {
      await this.#deps.audit.appendAlone({
        ...event,
        decision: 'deny',
        recordCount: 0,
        details: { ...event.details, reason: (err.internal?.reason as string | undefined) ?? err.code.slice(4).toLowerCase() },
      });
    }
    throw err;
  }
}
