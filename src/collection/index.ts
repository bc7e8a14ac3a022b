export { CollectionControls, actsForEmployee, DEFAULT_PAUSE_MINUTES, MIN_PAUSE_MINUTES, MAX_PAUSE_MINUTES } from './controls.js';
export type { ManifestView, EmployeeCaptureState, ProgramStatus, ProgramScopeStatus, ConsentView, CaptureStatus, CaptureRefusal } from './controls.js';
export { IngestGate, programPausedError, exportsFrozenError, RETRY_AFTER_PAUSED_SECONDS, type ControlledRecord } from './ingest-gate.js';
export { ControlState, type ChangeListener } from './state.js';
export { PermitSigner, PERMIT_SECONDS, PERMIT_AUDIENCE } from './permit.js';
export type { CollectionEventRow as CollectionEvent } from '../db/index.js';
export { defaultManifest, parseManifest, plainLanguage, diffManifests, MAX_RETENTION_DAYS, MAX_LIST, MAX_RULE_TEXT, PURPOSE, REGION_PATTERN, DOMAIN_RULE, type ManifestDocument, type ContextRules, type KindTerms, type ManifestDiff } from './manifest.js';
export type { ControlDrop } from './rules.js';
