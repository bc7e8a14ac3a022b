import { VaultError } from '../errors/index.js';
import { UUID_TEXT } from '../model/index.js';

/** A position in a dataset's stream: which of its org units, and the last record sent in it. */
export interface StreamPosition {
  readonly unit: number;
  readonly capturedAtMs: number;
  readonly eventId: string;
}

const CURSOR = new RegExp(`^(\\d{1,4})\\.(\\d{1,16})\\.(${UUID_TEXT})$`, 'i');

export function formatCursor(p: StreamPosition): string {
  return `${p.unit}.${p.capturedAtMs}.${p.eventId}`;
}

export function parseCursor(text: string, unitCount: number): StreamPosition {
  const m = CURSOR.exec(text);
  const unit = Number(m?.[1]);
  if (!m || unit >= unitCount) throw new VaultError('ERR_INVALID_REQUEST', 'after is not a cursor of this dataset');
  return { unit, capturedAtMs: Number(m[2]), eventId: m[3]! };
}
