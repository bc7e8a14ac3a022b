import { Counter, Histogram, Registry, collectDefaultMetrics } from 'prom-client';

export interface HttpMetrics {
  readonly registry: Registry;
  readonly requests: Counter<'method' | 'route' | 'status'>;
  readonly latency: Histogram<'method' | 'route'>;
  readonly recordsIngested: Counter;
  readonly recordsDuplicate: Counter;
  readonly recordsDropped: Counter<'reason'>;
  readonly recordsRejected: Counter<'error'>;
  readonly recordsSensitive: Counter<'category'>;
}

export function createMetrics(): HttpMetrics {
  const registry = new Registry();
  collectDefaultMetrics({ register: registry, prefix: 'vault_process_' });
  return {
    registry,
    requests: new Counter({ name: 'vault_http_requests_total', help: 'HTTP requests by route and status', labelNames: ['method', 'route', 'status'], registers: [registry] }),
    latency: new Histogram({
      name: 'vault_http_request_duration_seconds',
      help: 'HTTP request latency',
      labelNames: ['method', 'route'],
      buckets: [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10],
      registers: [registry],
    }),
    recordsIngested: new Counter({ name: 'vault_records_ingested_total', help: 'Records encrypted and stored', registers: [registry] }),
    recordsDuplicate: new Counter({ name: 'vault_records_duplicate_total', help: 'Records already stored (retries)', registers: [registry] }),
    recordsDropped: new Counter({ name: 'vault_records_dropped_total', help: 'Records not stored, by reason (consent, erased keys, sensitive content)', labelNames: ['reason'], registers: [registry] }),
    recordsSensitive: new Counter({ name: 'vault_records_sensitive_total', help: 'Records dropped for their content (level 4), by category found', labelNames: ['category'], registers: [registry] }),
    recordsRejected: new Counter({ name: 'vault_records_rejected_total', help: 'Records rejected as invalid', labelNames: ['error'], registers: [registry] }),
  };
}
