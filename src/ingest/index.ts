export { RecordIngestor, type IngestResult, type IngestDeps, type DropReason, type RejectionCode } from './records.js';
export { upsertRoster, parseRoster, MAX_ROSTER_BATCH, type RosterEntry, type RosterResult } from './roster.js';
export { classifySensitivity, containsSpecialCategoryIdentifier } from './classify.js';
export { MAX_PAYLOAD_BYTES, ID_PATTERN, ORG_UNIT_PATTERN } from './validate.js';
