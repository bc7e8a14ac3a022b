import { Counter, Gauge, Histogram, Registry, collectDefaultMetrics } from 'prom-client';
import type { StreamLoad } from '../datasets/index.js';

export interface HttpMetrics {
  readonly registry: Registry;
  readonly requests: Counter<'method' | 'route' | 'status'>;
  readonly latency: Histogram<'method' | 'route'>;
  readonly recordsIngested: Counter;
  readonly recordsDuplicate: Counter;
  readonly recordsDropped: Counter<'reason'>;
  readonly recordsRejected: Counter<'error'>;
  readonly recordsSensitive: Counter<'category'>;
  readonly collectionChanges: Counter<'change'>;
  readonly eventStreams: Gauge;
  readonly erasures: Counter;
  readonly keysDestroyed: Counter<'cause'>;
}

/** Read when /metrics is scraped: the program's pauses, the retention job's totals and the dataset streams' load, as this instance knows them. */
export interface CollectionGauges {
  programPaused(): { collection: boolean; exports: boolean };
  retention?(): { runs: number; recordsDeleted: Readonly<Record<string, number>>; partitionsDropped: number; keysDestroyed: number; lastRunAt: Date | undefined };
  streams?(): StreamLoad;
  sealed?(): { readonly mainThread: number; readonly workers: number };
}

export function createMetrics(collection?: CollectionGauges): HttpMetrics {
  const registry = new Registry();
  collectDefaultMetrics({ register: registry, prefix: 'vault_process_' });
  const metrics: HttpMetrics = {
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
    collectionChanges: new Counter({
      name: 'vault_collection_changes_total',
      help: 'Collection control changes made through this instance: manifest, employee pause and opt-out, program pause and resume',
      labelNames: ['change'],
      registers: [registry],
    }),
    eventStreams: new Gauge({ name: 'vault_collection_event_streams', help: "Capture agents' open event streams on this instance", registers: [registry] }),
    erasures: new Counter({ name: 'vault_erasures_total', help: 'Employees erased (crypto-shredded) through this instance', registers: [registry] }),
    keysDestroyed: new Counter({ name: 'vault_data_keys_destroyed_total', help: 'Data-key versions destroyed through this instance by erasure (retention counts its own: vault_retention_keys_destroyed_total)', labelNames: ['cause'], registers: [registry] }),
  };
  if (collection) {
    new Gauge({
      name: 'vault_program_paused',
      help: '1 while the program is paused (scope collection) or exports are frozen (scope exports), as this instance knows it',
      labelNames: ['scope'],
      registers: [registry],
      collect() {
        const paused = collection.programPaused();
        this.set({ scope: 'collection' }, paused.collection ? 1 : 0);
        this.set({ scope: 'exports' }, paused.exports ? 1 : 0);
      },
    });
  }
  const retention = collection?.retention?.bind(collection);
  if (retention) {
    // Counters whose value lives in the job: each scrape sets them to its totals.
    new Counter({
      name: 'vault_retention_records_deleted_total',
      help: 'Records deleted by retention on this instance, by kind ("(whole months)": partitions dropped)',
      labelNames: ['kind'],
      registers: [registry],
      collect() {
        this.reset();
        for (const [kind, n] of Object.entries(retention().recordsDeleted)) this.inc({ kind }, n);
      },
    });
    new Counter({
      name: 'vault_retention_partitions_dropped_total',
      help: 'Monthly record partitions dropped by retention on this instance',
      registers: [registry],
      collect() {
        this.reset();
        this.inc(retention().partitionsDropped);
      },
    });
    new Counter({
      name: 'vault_retention_keys_destroyed_total',
      help: 'Data keys destroyed by retention on this instance (expired months, and old keys nothing uses)',
      registers: [registry],
      collect() {
        this.reset();
        this.inc(retention().keysDestroyed);
      },
    });
    new Gauge({
      name: 'vault_retention_last_run_timestamp_seconds',
      help: 'When retention last ran on this instance (0: not yet)',
      registers: [registry],
      collect() {
        this.set((retention().lastRunAt?.getTime() ?? 0) / 1000);
      },
    });
  }
  const streams = collection?.streams?.bind(collection);
  if (streams) {
    const gauge = (name: string, help: string, of: (load: StreamLoad) => number) =>
      new Gauge({
        name,
        help,
        registers: [registry],
        collect() {
          this.set(of(streams()));
        },
      });
    gauge('vault_dataset_streams_open', 'Dataset streams open on this instance', (load) => load.open);
    gauge('vault_dataset_pages_read_ahead', 'Dataset pages read ahead and not yet sent or dropped', (load) => load.pagesReadAhead);
    gauge('vault_page_worker_lanes', 'Dataset stream lanes page workers serve (one a shard, up to two a lone stream)', (load) => load.workerLanes);
  }
  const sealed = collection?.sealed?.bind(collection);
  if (sealed) {
    new Counter({
      name: 'vault_ingest_chunks_sealed_total',
      help: 'Ingest chunks (up to 500 records) classified and sealed, by thread: the main one, or a seal worker',
      labelNames: ['thread'],
      registers: [registry],
      collect() {
        const counts = sealed();
        this.reset();
        this.inc({ thread: 'main' }, counts.mainThread);
        this.inc({ thread: 'worker' }, counts.workers);
      },
    });
  }
  return metrics;
}
