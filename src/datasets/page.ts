import { createHmac } from 'node:crypto';
import { dataKeyId, type DataKey, type KeyRing, type RecordBinding, type StoredDataKey } from '../crypto/index.js';
import { keysUsedBy, type EmployeeKeyState, type StreamRow } from '../db/index.js';
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

/** Where a stream stands in an org unit: after this record, in the order pages are read. */
export type PagePosition = { readonly capturedAt: Date; readonly eventId: string };

/** A data key version some of a page's records were sealed under. */
export type KeyUse = { readonly employeeId: string; readonly dekVersion: number };

/** Only the live key versions among `used` (a page's records' keys), each once. */
export function keysOfPage(used: Iterable<KeyUse>, states: ReadonlyMap<string, EmployeeKeyState>): StoredDataKey[] {
  const stored: StoredDataKey[] = [];
  const needed = new Set<string>();
  for (const { employeeId, dekVersion } of used) {
    const id = dataKeyId(employeeId, dekVersion);
    const key = states.get(employeeId)?.keys.get(dekVersion);
    if (!key || needed.has(id)) continue;
    needed.add(id);
    stored.push({ employeeId, dekVersion, wrappedKey: key.wrappedKey, month: key.month });
  }
  return stored;
}

/**
 * One buffer of its own (never a slice of Buffer's shared pool, where plaintext would outlive the
 * page in memory other buffers reuse, and which a move to another thread would take along).
 */
function joinLines(prefixes: readonly string[], payloads: readonly Buffer[]): Buffer {
  let size = 0;
  for (let i = 0; i < prefixes.length; i++) size += prefixes[i]!.length + payloads[i]!.length + 2;
  const body = Buffer.allocUnsafeSlow(size);
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

/** How a line of a page is written besides its payload, and who may be in it. */
export interface LineShape {
  /** A line up to its payload: an ASCII JSON object opened, ending in `"payload":`. */
  readonly prefixOf: (row: StreamRow) => string;
  /** False for the employee's own copy: un-enrolment stops collection, not their access to what was kept. */
  readonly requireEnrolled: boolean;
}

/** The binding a stored row's ciphertext was sealed to. */
export const bindingOf = (row: StreamRow): RecordBinding => ({
  eventId: row.event_id,
  employeeId: row.employee_id,
  orgUnit: row.org_unit,
  kind: row.kind,
  capturedAt: row.captured_at,
  sensitivity: row.sensitivity,
  dekVersion: row.dek_version,
  categories: row.categories,
});

/**
 * Writes a page's rows as NDJSON under keys already unwrapped. Each line is an ASCII prefix, the
 * decrypted payload's bytes as they are, and `}\n`: written once into the page's buffer, never
 * decoded to a string and encoded back; the plaintext buffers are zeroed as they are copied (or on
 * failure). A record whose key was destroyed (erased, or its month expired), of an employee no
 * longer enrolled (when the line asks), or that fails authentication is skipped and counted.
 */
export function encodeRows(
  rows: readonly StreamRow[],
  keys: ReadonlyMap<string, DataKey>,
  open: (key: DataKey, row: StreamRow) => Buffer,
  enrolled: (employeeId: string) => boolean,
  line: LineShape,
): EncodedPage {
  const { prefixOf, requireEnrolled } = line;
  const skipped: SkippedRecords = { not_enrolled: 0, erased: 0, failed_authentication: 0 };
  const prefixes: string[] = [];
  const payloads: Buffer[] = [];
  try {
    for (const row of rows) {
      const key = keys.get(dataKeyId(row.employee_id, row.dek_version));
      if (!key) {
        skipped.erased++;
        continue;
      }
      if (requireEnrolled && !enrolled(row.employee_id)) {
        skipped.not_enrolled++;
        continue;
      }
      try {
        const plaintext = open(key, row);
        prefixes.push(prefixOf(row));
        payloads.push(plaintext);
      } catch (err) {
        if (!isVaultError(err, 'ERR_DECRYPT_FAILED')) throw err;
        skipped.failed_authentication++;
      }
    }
  } catch (err) {
    for (const p of payloads) p.fill(0);
    throw err;
  }
  return { body: joinLines(prefixes, payloads), records: prefixes.length, skipped };
}

/** Opens a page's records under the keys `states` names, unwrapped for this page alone, and writes them as NDJSON (see {@link encodeRows}). */
export async function encodePage(keyRing: KeyRing, rows: readonly StreamRow[], states: ReadonlyMap<string, EmployeeKeyState>, line: LineShape): Promise<EncodedPage> {
  return keyRing.withDataKeys(keysOfPage(keysUsedBy(rows), states), async (keys) =>
    encodeRows(rows, keys, (key, row) => keyRing.decryptRecord(key, bindingOf(row), row.envelope), (id) => states.get(id)?.enrolled === true, line),
  );
}
