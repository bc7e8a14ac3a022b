import type { StreamRow } from '../db/index.js';
import { CursorSeal } from './cursor.js';
import { pseudonymizer, type LineShape } from './page.js';

/** What one stream writes into each line besides the payload; its keys are zeroed when the stream ends. */
export interface LineKeys {
  readonly subjectOf: (employeeId: string) => string;
  readonly cursors: CursorSeal;
  forget(): void;
}

/** The line keys of a dataset (and shard), derived from the dataset's secret; `secret` is zeroed by `forget`. */
export function lineKeys(secret: Buffer, datasetId: string, shard: { readonly index: number; readonly of: number } | undefined): LineKeys {
  const cursors = new CursorSeal(secret, datasetId, shard);
  let forgotten = false;
  return {
    subjectOf: pseudonymizer(secret),
    cursors,
    forget: () => {
      if (forgotten) return;
      forgotten = true;
      secret.fill(0);
      cursors.destroy();
    },
  };
}

/** How a dataset stream writes a page of org unit `unit`: a resumable cursor and the subject's pseudonym on every line. */
export function datasetLines(rows: readonly StreamRow[], unit: number, keys: LineKeys): LineShape {
  const cursorOf = keys.cursors.sealPage(rows, (row: StreamRow) => ({ unit, capturedAtMs: row.captured_at.getTime(), eventId: row.event_id }));
  return {
    prefixOf: (row) =>
      `{"cursor":"${cursorOf(row)}","subject":"${keys.subjectOf(row.employee_id)}","captured_at":"${row.captured_at.toISOString()}","kind":"${row.kind}","sensitivity":${row.sensitivity},"payload":`,
    requireEnrolled: true,
  };
}
