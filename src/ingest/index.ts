export { RecordIngestor, type BatchClassifier, type IngestResult, type IngestDeps, type DropReason, type DroppedRecord, type RejectionCode } from './records.js';
export { upsertRoster, parseRoster, MAX_ROSTER_BATCH, type RosterEntry, type RosterResult, type RosterService } from './roster.js';
export { MAX_PAYLOAD_DEPTH } from './validate.js';
export { SealWorkers } from './seal-workers.js';
