export { AccessGate, type RequestContext } from './gate.js';
