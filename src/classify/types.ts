/**
 * What the classifier says of a record: a level on the DSS scale and the categories that set it.
 * Categories name what was found, never the text that matched.
 */
export const CATEGORIES = [
  'government_id',
  'payment_card',
  'bank_account',
  'credential',
  'health',
  'tax',
  'private_conversation',
  'contact_data',
] as const;
export type Category = (typeof CATEGORIES)[number];

/** The level each category sets a record to (at least). */
export const CATEGORY_LEVEL: Readonly<Record<Category, 3 | 4>> = {
  government_id: 4,
  payment_card: 4,
  bank_account: 4,
  credential: 4,
  health: 4,
  tax: 4,
  private_conversation: 4,
  contact_data: 3,
};

export interface Classification {
  /** 0-4; the highest level any finding sets, 0 when nothing was found. */
  readonly level: number;
  /** Sorted, each once. */
  readonly categories: readonly Category[];
}

/** One bit per category, in the order of {@link CATEGORIES}: what the detectors report while scanning. */
export const FOUND: Readonly<Record<Category, number>> = Object.freeze(
  Object.fromEntries(CATEGORIES.map((category, i) => [category, 1 << i])) as Record<Category, number>,
);
