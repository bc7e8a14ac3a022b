import { auditAlarmsPerHour, auditDecisionsPerHour, queryAuditAlarms, recordsStreamedPerTeamDay, type AuditRow, type AuditWindow, type Db } from '../db/index.js';
import { VaultError } from '../errors/index.js';
import { cursorBefore, MAX_QUERY_LIMIT, seqOfCursor } from './log.js';

/** What the console charts: decisions, records streamed and alarms over a window of at most 31 days. */
export interface AuditStats {
  readonly from: string;
  readonly to: string;
  /** UTC hours (ISO 8601, truncated to the hour) with at least one allow or deny, oldest first. */
  readonly decisions_per_hour: Array<{ hour: string; allow: number; deny: number }>;
  /** Records of allowed stream pages per research team of the lease and UTC day (`YYYY-MM-DD`). */
  readonly records_per_team_day: Array<{ day: string; team: string; records: number }>;
  /** UTC hours with at least one alarm, oldest first. */
  readonly alarms_per_hour: Array<{ hour: string; alarms: number }>;
}

/** An alarm as the console lists it: a high-severity event that was refused or failed. */
export interface AlarmView {
  readonly seq: number;
  readonly at: string;
  readonly action: string;
  readonly actor: string | null;
  readonly teams: string[];
  readonly decision: string;
  /** The event's own word for why: its `reason`, first of its `reasons`, its `alarm`, or its `error`. */
  readonly reason: string | null;
  readonly details: Record<string, unknown>;
  readonly decision_id: string | null;
  readonly policy_revision: string | null;
}

export interface AlarmPage {
  readonly alarms: AlarmView[];
  readonly next_cursor: string | null;
}

export interface AlarmQuery {
  readonly from?: Date;
  readonly to?: Date;
  readonly limit?: number;
  readonly cursor?: string;
}

/**
 * Who reads the alarms: the auditor sees every alarm whole; a security admin sees only those of
 * their trade, without a word about an employee (the log's `/v1/audit/events` is the auditor's).
 */
export type AlarmAudience = 'full' | 'security';

/**
 * The alarms a security admin acts on, each with the detail fields they may read: refused policy
 * revisions, scope breaches and refused streams of training jobs, a failed key rotation, refused
 * development mints and a broken audit chain. None of these fields holds an employee id; alarms
 * about employees (a refused access report, consent, pause or erasure) are left out altogether.
 */
const SECURITY_ALARM_FIELDS: Readonly<Record<string, readonly string[]>> = {
  'policy.stage': ['revision', 'sha256', 'reason', 'alarm'],
  'policy.approve': ['revision', 'reason', 'violations', 'alarm', 'teams'],
  'policy.activate': ['revision', 'reason', 'violations', 'alarm', 'teams'],
  'policy.decision': ['request', 'reasons', 'policy_scope', 'invariant', 'detail', 'alarm'],
  'dataset.stream': ['dataset_id', 'reason', 'invariant', 'detail', 'alarm', 'lease_revision', 'cut'],
  'keys.rotate': ['step', 'error', 'rotation_id', 'to_kek'],
  'console.dev_token': ['source', 'reason', 'count', 'window_start', 'routes', 'sample', 'remote_address'],
  'audit.verify': ['ok', 'checked', 'broken_at', 'reason'],
};
const SECURITY_ALARM_ACTIONS = Object.keys(SECURITY_ALARM_FIELDS);

/** Roles whose `sub` names a service or an administrator, never an employee. */
const NAMED_ACTOR_ROLES: ReadonlySet<string> = new Set(['training-job', 'ingest-agent', 'security-admin', 'auditor', 'privacy-officer']);

const DAY_MS = 86_400_000;
export const STATS_DEFAULT_DAYS = 7;
export const STATS_MAX_DAYS = 31;

/**
 * The window a stats read covers: `to` defaults to now and `from` to seven days before `to`.
 * `ERR_INVALID_REQUEST` unless `from` is before `to` and the two are at most 31 days apart.
 */
export function statsWindow(from: Date | undefined, to: Date | undefined, now = new Date()): AuditWindow {
  const end = to ?? now;
  const start = from ?? new Date(end.getTime() - STATS_DEFAULT_DAYS * DAY_MS);
  if (start.getTime() >= end.getTime()) throw new VaultError('ERR_INVALID_REQUEST', 'from must be before to');
  if (end.getTime() - start.getTime() > STATS_MAX_DAYS * DAY_MS) throw new VaultError('ERR_INVALID_REQUEST', `from and to must be at most ${STATS_MAX_DAYS} days apart`);
  return { from: start, to: end };
}

/** The three series of `AuditStats`, read in `db`. */
export async function readAuditStats(db: Db, w: AuditWindow): Promise<AuditStats> {
  const decisions = await auditDecisionsPerHour(db, w);
  const records = await recordsStreamedPerTeamDay(db, w);
  const alarms = await auditAlarmsPerHour(db, w);
  return {
    from: w.from.toISOString(),
    to: w.to.toISOString(),
    decisions_per_hour: decisions.map((d) => ({ hour: d.hour.toISOString(), allow: d.allow, deny: d.deny })),
    records_per_team_day: records.map((r) => ({ day: r.day, team: r.team, records: r.records })),
    alarms_per_hour: alarms.map((a) => ({ hour: a.hour.toISOString(), alarms: a.alarms })),
  };
}

function firstText(...values: unknown[]): string | null {
  for (const v of values) {
    if (typeof v === 'string') return v;
    if (Array.isArray(v) && typeof v[0] === 'string') return v[0];
  }
  return null;
}

function pick(details: Record<string, unknown>, fields: readonly string[]): Record<string, unknown> {
  return Object.fromEntries(fields.filter((f) => Object.hasOwn(details, f)).map((f) => [f, details[f]]));
}

/** The actor a security admin may read: a service or an administrator, not an employee. */
function namedActor(row: AuditRow): string | null {
  const named = row.actor_roles.length > 0 && !row.actor_roles.includes('employee') && row.actor_roles.every((r) => NAMED_ACTOR_ROLES.has(r));
  return named ? row.actor : null;
}

function alarmOf(row: AuditRow, view: AlarmAudience): AlarmView {
  const recorded = JSON.parse(row.details) as Record<string, unknown>;
  const details = view === 'full' ? recorded : pick(recorded, SECURITY_ALARM_FIELDS[row.action] ?? []);
  return {
    seq: row.seq,
    at: row.occurred_at.toISOString(),
    action: row.action,
    actor: view === 'full' ? row.actor : namedActor(row),
    teams: row.teams,
    decision: row.decision,
    reason: firstText(details.reason, details.reasons, details.alarm, details.error),
    details,
    decision_id: row.decision_id,
    policy_revision: row.policy_revision,
  };
}

/** One page of the alarms `view` shows, newest first, paged as the event query is (`next_cursor`). */
export async function readAlarmPage(db: Db, q: AlarmQuery, view: AlarmAudience): Promise<AlarmPage> {
  const limit = q.limit ?? 100;
  if (!(Number.isInteger(limit) && limit >= 1 && limit <= MAX_QUERY_LIMIT)) throw new VaultError('ERR_INVALID_REQUEST', `limit must be 1-${MAX_QUERY_LIMIT}`);
  if (q.from !== undefined && q.to !== undefined && q.from.getTime() >= q.to.getTime()) throw new VaultError('ERR_INVALID_REQUEST', 'from must be before to');
  const beforeSeq = q.cursor === undefined ? undefined : seqOfCursor(q.cursor);
  const actions = view === 'full' ? undefined : SECURITY_ALARM_ACTIONS;
  const rows = await queryAuditAlarms(db, { from: q.from, to: q.to, beforeSeq, actions, limit: limit + 1 });
  const page = rows.slice(0, limit);
  return { alarms: page.map((row) => alarmOf(row, view)), next_cursor: rows.length > limit ? cursorBefore(page.at(-1)!.seq) : null };
}
