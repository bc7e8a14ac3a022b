export { Erasures, type ErasureReceipt, type ErasureFacts, type ErasureDeps } from './erasure.js';
export { OwnRecords, type OwnRecordStream, type OwnRecordsQuery, type OwnRecordsDeps } from './own-records.js';
export { ExposureReports, type Exposure, type ExposurePath, type ExposureDeps } from './exposure.js';
