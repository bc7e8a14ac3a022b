import { loggableError, VaultError } from '../errors/index.js';
import { readAlarmPage, readAuditStats, statsWindow, type AlarmPage, type AlarmQuery, type AlarmAudience, type AuditStats } from './stats.js';
import { MAX_QUERY_LIMIT, type AuditActor, type AuditLog, type AuditPage, type AuditQuery, type Checkpoint, type VerifyResult } from './log.js';

export interface AuditTrailOptions {
  /** Operator log; alarms carry an `alarm` field a SIEM can match on. */
  readonly log?: (event: Record<string, unknown>, message: string) => void;
}

/** The key auditors check checkpoint signatures with, in the two forms their tools read. */
export interface CheckpointKey {
  readonly key_id: string;
  readonly pem: string;
  readonly jwk: Record<string, unknown>;
}

/**
 * The audit log as its readers see it. Every read here is itself on the record, and a read whose
 * event cannot be written is refused with `ERR_UNAVAILABLE`: nobody looks at the log unseen.
 *
 * @example
 * const trail = new AuditTrail(audit, { log });
 * const { events, next_cursor } = await trail.query(principal, { action: 'dataset.stream', limit: 50 });
 */
export class AuditTrail {
  readonly #audit: AuditLog;
  readonly #options: AuditTrailOptions;

  constructor(audit: AuditLog, options: AuditTrailOptions = {}) {
    this.#audit = audit;
    this.#options = options;
  }

  /** One page of events, newest first; the page and its `audit.query` event commit together. */
  async query(actor: AuditActor, q: AuditQuery): Promise<AuditPage> {
    if (q.limit !== undefined && !(Number.isInteger(q.limit) && q.limit >= 1 && q.limit <= MAX_QUERY_LIMIT)) {
      throw new VaultError('ERR_INVALID_REQUEST', `limit must be 1-${MAX_QUERY_LIMIT}`);
    }
    const { employeeId, from, to, ...rest } = q;
    const filters = { ...rest, ...(from !== undefined ? { from: from.toISOString() } : {}), ...(to !== undefined ? { to: to.toISOString() } : {}) };
    await this.#audit.sequenced();
    return this.#audit.runAudited(
      (trx) => this.#audit.query(q, trx),
      (page) => ({
        action: 'audit.query',
        decision: 'allow',
        actor,
        ...(employeeId !== undefined ? { employeeId } : {}),
        recordCount: page.events.length,
        details: { filters, by_employee: employeeId !== undefined },
      }),
    );
  }

  /**
   * Decisions per hour, records streamed per team and day, and alarms per hour over a window of at
   * most 31 days (default: the last 7); the read and its `audit.stats` event commit together.
   */
  async stats(actor: AuditActor, window: { from?: Date; to?: Date }): Promise<AuditStats> {
    const w = statsWindow(window.from, window.to);
    await this.#audit.sequenced();
    return this.#audit.runAudited(
      (trx) => readAuditStats(trx, w),
      (stats) => {
        const buckets = { decisions_per_hour: stats.decisions_per_hour.length, records_per_team_day: stats.records_per_team_day.length, alarms_per_hour: stats.alarms_per_hour.length };
        return {
          action: 'audit.stats',
          decision: 'allow',
          actor,
          recordCount: buckets.decisions_per_hour + buckets.records_per_team_day + buckets.alarms_per_hour,
          details: { from: w.from.toISOString(), to: w.to.toISOString(), buckets },
        };
      },
    );
  }

  /**
   * One page of alarms (high-severity refusals and failures), newest first; recorded as
   * `audit.alarms`. An auditor reads every alarm whole; anyone else (a security admin) only the
   * alarms of their trade, with their allowed fields and no employee named.
   */
  async alarms(actor: AuditActor, q: AlarmQuery): Promise<AlarmPage> {
    const view: AlarmAudience = actor.roles.includes('auditor') ? 'full' : 'security';
    const { from, to, ...rest } = q;
    const filters = { ...rest, ...(from !== undefined ? { from: from.toISOString() } : {}), ...(to !== undefined ? { to: to.toISOString() } : {}) };
    await this.#audit.sequenced();
    return this.#audit.runAudited(
      (trx) => readAlarmPage(trx, q, view),
      (page) => ({ action: 'audit.alarms', decision: 'allow', actor, recordCount: page.alarms.length, details: { filters, view } }),
    );
  }

  /**
   * Walks the chain, then records the walk. The walk runs outside the append's transaction: it can
   * be long, and the head's lock would stall every other append meanwhile.
   */
  async verify(actor: AuditActor): Promise<VerifyResult> {
    const result = await this.#audit.verify();
    if (!result.ok) this.#options.log?.({ alarm: 'audit_chain_broken', broken_at: result.broken_at, reason: result.reason }, 'audit chain verification failed');
    try {
      await this.#audit.appendAlone({ action: 'audit.verify', decision: result.ok ? 'info' : 'error', severity: result.ok ? 'info' : 'high', actor, details: { ...result } });
    } catch (err) {
      // A broken chain can refuse appends (a forged row holding the next seq); withholding the finding would only serve whoever broke it.
      if (result.ok) throw err;
      this.#options.log?.({ alarm: 'audit_unavailable', action: 'audit.verify', error: loggableError(err) }, 'audit verification not recorded');
    }
    return result;
  }

  /** The newest signed checkpoints and the key to check them with; the listing is recorded. */
  async checkpoints(actor: AuditActor, limit = 100): Promise<{ public_key: CheckpointKey; checkpoints: Checkpoint[] }> {
    await this.#audit.sequenced();
    const checkpoints = await this.#audit.runAudited(
      (trx) => this.#audit.checkpoints(limit, trx),
      (listed) => ({
        action: 'audit.checkpoints',
        decision: 'allow',
        actor,
        recordCount: listed.length,
        details: { limit, newest_seq: listed[0]?.seq ?? null, oldest_seq: listed.at(-1)?.seq ?? null },
      }),
    );
    const { keyId, publicKey } = this.#audit;
    return {
      public_key: { key_id: keyId, pem: publicKey.export({ type: 'spki', format: 'pem' }) as string, jwk: { ...publicKey.export({ format: 'jwk' }), kid: keyId } },
      checkpoints,
    };
  }

  /**
   * Signs a checkpoint of the newest event now; the signature and its `audit.checkpoint` event
   * commit together, then the checkpoint goes to the witness (`ERR_UNAVAILABLE` if it cannot).
   */
  signCheckpoint(actor: AuditActor): Promise<Checkpoint | undefined> {
    return this.#audit.checkpoint((checkpoint) => ({ action: 'audit.checkpoint', decision: 'info', actor, details: { seq: checkpoint?.seq ?? null } }));
  }
}
