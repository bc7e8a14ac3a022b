import type { Principal } from '../auth/index.js';
import { employeeKeyStates, findLease, inTransaction, readScopePage, type LeaseRow } from '../db/index.js';
import { VaultError } from '../errors/index.js';
import { isUuid } from '../model/index.js';
import { parseCursor, type StreamPosition } from './cursor.js';
import { nowOf, PAGE_RECORDS, type DatasetDeps } from './deps.js';
import { encodePage, pseudonymizer } from './page.js';
import { assertLeaseStillGranted } from './refusals.js';

type StreamRefusal = 'ERR_NOT_FOUND' | 'ERR_FORBIDDEN' | 'ERR_LEASE_EXPIRED';

/**
 * A lease's records as NDJSON pages: read as the RLS-confined reader, opened under each
 * employee's data key, pseudonymised per dataset. A page is sent only after its audit event
 * committed in the transaction that read it.
 */
export class DatasetStreams {
  readonly #deps: DatasetDeps;

  constructor(deps: DatasetDeps) {
    this.#deps = deps;
  }

  /**
   * Checks that `principal` may stream the lease now, then returns its pages as NDJSON buffers.
   * The first page is read before returning, so a refusal (or an audit log that cannot record
   * the read) still becomes a status code rather than a cut stream.
   */
  async openStream(principal: Principal, datasetId: string, after: string | undefined): Promise<AsyncIterable<Buffer>> {
    const lease = isUuid(datasetId) ? await findLease(this.#deps.database.db, datasetId) : undefined;
    const refuse = async (code: StreamRefusal, reason: string, message: string): Promise<never> => {
      await this.#deps.audit.appendAlone({
        action: 'dataset.stream',
        decision: 'deny',
        severity: code === 'ERR_FORBIDDEN' ? 'high' : 'info',
        actor: principal,
        ...(lease ? { decisionId: lease.decisionId, policyRevision: lease.policyRevision } : {}),
        recordCount: 0,
        details: { dataset_id: datasetId, reason },
      });
      throw new VaultError(code, message);
    };
    if (!lease) return refuse('ERR_NOT_FOUND', 'no_such_dataset', 'no such dataset');
    if (lease.requester !== principal.sub) return refuse('ERR_FORBIDDEN', 'not_the_requester', 'only the job that requested this dataset may read it');
    if (lease.expiresAt <= nowOf(this.#deps)) return refuse('ERR_LEASE_EXPIRED', 'lease_expired', 'this dataset lease has expired');
    await assertLeaseStillGranted(this.#deps, principal, lease);
    const start = after === undefined ? undefined : parseCursor(after, lease.orgUnits.length);
    const pseudonymKey = await this.#deps.keyRing.unwrapVaultSecret(`dataset:${datasetId}`, lease.pseudonymKey);
    const pages = this.#pages(principal, lease, pseudonymizer(pseudonymKey), start);
    const first = await pages.next();
    async function* all(): AsyncGenerator<Buffer> {
      try {
        if (!first.done) yield first.value;
        yield* pages;
      } finally {
        pseudonymKey.fill(0);
      }
    }
    return all();
  }

  async *#pages(principal: Principal, lease: LeaseRow, subjectOf: (employeeId: string) => string, start: StreamPosition | undefined): AsyncGenerator<Buffer> {
    for (let unit = start?.unit ?? 0; unit < lease.orgUnits.length; unit++) {
      let position = start && unit === start.unit ? { capturedAt: new Date(start.capturedAtMs), eventId: start.eventId } : undefined;
      for (;;) {
        if (lease.expiresAt <= nowOf(this.#deps)) return;
        const page = await this.#page(principal, lease, unit, position, subjectOf);
        if (page.body.length > 0) yield page.body;
        if (page.done || !page.last) break;
        position = { capturedAt: page.last.captured_at, eventId: page.last.event_id };
      }
    }
  }

  /** One page of one org unit: read, opened, encoded and audited in one transaction. */
  async #page(principal: Principal, lease: LeaseRow, unit: number, position: { capturedAt: Date; eventId: string } | undefined, subjectOf: (employeeId: string) => string) {
    const { audit, database, keyRing } = this.#deps;
    return inTransaction(database, async (trx) => {
      const rows = await readScopePage(trx, lease, lease.orgUnits[unit]!, position, PAGE_RECORDS);
      const states = await employeeKeyStates(trx, [...new Set(rows.map((r) => r.employee_id))]);
      const { body, records, skipped } = await encodePage(keyRing, rows, states, unit, subjectOf);
      const done = rows.length < PAGE_RECORDS;
      await audit.append(trx, {
        action: 'dataset.stream',
        decision: 'allow',
        severity: skipped.failed_authentication > 0 ? 'high' : 'info',
        actor: principal,
        decisionId: lease.decisionId,
        policyRevision: lease.policyRevision,
        recordCount: records,
        details: {
          dataset_id: lease.datasetId,
          org_unit: lease.orgUnits[unit],
          records,
          bytes: body.length,
          skipped,
          ...(done && unit === lease.orgUnits.length - 1 ? { stream_end: true } : {}),
        },
      });
      return { body, last: rows.at(-1), done };
    });
  }
}
