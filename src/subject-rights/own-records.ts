import type { AuditLog } from '../audit/index.js';
import { isEmployeeSelf, type Principal } from '../auth/index.js';
import type { KeyRing } from '../crypto/index.js';
import { employeeExists, employeeKeyStates, inTransaction, keysUsedBy, readEmployeePage, type StreamRow, type VaultDatabase } from '../db/index.js';
import { encodePage, PAGE } from '../datasets/index.js';
import { VaultError } from '../errors/index.js';
import { NEVER_EXPORTED_SENSITIVITY, parseTimestamp } from '../model/index.js';

/** Narrows the copy to records captured in [from, to). */
export interface OwnRecordsQuery {
  readonly from?: string;
  readonly to?: string;
}

export interface OwnRecordsDeps {
  readonly database: VaultDatabase;
  readonly keyRing: KeyRing;
  readonly audit: AuditLog;
}

/** An open copy: NDJSON pages; `close` ends it early. */
export type OwnRecordStream = AsyncIterable<Buffer> & { close(): void };

function lineOf(row: StreamRow): string {
  const categories = row.categories ? `"categories":${JSON.stringify(row.categories)},` : '';
  return `{"event_id":"${row.event_id}","captured_at":"${row.captured_at.toISOString()}","kind":"${row.kind}","sensitivity":${row.sensitivity},${categories}"payload":`;
}

function parseWindow(query: OwnRecordsQuery): { from?: Date; to?: Date } {
  const at = (value: string | undefined, name: string): Date | undefined => {
    if (value === undefined) return undefined;
    const ms = parseTimestamp(value);
    if (ms === undefined || Number.isNaN(ms)) throw new VaultError('ERR_INVALID_REQUEST', `${name} must be an RFC 3339 timestamp`);
    return new Date(ms);
  };
  const window = { from: at(query.from, 'from'), to: at(query.to, 'to') };
  if (window.from && window.to && window.from >= window.to) throw new VaultError('ERR_INVALID_REQUEST', 'from must be before to');
  return window;
}

/**
 * The employee's own copy of what was collected about them (access and portability): their
 * records decrypted, with their real `captured_at`, kind and level, oldest first. The employee gets
 * every record; a privacy officer acting for them gets all but level 4 (tax, health and the like
 * are for the employee's eyes). Every page is audited before it is sent.
 */
export class OwnRecords {
  readonly #deps: OwnRecordsDeps;

  constructor(deps: OwnRecordsDeps) {
    this.#deps = deps;
  }

  async open(actor: Principal, employeeId: string, query: OwnRecordsQuery = {}): Promise<OwnRecordStream> {
    const { audit, database } = this.#deps;
    const self = isEmployeeSelf(actor, employeeId);
    const refuse = (error: VaultError, reason: string, severity: 'info' | 'high'): Promise<never> => audit.refuse(error, { action: 'employee.export', actor: actor, employeeId, reason, severity });
    if (!self && !actor.roles.includes('privacy-officer')) {
      return refuse(new VaultError('ERR_FORBIDDEN', 'an employee may read only their own records'), 'not_own_records', 'high');
    }
    let window: { from?: Date; to?: Date };
    try {
      window = parseWindow(query);
    } catch (err) {
      return refuse(err as VaultError, 'invalid_window', 'info');
    }
    if (!(await employeeExists(database.db, employeeId))) return refuse(new VaultError('ERR_NOT_FOUND', 'no such employee'), 'no_such_employee', 'info');
    const belowSensitivity = self ? NEVER_EXPORTED_SENSITIVITY + 1 : NEVER_EXPORTED_SENSITIVITY;
    let closed = false;
    const pages = async function* (this: OwnRecords): AsyncGenerator<Buffer> {
      let after: { capturedAt: Date; eventId: string } | undefined;
      for (let page = 0; !closed; page++) {
        const { body, last, done } = await this.#page(actor, employeeId, { ...window, belowSensitivity }, after, { page, self });
        if (body.length > 0) yield body;
        if (done || !last) return;
        after = { capturedAt: last.captured_at, eventId: last.event_id };
      }
    }.call(this);
    return Object.assign(pages, {
      close: () => {
        closed = true;
      },
    });
  }

  /** One page: read, opened, encoded and audited in one transaction. */
  async #page(
    actor: Principal,
    employeeId: string,
    window: { from?: Date; to?: Date; belowSensitivity: number },
    after: { capturedAt: Date; eventId: string } | undefined,
    context: { page: number; self: boolean },
  ) {
    const { audit, database, keyRing } = this.#deps;
    // Plaintext that is not sent (its audit event or the commit failed) is zeroed, not left to the allocator.
    let opened: Buffer | undefined;
    return inTransaction(database, async (trx) => {
      const { rows, final: done } = await readEmployeePage(trx, employeeId, window, after, PAGE);
      const states = await employeeKeyStates(trx, keysUsedBy(rows));
      const { body, records, skipped } = await encodePage(keyRing, rows, states, { prefixOf: lineOf, requireEnrolled: false });
      opened = body;
      await audit.append(trx, {
        action: 'employee.export',
        decision: 'allow',
        severity: skipped.failed_authentication > 0 ? 'high' : 'info',
        actor,
        employeeId,
        recordCount: records,
        details: {
          page: context.page,
          records,
          bytes: body.length,
          skipped,
          for_self: context.self,
          ...(window.from ? { from: window.from.toISOString() } : {}),
          ...(window.to ? { to: window.to.toISOString() } : {}),
          ...(done ? { stream_end: true } : {}),
        },
      });
      return { body, last: rows.at(-1), done };
    }).catch((err: unknown) => {
      opened?.fill(0);
      throw err;
    });
  }
}
