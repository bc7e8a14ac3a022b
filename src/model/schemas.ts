import { EMPLOYEE_ID, KIND, ORG_UNIT, PLAIN_TEXT, POLICY_REVISION } from './identifiers.js';
import { MAX_SENSITIVITY } from './sensitivity.js';

/** JSON Schema pieces for the HTTP routes, built from the same patterns the parsers use. */
export const idSchemas = {
  employeeId: { type: 'string', pattern: EMPLOYEE_ID.source },
  orgUnit: { type: 'string', pattern: ORG_UNIT.source },
  /** A dataset id as a path parameter: shape-checked by the service, so a wrong id is audited, not a schema error. */
  datasetId: { type: 'string', maxLength: 64 },
  policyRevision: { type: 'string', pattern: POLICY_REVISION.source },
  sensitivity: { type: 'integer', minimum: 0, maximum: MAX_SENSITIVITY },
} as const;

export const stringArray = { type: 'array', items: { type: 'string' } } as const;

/**
 * Free text a caller sends that reaches the database (a region, a filter, a purpose): bounded, and
 * without control characters (`PLAIN_TEXT`), so U+0000 is a 400 naming the field, not a 500.
 */
export function plainText(maxLength: number, minLength = 0) {
  return { type: 'string', minLength, maxLength, pattern: PLAIN_TEXT.source } as const;
}

/** An RFC 3339 timestamp with its zone; the route parses it with `parseTimestamp` (years 0001-9999). */
export const timestampSchema = { type: 'string', format: 'date-time', maxLength: 40 } as const;

/** The wire form of a scope (`scopeToJson`). */
export const scopeJsonSchema = {
  type: 'object',
  properties: { org_units: stringArray, kinds: stringArray, max_sensitivity: { type: 'integer' }, from: { type: 'string' }, to: { type: 'string' } },
} as const;

/**
 * The body of `POST /v1/datasets`. The parser checks it again (the service is also called without
 * HTTP); the schema states the same shapes so that `/openapi.json` says what is accepted. Neither
 * echoes a rejected name. What no schema can say (`from` before `to`) is the parser's alone.
 */
export const datasetRequestSchema = {
  type: 'object',
  required: ['purpose', 'from', 'to'],
  additionalProperties: false,
  properties: {
    purpose: plainText(256, 1),
    kinds: { type: 'array', maxItems: 64, items: { type: 'string', pattern: KIND.source } },
    org_units: { type: 'array', maxItems: 1000, items: idSchemas.orgUnit },
    from: timestampSchema,
    to: timestampSchema,
    max_sensitivity: idSchemas.sensitivity,
  },
} as const;
