import v8 from 'node:v8';

/**
 * How far V8 lets the old generation grow past what survived its last full collection, in percent.
 * Left to V8 (up to 4x when collections are cheap), a server streaming a dataset carried ~70 MB of
 * dead pages between collections: live heap ~35 MB, heap ~100-130 MB, and with the buffers those
 * pages pointed at, the 1M-record stream and 4 shards at once reached 245-268 MB RSS on PostgreSQL
 * against a 256 MB bound. At 50% they peak at ~155-170 MB.
 */
export const SERVER_HEAP_GROWING_PERCENT = 50;

/**
 * Bounds the server's heap growth (see {@link SERVER_HEAP_GROWING_PERCENT}), unless the operator
 * set `--heap-growing-percent` on node's command line (NODE_OPTIONS does not take it). V8 reads it
 * at each collection, so setting it at start-up takes effect.
 */
export function boundServerHeap(): void {
  if (process.execArgv.some((flag) => flag.startsWith('--heap-growing-percent') || flag.startsWith('--heap_growing_percent'))) return;
  v8.setFlagsFromString(`--heap-growing-percent=${SERVER_HEAP_GROWING_PERCENT}`);
}
