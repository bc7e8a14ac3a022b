import { EMPLOYEE_ID, ORG_UNIT, POLICY_REVISION } from './identifiers.js';
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

/** The wire form of a scope (`scopeToJson`). */
export const scopeJsonSchema = {
  type: 'object',
  properties: { org_units: stringArray, kinds: stringArray, max_sensitivity: { type: 'integer' }, from: { type: 'string' }, to: { type: 'string' } },
} as const;

/**
 * The body of `POST /v1/datasets`. Names are checked by the parser, which says which list is
 * wrong without echoing it; the schema bounds sizes and types.
 */
export const datasetRequestSchema = {
  type: 'object',
  required: ['purpose', 'from', 'to'],
  additionalProperties: false,
  properties: {
    purpose: { type: 'string', minLength: 1, maxLength: 256 },
    kinds: { type: 'array', maxItems: 64, items: { type: 'string' } },
    org_units: { type: 'array', maxItems: 1000, items: { type: 'string' } },
    from: { type: 'string' },
    to: { type: 'string' },
    max_sensitivity: idSchemas.sensitivity,
  },
} as const;
