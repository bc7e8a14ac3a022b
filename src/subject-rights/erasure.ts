import { randomUUID } from 'node:crypto';
import type { AuditLog } from '../audit/index.js';
import type { Principal } from '../auth/index.js';
import {
  appendCollectionEvent,
  countErasureProgress,
  deleteShreddedRecords,
  destroyEmployeeKeys,
  finishErasure,
  inTransaction,
  insertErasure,
  lockEmployeeForErasure,
  pendingErasures,
  talliedRecords,
  type ErasureRow,
  type VaultDatabase,
} from '../db/index.js';
import { canonicalJson } from '../encoding/canonical-json.js';
import { loggableError, VaultError } from '../errors/index.js';

/** What an erasure receipt attests to; `statement` is exactly these fields as canonical JSON. */
export interface ErasureFacts {
  readonly type: 'activity-vault/erasure-receipt/v1';
  readonly erasure_id: string;
  /** The keyed reference that stands for the employee in the audit log. */
  readonly employee_ref: string;
  /** Data-key versions this erasure destroyed. */
  readonly key_versions_destroyed: number[];
  /** Versions an earlier erasure (or expiry) had already destroyed. */
  readonly key_versions_destroyed_before: number[];
  /** Records sealed under the versions destroyed now: from this instant no key opens them. */
  readonly records_unreadable: number;
  readonly erased_at: string;
  /** The `employee.erase` event of the audit log that records this erasure. */
  readonly audit_event_id: string;
}

/**
 * A signed erasure receipt. Anyone checks it with the vault's checkpoint key:
 * `base64 -d` the statement and the signature into files, then
 * `openssl pkeyutl -verify -pubin -inkey key.pem -rawin -in statement -sigfile signature`.
 */
export interface ErasureReceipt {
  readonly employee_id: string;
  readonly receipt: ErasureFacts;
  /** Base64 of the signed bytes: `receipt` as canonical JSON. */
  readonly statement: string;
  /** Base64 Ed25519 signature over the statement. */
  readonly signature: string;
  readonly key_id: string;
  readonly public_key_pem: string;
}

export interface ErasureDeps {
  readonly database: VaultDatabase;
  readonly audit: AuditLog;
  /** Zeroes this instance's cached keys of the employee (other instances hear the change event). */
  readonly forgetKeys: (employeeId: string) => void;
  readonly log?: (event: Record<string, unknown>, message: string) => void;
}

/** Rows deleted per statement by the background deletion: short transactions, no long lock. */
const DELETE_CHUNK = 5_000;

/**
 * Erasure by crypto-shredding: the employee's data keys are destroyed in one transaction with its
 * audit event, so from the commit on no path can open a record of theirs; the rows themselves are
 * deleted afterwards, in the background, and their absence changes nothing about readability.
 */
export class Erasures {
  readonly #deps: ErasureDeps;
  #deleting: Promise<void> | undefined;

  constructor(deps: ErasureDeps) {
    this.#deps = deps;
  }

  /** Destroys every data-key version of the employee and un-enrols them; idempotent; answers a signed receipt. */
  async erase(actor: Principal, employeeId: string): Promise<ErasureReceipt> {
    const { database, audit } = this.#deps;
    if (!actor.roles.includes('privacy-officer')) {
      await audit.appendAlone({ action: 'employee.erase', decision: 'deny', severity: 'high', actor, employeeId, recordCount: 0, details: { reason: 'not_privacy_officer' } });
      throw new VaultError('ERR_FORBIDDEN', 'only a privacy officer may erase an employee');
    }
    let receipt: ErasureReceipt;
    try {
      receipt = await inTransaction(database, async (trx) => {
        if (!(await lockEmployeeForErasure(trx, employeeId))) throw new VaultError('ERR_NOT_FOUND', 'no such employee');
        const { destroyed, alreadyDestroyed, at } = await destroyEmployeeKeys(trx, employeeId);
        const recordsUnreadable = await talliedRecords(trx, employeeId, destroyed);
        const erasureId = randomUUID();
        const facts = (auditEventId: string): ErasureFacts => ({
          type: 'activity-vault/erasure-receipt/v1',
          erasure_id: erasureId,
          employee_ref: audit.employeeRef(employeeId),
          key_versions_destroyed: destroyed,
          key_versions_destroyed_before: alreadyDestroyed,
          records_unreadable: recordsUnreadable,
          erased_at: at.toISOString(),
          audit_event_id: auditEventId,
        });
        await insertErasure(trx, { erasureId, employeeId, erasedAt: at, erasedBy: actor.sub, keyVersions: destroyed, recordsUnreadable });
        const collectionEvent = await appendCollectionEvent(trx, 'erased', employeeId, { employee_id: employeeId });
        const { eventId } = await audit.append(trx, {
          action: 'employee.erase',
          decision: 'allow',
          severity: 'high',
          actor,
          employeeId,
          recordCount: recordsUnreadable,
          details: {
            erasure_id: erasureId,
            key_versions_destroyed: destroyed,
            key_versions_destroyed_before: alreadyDestroyed,
            records_unreadable: recordsUnreadable,
            collection_event: collectionEvent,
          },
        });
        const signedFacts = facts(eventId);
        const statement = Buffer.from(canonicalJson(signedFacts));
        const signed = audit.signStatement(statement);
        return { employee_id: employeeId, receipt: signedFacts, statement: statement.toString('base64'), ...signed };
      });
    } catch (err) {
      if (err instanceof VaultError && err.code === 'ERR_NOT_FOUND') {
        await audit.appendAlone({ action: 'employee.erase', decision: 'deny', actor, employeeId, recordCount: 0, details: { reason: 'no_such_employee' } });
      }
      throw err;
    }
    this.#deps.forgetKeys(employeeId);
    return receipt;
  }

  /** Starts deleting the rows of finished erasures unless a pass is running; a failed pass is retried by the next call. */
  deleteInBackground(): void {
    if (this.#deleting) return;
    this.#deleting = this.deleteShreddedRows()
      .then(() => undefined)
      .catch((err: unknown) => this.#deps.log?.({ alarm: 'erasure_deletion_failed', error: loggableError(err) }, 'erased rows not deleted yet'))
      .finally(() => {
        this.#deleting = undefined;
      });
  }

  /** Resolves once the background pass in flight (if any) ends. */
  async settled(): Promise<void> {
    await this.#deleting;
  }

  /**
   * Deletes the rows sealed under destroyed keys of every pending erasure, a chunk per transaction,
   * and marks each erasure done. Any instance may run it; two at once only share the work.
   */
  async deleteShreddedRows(): Promise<number> {
    const { database } = this.#deps;
    let total = 0;
    for (const erasure of await pendingErasures(database.db, 100)) total += await this.#deleteRowsOf(erasure);
    return total;
  }

  async #deleteRowsOf(erasure: ErasureRow): Promise<number> {
    const { database } = this.#deps;
    let deleted = 0;
    for (;;) {
      const n = await inTransaction(database, async (trx) => {
        const count = await deleteShreddedRecords(trx, erasure.employeeId, erasure.keyVersions, DELETE_CHUNK);
        if (count > 0) await countErasureProgress(trx, erasure.erasureId, count);
        return count;
      });
      deleted += n;
      if (n < DELETE_CHUNK) break;
    }
    await inTransaction(database, (trx) => finishErasure(trx, erasure));
    return deleted;
  }
}
