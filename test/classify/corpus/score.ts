/* Recall and precision of a classifier on the corpus, shared by the quality gate and bench/classify. */
import { CATEGORIES, type Category, type Classification } from '../../../src/classify/index.js';
import type { CorpusItem } from './item.js';

export interface CategoryScore {
  readonly category: Category;
  /** Items labelled with the category. */
  readonly support: number;
  /** Of those, the ones the classifier gave the category. */
  readonly found: number;
  /** Items the classifier gave the category, labelled or not. */
  readonly flagged: number;
  readonly recall: number;
  readonly precision: number;
}

export interface Outcome {
  readonly item: CorpusItem;
  readonly got: Classification;
  /** Labelled categories the classifier did not report. */
  readonly missing: readonly Category[];
  /** Reported categories the label does not name. */
  readonly extra: readonly Category[];
}

export interface CorpusScore {
  readonly items: number;
  readonly benign: number;
  readonly categories: readonly CategoryScore[];
  readonly outcomes: readonly Outcome[];
  /** Benign items the classifier put at level 3 or 4. */
  readonly benignFlagged: readonly Outcome[];
}

export function scoreCorpus(items: readonly CorpusItem[], classify: (payload: unknown) => Classification): CorpusScore {
  const outcomes = items.map((item): Outcome => {
    const got = classify(item.payload);
    return {
      item,
      got,
      missing: item.expected.filter((c) => !got.categories.includes(c)),
      extra: got.categories.filter((c) => !item.expected.includes(c)),
    };
  });
  const categories = CATEGORIES.map((category): CategoryScore => {
    const support = outcomes.filter((o) => o.item.expected.includes(category)).length;
    const flagged = outcomes.filter((o) => o.got.categories.includes(category)).length;
    const found = outcomes.filter((o) => o.item.expected.includes(category) && o.got.categories.includes(category)).length;
    return { category, support, found, flagged, recall: support === 0 ? 1 : found / support, precision: flagged === 0 ? 1 : found / flagged };
  });
  const benign = outcomes.filter((o) => o.item.expected.length === 0);
  return { items: items.length, benign: benign.length, categories, outcomes, benignFlagged: benign.filter((o) => o.got.level >= 3) };
}

/** The per-category table as printable lines. */
export function scoreTable(score: CorpusScore): string[] {
  const rows = score.categories.map((c) => [c.category, c.recall.toFixed(3), c.precision.toFixed(3), String(c.support), String(c.flagged)]);
  rows.push(['benign at level 3-4', `${score.benignFlagged.length}/${score.benign}`, (score.benignFlagged.length / score.benign).toFixed(4), String(score.benign), '']);
  const headers = ['category', 'recall', 'precision', 'support', 'flagged'];
  const widths = headers.map((h, i) => Math.max(h.length, ...rows.map((r) => r[i]!.length)));
  const line = (r: string[]) => `| ${r.map((v, i) => v.padEnd(widths[i]!)).join(' | ')} |`;
  return [line(headers), `| ${widths.map((w) => '-'.repeat(w)).join(' | ')} |`, ...rows.map(line)];
}

/** One line per outcome: id, note, expected and what the classifier said (synthetic data, safe to print). */
export function describeOutcome(o: Outcome): string {
  return `${o.item.id} [${o.item.note}] expected {${o.item.expected.join(', ')}} got level ${o.got.level} {${o.got.categories.join(', ')}}`;
}

/** The labelled items of `category` the classifier missed, as printable lines. */
export function missesOf(score: CorpusScore, category: Category): string[] {
  return score.outcomes.filter((o) => o.missing.includes(category)).map(describeOutcome);
}
