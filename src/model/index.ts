export { EMPLOYEE_ID, ORG_UNIT, KIND, UUID, UUID_TEXT, POLICY_REVISION, parseTimestamp, isEmployeeId, isOrgUnit, isKind, isUuid } from './identifiers.js';
export { SPECIAL_CATEGORY, MAX_SENSITIVITY, NEVER_EXPORTED_SENSITIVITY, isSensitivity } from './sensitivity.js';
export { scopeToJson, policyRequestOf, scopeFromPolicyResult, narrowScope, isEmptyScope, type Scope, type ScopeJson, type DatasetRequest, type DatasetRequestJson } from './scope.js';
export { idSchemas, stringArray, scopeJsonSchema, datasetRequestSchema } from './schemas.js';
