export { AccessGate, type AccessGateOptions, type RequestContext } from './gate.js';
export { REFUSAL_ACTION, RefusalTally, type AuditBatchWriter, type RefusalTallyOptions } from './refusals.js';
