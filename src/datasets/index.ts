export { DatasetRequests, type DatasetGrant } from './request.js';
export { DatasetStreams } from './stream.js';
export { AccessReports, mayReadAccessReport, type AccessReport } from './access-report.js';
export { LEASE_HOURS, PAGE_RECORDS, type DatasetDeps } from './deps.js';
export { parseDatasetRequest } from './request-body.js';
export { formatCursor, parseCursor, type StreamPosition } from './cursor.js';
