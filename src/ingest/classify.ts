import { MAX_SENSITIVITY } from '../model/index.js';

const US_SSN = /\b\d{3}-\d{2}-\d{4}\b/;
const CARD_CANDIDATE = /\b\d(?:[ -]?\d){12,18}\b/g;

function luhnValid(digits: string): boolean {
  let sum = 0;
  for (let i = 0; i < digits.length; i++) {
    let d = digits.charCodeAt(digits.length - 1 - i) - 48;
    if (i % 2 === 1) {
      d *= 2;
      if (d > 9) d -= 9;
    }
    sum += d;
  }
  return sum % 10 === 0;
}

/** True when the text carries an identifier that makes a record special-category (level 4). */
export function containsSpecialCategoryIdentifier(text: string): boolean {
  if (US_SSN.test(text)) return true;
  for (const match of text.matchAll(CARD_CANDIDATE)) {
    if (luhnValid(match[0].replace(/[ -]/g, ''))) return true;
  }
  return false;
}

/**
 * The sensitivity stored with a record: the highest of what the agent declared, the kind's floor
 * and what the content shows. Classification only ever raises a level; an agent cannot lower one.
 */
export function classifySensitivity(kindFloor: number, declared: number | undefined, payloadText: string): number {
  const level = Math.max(kindFloor, declared ?? 0);
  if (level >= MAX_SENSITIVITY) return MAX_SENSITIVITY;
  return containsSpecialCategoryIdentifier(payloadText) ? MAX_SENSITIVITY : level;
}
