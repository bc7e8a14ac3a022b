export { DatasetRequests, type DatasetGrant } from './request.js';
export { DatasetStreams, MAX_SHARDS, type StreamRequest } from './stream.js';
export { AccessReports, leaseOfEmployee, type AccessReport, type LeaseOfEmployee } from './access-report.js';
export { LEASE_HOURS, PAGE_RECORDS, type DatasetDeps } from './deps.js';
export { encodePage, type EncodedPage, type SkippedRecords } from './page.js';
export { PageWorkers } from './page-workers.js';
