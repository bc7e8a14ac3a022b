/*
 * The labelled corpus of issue 10: seeded generators of realistic captures (identifiers in every
 * separator style, secrets, health, tax, personal chats, contact data, and at least 40% benign
 * look-alikes) plus hand-written hard cases. Same items, same ids, on every run.
 *
 * Labelling rules (what `expected` means):
 * - payment_card: a 13-19 digit run, separators allowed, that passes Luhn, wherever it appears;
 *   generated items carry no such run unless labelled so (drafts that do by accident are redrawn).
 * - government_id: a valid SSN or ITIN written 3-2-4 with any separator; a bare 9-digit one only
 *   right after a keyword or under a key that names it; EIN in a tax form; UK NINO; Canadian SIN,
 *   German Steuer-ID and French NIR with a keyword or key.
 * - bank_account: a mod-97-valid IBAN of a known country; an ABA routing number beside an account number.
 * - credential: a live-format secret (not a placeholder, variable reference or documentation example).
 * - health / tax / private_conversation: the content, or the app or domain it was captured in.
 * - contact_data: personal email (freemail domains), any phone number, a home address. Work
 *   addresses at the company's own domains and a bare phone extension are benign.
 * - Work chat (Slack, Teams, Zoom, ...) is not a private conversation.
 */
import { BANK_ACCOUNT, GOVERNMENT_ID, PAYMENT_CARD } from './identifiers.js';
import { BENIGN } from './benign.js';
import { hardCases } from './hard-cases.js';
import { produce, type CorpusItem, type Generator } from './item.js';
import { Rng } from './random.js';
import { CREDENTIAL } from './secrets.js';
import { CONTACT_DATA, HEALTH, MIXED, PRIVATE_CONVERSATION, TAX } from './special.js';

export type { CorpusItem } from './item.js';
export { labelProblem } from './item.js';

const PARTS: ReadonlyArray<readonly [string, number, ReadonlyArray<readonly [number, Generator]>]> = [
  ['government_id', 200, GOVERNMENT_ID],
  ['payment_card', 170, PAYMENT_CARD],
  ['bank_account', 140, BANK_ACCOUNT],
  ['credential', 220, CREDENTIAL],
  ['health', 140, HEALTH],
  ['tax', 110, TAX],
  ['private_conversation', 110, PRIVATE_CONVERSATION],
  ['contact_data', 120, CONTACT_DATA],
  ['mixed', 36, MIXED],
  ['benign', 1100, BENIGN],
];

/**
 * The seed of the generated part. CLASSIFY_CORPUS_SEED draws other instances of the same templates:
 * a held-out check that a detector learned the formats rather than the corpus.
 */
export const CORPUS_SEED = process.env.CLASSIFY_CORPUS_SEED ?? 'activity-vault/issue-10';

/** Every item of the corpus, generated afresh. */
export function generateCorpus(seed: string = CORPUS_SEED): CorpusItem[] {
  return [...PARTS.flatMap(([prefix, count, generators]) => produce(prefix, count, new Rng(`${seed}/${prefix}`), generators)), ...hardCases()];
}

let cached: readonly CorpusItem[] | undefined;

/** The corpus, generated once per process. */
export function buildCorpus(): readonly CorpusItem[] {
  cached ??= Object.freeze(generateCorpus());
  return cached;
}
