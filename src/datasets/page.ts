import { createHmac } from 'node:crypto';
import { dataKeyId, type KeyRing, type StoredDataKey } from '../crypto/index.js';
import type { EmployeeKeyState, StreamRow } from '../db/index.js';
import { isVaultError } from '../errors/index.js';

/** Records of a page that were not sent, by why. */
export interface SkippedRecords {
  not_enrolled: number;
  erased: number;
  failed_authentication: number;
}

export interface EncodedPage {
  /** NDJSON lines of the records sent. */
  readonly body: Buffer;
  readonly records: number;
  readonly skipped: SkippedRecords;
}

/** Per-dataset pseudonyms: HMAC of the employee id under the lease's secret, cached per stream. */
export function pseudonymizer(pseudonymKey: Buffer): (employeeId: string) => string {
  const pseudonyms = new Map<string, string>();
  return (employeeId) => {
    let p = pseudonyms.get(employeeId);
    if (!p) {
      p = createHmac('sha256', pseudonymKey).update(employeeId).digest().subarray(0, 16).toString('base64url');
      pseudonyms.set(employeeId, p);
    }
    return p;
  };
}

/** Only the key versions this page's records were sealed under, each once. */
function keysOfPage(rows: readonly StreamRow[], states: ReadonlyMap<string, EmployeeKeyState>): StoredDataKey[] {
  const stored: StoredDataKey[] = [];
  const needed = new Set<string>();
  for (const row of rows) {
    const id = dataKeyId(row.employee_id, row.dek_version);
    const key = states.get(row.employee_id)?.keys.get(row.dek_version);
    if (!key || needed.has(id)) continue;
    needed.add(id);
    stored.push({ employeeId: row.employee_id, dekVersion: row.dek_version, wrappedKey: key.wrappedKey, month: key.month });
  }
  return stored;
}

function joinLines(prefixes: readonly string[], payloads: readonly Buffer[]): Buffer {
  let size = 0;
  for (let i = 0; i < prefixes.length; i++) size += prefixes[i]!.length + payloads[i]!.length + 2;
  const body = Buffer.allocUnsafe(size);
  let at = 0;
  for (let i = 0; i < prefixes.length; i++) {
    at += body.write(prefixes[i]!, at, 'latin1');
    at += payloads[i]!.copy(body, at);
    body[at++] = 0x7d;
    body[at++] = 0x0a;
    payloads[i]!.fill(0);
  }
  return body;
}

/**
 * Opens a page's records and writes them as NDJSON. Each line is an ASCII prefix, the decrypted
 * payload's bytes as they are, and `}\n`: written once into the page's buffer, never decoded to a
 * string and encoded back; the plaintext buffers are zeroed as they are copied (or on failure).
 * A record whose key was destroyed (erased, or its month expired), of an employee no longer
 * enrolled (when the line asks), or that fails authentication is skipped and counted.
 */
export async function encodePage(
  keyRing: KeyRing,
  rows: readonly StreamRow[],
  states: ReadonlyMap<string, EmployeeKeyState>,
  line: {
    /** A line up to its payload: an ASCII JSON object opened, ending in `"payload":`. */
    readonly prefixOf: (row: StreamRow) => string;
    /** False for the employee's own copy: un-enrolment stops collection, not their access to what was kept. */
    readonly requireEnrolled: boolean;
  },
): Promise<EncodedPage> {
  const { prefixOf, requireEnrolled } = line;
  const skipped: SkippedRecords = { not_enrolled: 0, erased: 0, failed_authentication: 0 };
  const prefixes: string[] = [];
  const payloads: Buffer[] = [];
  await keyRing
    .withDataKeys(keysOfPage(rows, states), async (keys) => {
      for (const row of rows) {
        const key = keys.get(dataKeyId(row.employee_id, row.dek_version));
        if (!key) {
          skipped.erased++;
          continue;
        }
        if (requireEnrolled && !states.get(row.employee_id)?.enrolled) {
          skipped.not_enrolled++;
          continue;
        }
        try {
          const plaintext = keyRing.decryptRecord(
            key,
            { eventId: row.event_id, employeeId: row.employee_id, orgUnit: row.org_unit, kind: row.kind, capturedAt: row.captured_at, sensitivity: row.sensitivity, dekVersion: row.dek_version, categories: row.categories },
            row.envelope,
          );
          prefixes.push(prefixOf(row));
          payloads.push(plaintext);
        } catch (err) {
          if (!isVaultError(err, 'ERR_DECRYPT_FAILED')) throw err;
          skipped.failed_authentication++;
        }
      }
    })
    .catch((err: unknown) => {
      for (const p of payloads) p.fill(0);
      throw err;
    });
  return { body: joinLines(prefixes, payloads), records: prefixes.length, skipped };
}
