import { createHmac } from 'node:crypto';
import { dataKeyId, envelopePlaintextBytes, type DataKey, type KeyRing, type RecordBinding, type StoredDataKey } from '../crypto/index.js';
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
 * decrypted payload's bytes as they are, and `}\n`; each payload is opened straight into the
 * page's buffer, never into a buffer of its own, decoded to a string or copied. The buffer is the
 * page's alone (never a slice of Buffer's shared pool, where plaintext would outlive the page in
 * memory other buffers reuse, and which a move to another thread would take along), and is zeroed
 * if writing it fails. A record whose key was destroyed (erased, or its month expired), of an
 * employee no longer enrolled (when the line asks), or that fails authentication is skipped and
 * counted.
 */
export function encodeRows(
  rows: readonly StreamRow[],
  keys: ReadonlyMap<string, DataKey>,
  openInto: (key: DataKey, row: StreamRow, target: Buffer) => void,
  enrolled: (employeeId: string) => boolean,
  line: LineShape,
): EncodedPage {
  const { prefixOf, requireEnrolled } = line;
  const skipped: SkippedRecords = { not_enrolled: 0, erased: 0, failed_authentication: 0 };
  const sent: StreamRow[] = [];
  const openedBy: DataKey[] = [];
  const prefixes: string[] = [];
  let size = 0;
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
    const prefix = prefixOf(row);
    sent.push(row);
    openedBy.push(key);
    prefixes.push(prefix);
    size += prefix.length + envelopePlaintextBytes(row.envelope) + 2;
  }
  const body = Buffer.allocUnsafeSlow(size);
  let at = 0;
  try {
    for (let i = 0; i < sent.length; i++) {
      const row = sent[i]!;
      const start = at;
      at += body.write(prefixes[i]!, at, 'latin1');
      const end = at + envelopePlaintextBytes(row.envelope);
      try {
        openInto(openedBy[i]!, row, body.subarray(at, end));
      } catch (err) {
        if (!isVaultError(err, 'ERR_DECRYPT_FAILED')) throw err;
        skipped.failed_authentication++;
        at = start;
        continue;
      }
      at = end;
      body[at++] = 0x7d;
      body[at++] = 0x0a;
    }
  } catch (err) {
    body.fill(0);
    throw err;
  }
  // Lines skipped here leave the end of the buffer unused: zeroed, and not part of the page.
  if (at < size) body.fill(0, at);
  const records = sent.length - skipped.failed_authentication;
  return { body: at < size ? body.subarray(0, at) : body, records, skipped };
}

/** Opens a page's records under the keys `states` names, unwrapped for this page alone, and writes them as NDJSON (see {@link encodeRows}). */
export async function encodePage(keyRing: KeyRing, rows: readonly StreamRow[], states: ReadonlyMap<string, EmployeeKeyState>, line: LineShape): Promise<EncodedPage> {
  return keyRing.withDataKeys(keysOfPage(keysUsedBy(rows), states), async (keys) =>
    encodeRows(rows, keys, (key, row, target) => keyRing.decryptRecordInto(key, bindingOf(row), row.envelope, target), (id) => states.get(id)?.enrolled === true, line),
  );
}
