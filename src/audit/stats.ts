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

function alarmOf(row: AuditRow): AlarmView {
  const details = JSON.parse(row.details) as Record<string, unknown>;
  return {
    seq: row.seq,
    at: row.occurred_at.toISOString(),
    action: row.action,
    actor: row.actor,
    teams: row.teams,
    decision: row.decision,
    reason: firstText(details.reason, details.reasons, details.alarm, details.error),
    details,
    decision_id: row.decision_id,
    policy_revision: row.policy_revision,
  };
}

/** One page of alarms, newest first, paged as the event query is (`next_cursor`). */
export async function readAlarmPage(db: Db, q: AlarmQuery): Promise<AlarmPage> {
  const limit = q.limit ?? 100;
  if (!(Number.isInteger(limit) && limit >= 1 && limit <= MAX_QUERY_LIMIT)) throw new VaultError('ERR_INVALID_REQUEST', `limit must be 1-${MAX_QUERY_LIMIT}`);
  if (q.from !== undefined && q.to !== undefined && q.from.getTime() >= q.to.getTime()) throw new VaultError('ERR_INVALID_REQUEST', 'from must be before to');
  const beforeSeq = q.cursor === undefined ? undefined : seqOfCursor(q.cursor);
  const rows = await queryAuditAlarms(db, { from: q.from, to: q.to, beforeSeq, limit: limit + 1 });
  const page = rows.slice(0, limit);
  return { alarms: page.map(alarmOf), next_cursor: rows.length > limit ? cursorBefore(page.at(-1)!.seq) : null };
}
