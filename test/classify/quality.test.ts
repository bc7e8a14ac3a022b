import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { describe, it } from 'node:test';
import { Classifier, loadClassifierLists, type Category } from '../../src/classify/index.js';
import { buildCorpus, generateCorpus, labelProblem } from './corpus/index.js';
import { missesOf, scoreCorpus, scoreTable, describeOutcome } from './corpus/score.js';

/*
 * The quality gate of issue 10, on labelled data (not a timing): the recall floors per category and
 * the benign false-alarm ceiling. A failure lists every miss (synthetic data, safe to print).
 */
const RECALL_FLOORS: ReadonlyArray<readonly [Category, number]> = [
  ['government_id', 0.99],
  ['payment_card', 0.99],
  ['bank_account', 0.99],
  ['credential', 0.99],
  ['health', 0.95],
  ['tax', 0.95],
  ['private_conversation', 0.95],
  // Not a floor of the issue (contact data is level 3, and personal contact is harder to tell from
  // work contact); 0.95 holds with room on corpora drawn with other seeds.
  ['contact_data', 0.95],
];
const BENIGN_AT_LEVEL_3_OR_4_CEILING = 0.02;

const corpus = buildCorpus();
const classifier = new Classifier(await loadClassifierLists());
const score = scoreCorpus(corpus, (payload) => classifier.classify(payload));

describe('classification quality on the labelled corpus (issue 10)', () => {
  it('the corpus holds at least 1,500 items, at least 40% benign look-alikes, every label holding by construction', () => {
    assert.ok(corpus.length >= 1500, `only ${corpus.length} items`);
    const benignShare = score.benign / corpus.length;
    assert.ok(benignShare >= 0.4, `benign share ${benignShare.toFixed(3)}`);
    assert.equal(new Set(corpus.map((i) => i.id)).size, corpus.length, 'ids are unique');
    const mislabelled = corpus.map((item) => [item.id, labelProblem(item)] as const).filter(([, problem]) => problem);
    assert.deepEqual(mislabelled, []);
  });

  it('the corpus is the same on every generation', () => {
    const digest = (items: unknown) => createHash('sha256').update(JSON.stringify(items)).digest('hex');
    assert.equal(digest(generateCorpus()), digest(corpus));
  });

  for (const [category, floor] of RECALL_FLOORS) {
    it(`recall of ${category} is at least ${floor}`, (t) => {
      const c = score.categories.find((s) => s.category === category)!;
      t.diagnostic(`${category}: recall ${c.recall.toFixed(3)} (${c.found}/${c.support}), precision ${c.precision.toFixed(3)}`);
      const misses = missesOf(score, category);
      assert.ok(c.recall >= floor, `recall ${c.recall.toFixed(3)} < ${floor}; ${misses.length} misses:\n${misses.join('\n')}`);
    });
  }

  it(`at most ${BENIGN_AT_LEVEL_3_OR_4_CEILING * 100}% of benign items are classified level 3 or 4`, (t) => {
    for (const line of scoreTable(score)) t.diagnostic(line);
    const rate = score.benignFlagged.length / score.benign;
    assert.ok(
      rate <= BENIGN_AT_LEVEL_3_OR_4_CEILING,
      `${score.benignFlagged.length}/${score.benign} = ${rate.toFixed(4)} benign items at level 3-4:\n${score.benignFlagged.map(describeOutcome).join('\n')}`,
    );
  });
});
