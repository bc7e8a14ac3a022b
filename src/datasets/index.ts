export { DatasetRequests, type DatasetGrant } from './request.js';
export { DatasetStreams, MAX_SHARDS, type StreamLoad, type StreamRequest } from './stream.js';
export { AccessReports, leaseOfEmployee, type AccessReport, type LeaseOfEmployee } from './access-report.js';
export { LEASE_HOURS, PAGE, PAGE_BYTES, PAGE_RECORDS, type DatasetDeps } from './deps.js';
export { encodePage, type EncodedPage, type SkippedRecords } from './page.js';
export { MAX_STREAMS_PER_WORKER, PageWorkers } from './page-workers.js';
