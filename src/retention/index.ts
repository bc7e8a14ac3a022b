export { RetentionJob, type RetentionReport, type RetentionTotals, type RetentionDeps } from './retention.js';
