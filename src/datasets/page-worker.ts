/**
 * A page worker thread (see page-workers.ts): reads dataset pages over a connection pool of its
 * own, as the RLS-confined reader, and opens and writes them as NDJSON under the keys the main
 * thread unwrapped for that page. The rows stay here; only counts, key names and the finished page
 * go back. Keys and dataset secrets are zeroed when their page or stream ends.
 */
import { workerData } from 'node:worker_threads';
import { loadAead, RecordOpener } from '../crypto/index.js';
import { keysUsedBy, openDatabase, readScopePage, type StreamRow } from '../db/index.js';
import { bindingOf, encodeRows } from './page.js';
import { datasetLines, lineKeys, type LineKeys } from './lines.js';
import { PAGE_WORKER_APPLICATION, type PageWorkerData, type WorkerRequest } from './page-workers.js';
import { serveThread } from '../threads/index.js';

const { databaseUrl, aead, poolSize } = workerData as PageWorkerData;
const database = await openDatabase({ url: databaseUrl, poolSize, applicationName: PAGE_WORKER_APPLICATION });
const opener = new RecordOpener(await loadAead(aead));

interface OpenStream {
  readonly request: Extract<WorkerRequest, { op: 'open' }>;
  readonly keys: LineKeys;
  readonly pages: Map<number, StreamRow[]>;
}
const streams = new Map<number, OpenStream>();

function streamOf(id: number): OpenStream {
  const stream = streams.get(id);
  if (!stream) throw new TypeError('no such stream in this page worker');
  return stream;
}

async function handle(request: WorkerRequest): Promise<{ result: unknown; transfer?: ArrayBuffer[] }> {
  switch (request.op) {
    case 'open': {
      const secret = Buffer.from(request.secret.buffer, request.secret.byteOffset, request.secret.byteLength);
      try {
        streams.set(request.stream, { request, keys: lineKeys(secret, request.datasetId, request.shard), pages: new Map() });
      } catch (err) {
        secret.fill(0);
        throw err;
      }
      return { result: null };
    }
    case 'read': {
      const { request: open, pages } = streamOf(request.stream);
      const { rows, final } = await readScopePage(database, open.scope, request.orgUnit, request.after, request.bound, open.employees);
      const stream = streams.get(request.stream);
      // The stream may have closed while its page was read: nothing is kept for it then.
      if (stream) pages.set(request.page, rows);
      const last = rows.at(-1);
      return { result: { count: rows.length, final, used: keysUsedBy(rows), last: last && { capturedAt: last.captured_at, eventId: last.event_id } } };
    }
    case 'encode': {
      try {
        const stream = streamOf(request.stream);
        const rows = stream.pages.get(request.page);
        stream.pages.delete(request.page);
        if (!rows) throw new TypeError('no such page in this page worker');
        const enrolled = new Set(request.enrolled);
        const page = opener.withKeys(request.keys, (keys) =>
          encodeRows(rows, keys, (key, row, target) => opener.openInto(key, bindingOf(row), row.envelope, target), (id) => enrolled.has(id), datasetLines(rows, request.unit, stream.keys)),
        );
        // The page owns its ArrayBuffer (see encodeRows): moving it moves nothing else.
        return { result: { body: page.body, records: page.records, skipped: page.skipped }, transfer: [page.body.buffer as ArrayBuffer] };
      } finally {
        request.keys.bytes.fill(0);
      }
    }
    case 'drop':
      streams.get(request.stream)?.pages.delete(request.page);
      return { result: null };
    case 'close': {
      streams.get(request.stream)?.keys.forget();
      streams.delete(request.stream);
      return { result: null };
    }
    case 'shutdown': {
      for (const stream of streams.values()) stream.keys.forget();
      streams.clear();
      await database.close();
      return { result: null };
    }
  }
}

serveThread<WorkerRequest>(handle);
