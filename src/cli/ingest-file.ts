import fs from 'node:fs';
import readline from 'node:readline';
import type { IngestResult } from '../ingest/index.js';
import type { VaultServices } from '../services/index.js';
import { localOperator, progress } from './output.js';

export interface FileIngestSummary {
  readonly lines: number;
  readonly accepted: number;
  readonly duplicates: number;
  readonly dropped: number;
  readonly rejected: Array<{ line: number; error: string; message: string }>;
  readonly seconds: number;
}

/** Streams an NDJSON file into the vault in batches of the server's maximum size. */
export async function ingestNdjsonFile(services: VaultServices, file: string, options: { showProgress: boolean }): Promise<FileIngestSummary> {
  const operator = localOperator('ingest-agent');
  const started = performance.now();
  const bar = progress(options.showProgress);
  const batchSize = services.settings.maxBatchRecords;
  const rejected: FileIngestSummary['rejected'] = [];
  let lines = 0;
  let accepted = 0;
  let duplicates = 0;
  let dropped = 0;
  let batch: unknown[] = [];
  let batchLines: number[] = [];

  const flush = async (): Promise<void> => {
    if (batch.length === 0) return;
    const result: IngestResult = await services.ingest.ingest(batch, operator);
    accepted += result.accepted;
    duplicates += result.duplicates;
    dropped += result.dropped.length;
    for (const r of result.rejected) rejected.push({ line: batchLines[r.index]!, error: r.error, message: r.message });
    batch = [];
    batchLines = [];
    const seconds = (performance.now() - started) / 1000;
    bar.update(`${lines} lines, ${accepted} accepted, ${duplicates} duplicates, ${dropped} dropped, ${rejected.length} rejected, ${Math.round(lines / seconds)} lines/s`);
  };

  const input = readline.createInterface({ input: fs.createReadStream(file), crlfDelay: Infinity });
  for await (const text of input) {
    lines++;
    if (text.trim() === '') continue;
    try {
      batch.push(JSON.parse(text));
      batchLines.push(lines);
    } catch {
      rejected.push({ line: lines, error: 'invalid_record', message: 'line is not valid JSON' });
    }
    if (batch.length >= batchSize) await flush();
  }
  await flush();
  bar.done();
  return { lines, accepted, duplicates, dropped, rejected, seconds: (performance.now() - started) / 1000 };
}
