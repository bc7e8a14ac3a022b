export { EMPLOYEE_ID, ORG_UNIT, TEAM_ID, KIND, UUID, UUID_TEXT, POLICY_REVISION, EVENT_ID, PLAIN_TEXT, parseTimestamp, uuidFromBytes, isEmployeeId, isOrgUnit, isTeamId, isKind, isUuid, isPlainText } from './identifiers.js';
export { MAX_PAYLOAD_BYTES } from './payload.js';
export { SPECIAL_CATEGORY, MAX_SENSITIVITY, NEVER_EXPORTED_SENSITIVITY, isSensitivity } from './sensitivity.js';
export { scopeToJson, policyRequestOf, scopeFromPolicyResult, narrowScope, isEmptyScope, type Scope, type ScopeJson, type DatasetRequest, type DatasetRequestJson } from './scope.js';
export { idSchemas, stringArray, plainText, timestampSchema, scopeJsonSchema, datasetRequestSchema } from './schemas.js';
