import { VaultError } from '../errors/index.js';
import { isKind, isOrgUnit, isSensitivity, MAX_SENSITIVITY, parseTimestamp, type DatasetRequest } from '../model/index.js';

const FIELDS = new Set(['purpose', 'kinds', 'org_units', 'from', 'to', 'max_sensitivity']);
const MAX_KINDS = 64;
const MAX_ORG_UNITS = 1000;

function invalid(message: string): VaultError {
  return new VaultError('ERR_INVALID_REQUEST', message);
}

function names(value: unknown, field: string, valid: (v: unknown) => boolean, max: number): string[] {
  if (value === undefined) return [];
  if (!Array.isArray(value) || value.length > max || !value.every(valid)) {
    throw invalid(`${field} must be a list of at most ${max} names`);
  }
  return [...new Set(value as string[])].sort();
}

function instant(value: unknown, field: string): Date {
  const ms = typeof value === 'string' ? parseTimestamp(value) : undefined;
  if (ms === undefined || Number.isNaN(ms)) throw invalid(`${field} must be an RFC 3339 timestamp with a time zone, in the years 0001-9999`);
  return new Date(ms);
}

/** `POST /v1/datasets` body -> a checked request; empty lists mean "all the grant allows". */
export function parseDatasetRequest(body: unknown): DatasetRequest {
  if (typeof body !== 'object' || body === null || Array.isArray(body)) throw invalid('the body must be a JSON object');
  const b = body as Record<string, unknown>;
  for (const key of Object.keys(b)) if (!FIELDS.has(key)) throw invalid(/^[a-z_]{1,32}$/.test(key) ? `unknown field "${key}"` : 'unknown field');
  if (typeof b.purpose !== 'string' || b.purpose.length === 0 || b.purpose.length > 256) throw invalid('purpose is required');
  const from = instant(b.from, 'from');
  const to = instant(b.to, 'to');
  if (from >= to) throw invalid('from must be before to');
  if (b.max_sensitivity !== undefined && !isSensitivity(b.max_sensitivity)) throw invalid(`max_sensitivity must be an integer 0-${MAX_SENSITIVITY}`);
  return {
    purpose: b.purpose,
    kinds: names(b.kinds, 'kinds', isKind, MAX_KINDS),
    orgUnits: names(b.org_units, 'org_units', isOrgUnit, MAX_ORG_UNITS),
    from,
    to,
    maxSensitivity: b.max_sensitivity as number | undefined,
  };
}
