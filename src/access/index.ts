export { AccessGate, type AccessGateOptions, type RequestContext } from './gate.js';
export { REFUSAL_ACTION } from './refusals.js';
