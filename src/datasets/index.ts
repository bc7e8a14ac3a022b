export { DatasetService, LEASE_HOURS, PAGE_RECORDS, type DatasetGrant, type DatasetDeps, type AccessReport } from './service.js';
export { parseDatasetRequest, type DatasetRequest } from './request.js';
export { formatCursor, parseCursor, type StreamPosition } from './cursor.js';
