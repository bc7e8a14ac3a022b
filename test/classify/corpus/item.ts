import type { Category } from '../../../src/classify/index.js';
import { numericEvidence } from './checks.js';
import type { Rng } from './random.js';

export type Kind = 'keystroke' | 'prompt' | 'clipboard' | 'window_focus';

/** One labelled capture payload: `expected` names every category it holds, empty when benign. */
export interface CorpusItem {
  readonly id: string;
  readonly kind: Kind;
  readonly payload: Readonly<Record<string, unknown>>;
  readonly expected: readonly Category[];
  readonly note: string;
}

export interface Draft {
  readonly kind: Kind;
  readonly payload: Record<string, unknown>;
  readonly expected: readonly Category[];
  readonly note: string;
  /** Number-shaped categories the check-digit reader must itself find in the text (guards the generator). */
  readonly mustShow?: ReadonlyArray<'payment_card' | 'government_id' | 'bank_account'>;
}

export type Generator = (rng: Rng) => Draft;

export function stringLeaves(value: unknown, out: string[] = []): string[] {
  if (typeof value === 'string') out.push(value);
  else if (Array.isArray(value)) for (const v of value) stringLeaves(v, out);
  else if (value && typeof value === 'object') {
    for (const [k, v] of Object.entries(value)) {
      out.push(k);
      stringLeaves(v, out);
    }
  }
  return out;
}

/** Why `draft` is not labelled by construction, or undefined when it is. */
export function labelProblem(draft: Pick<Draft, 'payload' | 'expected' | 'mustShow'>): string | undefined {
  const evidence = new Set<string>();
  for (const leaf of stringLeaves(draft.payload)) for (const c of numericEvidence(leaf)) evidence.add(c);
  for (const c of evidence) if (!draft.expected.includes(c as Category)) return `shows ${c} but is not labelled so`;
  for (const c of draft.mustShow ?? []) if (!evidence.has(c)) return `labelled ${c} but its number fails the check`;
  return undefined;
}

const byName = (a: string, b: string) => (a < b ? -1 : a > b ? 1 : 0);

/**
 * `count` items from weighted generators; a draft whose numbers happen to carry another category
 * (a Luhn-valid run inside a hash, say) is drawn again, so every label holds by construction.
 */
export function produce(prefix: string, count: number, rng: Rng, generators: ReadonlyArray<readonly [number, Generator]>): CorpusItem[] {
  const total = generators.reduce((n, [w]) => n + w, 0);
  const items: CorpusItem[] = [];
  for (let i = 0; i < count; i++) {
    let roll = rng.next() * total;
    const [, generate] = generators.find(([w]) => (roll -= w) < 0) ?? generators[generators.length - 1]!;
    let draft = generate(rng);
    let problem = labelProblem(draft);
    for (let attempt = 0; problem && attempt < 200; attempt++) {
      if (problem.startsWith('labelled')) throw new Error(`${prefix} generator broke its own number: ${draft.note} ${JSON.stringify(draft.payload)}`);
      draft = generate(rng);
      problem = labelProblem(draft);
    }
    if (problem) throw new Error(`${prefix}: no clean draft after 200 attempts (${problem})`);
    items.push({
      id: `${prefix}-${String(i + 1).padStart(4, '0')}`,
      kind: draft.kind,
      payload: draft.payload,
      expected: [...new Set(draft.expected)].sort(byName),
      note: draft.note,
    });
  }
  return items;
}
