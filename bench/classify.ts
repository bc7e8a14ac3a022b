/*
 * Classification (issue 10): recall and precision per category on the labelled corpus, the
 * classifier's records/s alone, and ingest throughput with and without classification against a
 * plain binary COPY of the same rows into the same PostgreSQL, in the same run. Not a test; prints tables.
 *   BENCH_RECORDS (default 100000), BENCH_RUNS (default 5), VAULT_DATABASE_URL (optional),
 *   BENCH_SKIP_INGEST=1 to print only what needs no database.
 */
import os from 'node:os';
import { sql } from 'kysely';
import { Classifier, loadClassifierLists, type Classification } from '../src/classify/index.js';
import { copyRecords, type RecordRow } from '../src/db/index.js';
import { RecordIngestor } from '../src/ingest/index.js';
import { buildCorpus } from '../test/classify/corpus/index.js';
import { scoreCorpus } from '../test/classify/corpus/score.js';
import { BENCH_ACTOR, BENCH_EMPLOYEES, emptyRecords, fmt, openBenchVault, plainCopyRows, printTable, syntheticRecords, median } from './support.js';

const N = Number(process.env.BENCH_RECORDS ?? 100_000);
const RUNS = Number(process.env.BENCH_RUNS ?? 5);
const BATCH = 5000;
const EMPLOYEES = BENCH_EMPLOYEES;
const NOTHING_FOUND: Classification = Object.freeze({ level: 0, categories: [] });

interface Path {
  readonly label: string;
  /** Makes fresh input for one run, outside the timing. */
  readonly input?: () => unknown;
  /** Runs once over the input and returns how many records it handled. */
  readonly run: (input: never) => Promise<number> | number;
}

interface Measured {
  readonly label: string;
  readonly rates: number[];
}


/** RUNS rounds; each round runs every path once, in order, so drift hits all paths alike. */
async function alternate(paths: readonly Path[], prepare: () => Promise<void> = async () => {}): Promise<Measured[]> {
  const measured = paths.map((p) => ({ label: p.label, rates: [] as number[] }));
  for (let round = 0; round < RUNS; round++) {
    for (const [i, p] of paths.entries()) {
      await prepare();
      const input = p.input?.() as never;
      const started = performance.now();
      const records = await p.run(input);
      measured[i]!.rates.push(records / ((performance.now() - started) / 1000));
    }
  }
  return measured;
}

function printRates(measured: readonly Measured[], baseline: Measured): void {
  printTable(
    ['path', 'records/s (median)', 'min', 'max', 'vs baseline'],
    measured.map((m) => [m.label, fmt(median(m.rates)), fmt(Math.min(...m.rates)), fmt(Math.max(...m.rates)), (median(m.rates) / median(baseline.rates)).toFixed(2)]),
  );
}

function quality(classifier: Classifier): void {
  const corpus = buildCorpus();
  const score = scoreCorpus(corpus, (payload) => classifier.classify(payload));
  console.log(`\nquality: labelled corpus of ${fmt(corpus.length)} items, ${fmt(score.benign)} benign (test/classify/corpus)\n`);
  printTable(
    ['category', 'recall', 'precision', 'support', 'flagged'],
    score.categories.map((c) => [c.category, c.recall.toFixed(3), c.precision.toFixed(3), c.support, c.flagged]),
  );
  console.log(`\nbenign items classified level 3 or 4: ${score.benignFlagged.length}/${score.benign} (${((100 * score.benignFlagged.length) / score.benign).toFixed(2)}%)`);
}

async function classifierAlone(classifier: Classifier): Promise<void> {
  // Both sets are JSON.parse'd, as ingest receives them; the corpus is repeated to the same size as the work payloads.
  const corpus = JSON.parse(JSON.stringify(buildCorpus().map((i) => i.payload))) as unknown[];
  const mixed = Array.from({ length: N }, (_, i) => corpus[i % corpus.length]);
  const work = syntheticRecords(N, EMPLOYEES).map((r) => r.payload);
  const bytes = (payloads: unknown[]) => payloads.reduce<number>((n, p) => n + JSON.stringify(p).length, 0) / payloads.length;
  const classifyAll = (payloads: unknown[]) => () => {
    for (const p of payloads) classifier.classify(p);
    return payloads.length;
  };
  const paths: Path[] = [
    {
      label: 'JSON.stringify of the work payloads (baseline: ingest serialises every payload anyway)',
      run: () => {
        for (const p of work) JSON.stringify(p);
        return work.length;
      },
    },
    { label: `classify(), work payloads of bench/ingest (~${Math.round(bytes(work))} B)`, run: classifyAll(work) },
    { label: `classify(), corpus payloads (~${Math.round(bytes(mixed))} B, ${Math.round((100 * buildCorpus().filter((i) => i.expected.length > 0).length) / corpus.length)}% sensitive)`, run: classifyAll(mixed) },
  ];
  classifyAll(work)();
  classifyAll(mixed)();
  console.log(`\nclassifier alone: ${fmt(N)} payloads per run, median of ${RUNS} alternating runs, one core\n`);
  const measured = await alternate(paths);
  printRates(measured, measured[0]!);
}

/**
 * Ingest with the classifier against the same ingest with classification switched off (a classifier
 * that finds nothing), both against plain binary COPY. Relies on IngestDeps.classifier, the seam
 * issue 10's ingest integration added; the records are bench/ingest's work payloads, all stored.
 */
async function ingestWithAndWithout(classifier: Classifier): Promise<void> {
  const bench = await openBenchVault();
  const { vault, config, database } = bench;
  try {
    const deps = { database, keyRing: vault.keyRing, audit: vault.audit, recordKinds: config.recordKinds, maxBatchRecords: config.ingest.maxBatchRecords, storeLevel4: config.storeLevel4, collection: vault.ingestGate };
    const inForce = (found: Pick<Classifier, 'classify'>) => () => ({ classifier: found, revision: 'bench', lists: 'builtin' as const });
    const classified = new RecordIngestor({ ...deps, classifier: inForce(classifier) });
    const unclassified = new RecordIngestor({ ...deps, classifier: inForce({ classify: () => NOTHING_FOUND }) });
    // Warm up JIT, key cache and the month partition for both.
    for (const ingestor of [classified, unclassified]) await ingestor.ingest(syntheticRecords(BATCH, EMPLOYEES), BENCH_ACTOR);

    const fresh = () => syntheticRecords(N, EMPLOYEES);
    const viaIngest = (ingestor: RecordIngestor) => async (records: ReturnType<typeof fresh>) => {
      for (let i = 0; i < records.length; i += BATCH) {
        const result = await ingestor.ingest(records.slice(i, i + BATCH), BENCH_ACTOR);
        if (result.accepted !== Math.min(BATCH, records.length - i)) throw new Error(`ingest stored ${result.accepted} of a batch`);
      }
      return records.length;
    };
    const paths: Path[] = [
      {
        label: 'plain binary COPY, no encryption (baseline)',
        input: () =>
          plainCopyRows(fresh()),
        run: async (rows: RecordRow[]) => {
          for (let i = 0; i < rows.length; i += BATCH) await database.db.transaction().execute((trx) => copyRecords(trx, rows.slice(i, i + BATCH)));
          return rows.length;
        },
      },
      { label: 'vault ingest, library call, with classification', input: fresh, run: viaIngest(classified) },
      { label: 'vault ingest, library call, classification off', input: fresh, run: viaIngest(unclassified) },
    ];
    const version = (await sql<{ server_version: string }>`show server_version`.execute(database.db)).rows[0]!.server_version;
    console.log(`\ningest: ${fmt(N)} records per run (bench/ingest payloads), batches of ${BATCH}, median of ${RUNS} alternating runs, PostgreSQL ${version}, ${os.cpus().length} cores\n`);
    const measured = await alternate(paths, () => emptyRecords(database));
    printRates(measured, measured[0]!);
    const [, withIt, without] = measured;
    console.log(`\nclassification keeps ${((100 * median(withIt!.rates)) / median(without!.rates)).toFixed(0)}% of ingest throughput`);
  } finally {
    await bench.close();
  }
}

async function main(): Promise<void> {
  const classifier = new Classifier(await loadClassifierLists());
  quality(classifier);
  await classifierAlone(classifier);
  if (process.env.BENCH_SKIP_INGEST === '1') return;
  await ingestWithAndWithout(classifier);
}

await main();
