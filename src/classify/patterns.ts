import { getCountrySpecifications, isValidIBAN } from 'ibantools';

// Identifiers written with letters and digits, which the digit scanner does not see whole.

const IBAN_HINT = /[A-Za-z]{2}\d{2}/;
const IBAN_CANDIDATE = /[A-Za-z]{2}\d{2}(?:[ \-._]?[A-Za-z0-9]){10,34}/g;
const IBAN_SEPARATORS = /[ \-._]/g;
const IBAN_SEPARATOR = /[ \-._]/;
const IBAN_LENGTH = new Map(
  Object.entries(getCountrySpecifications())
    .filter(([, spec]) => typeof spec.chars === 'number' && spec.chars > 0)
    .map(([country, spec]) => [country, spec.chars as number]),
);

/**
 * The text with every IBAN of a registered country (at its country's length, passing mod-97; spaced,
 * dashed or lower case) blanked out, or undefined when it holds none. The digits of an IBAN are
 * the account's, not a card, a phone number or a NIR, so the digit detectors read the blanked text.
 */
export function withoutIbans(text: string): string | undefined {
  if (!IBAN_HINT.test(text)) return undefined;
  let masked: string | undefined;
  IBAN_CANDIDATE.lastIndex = 0;
  for (let m = IBAN_CANDIDATE.exec(text); m !== null; m = IBAN_CANDIDATE.exec(text)) {
    const chars = m[0].replace(IBAN_SEPARATORS, '').toUpperCase();
    const length = IBAN_LENGTH.get(chars.slice(0, 2));
    if (length !== undefined && chars.length >= length && isValidIBAN(chars.slice(0, length))) {
      let end = m.index;
      for (let taken = 0; taken < length; end++) if (!IBAN_SEPARATOR.test(text[end]!)) taken++;
      masked = (masked ?? text).slice(0, m.index) + '*'.repeat(end - m.index) + (masked ?? text).slice(end);
      IBAN_CANDIDATE.lastIndex = end;
      continue;
    }
    // The candidate may have swallowed the start of a real IBAN ("AB12DE89..."): look again one further.
    IBAN_CANDIDATE.lastIndex = m.index + 1;
  }
  return masked;
}

// HMRC's rules: no D, F, I, Q, U, V first; no D, F, I, O, Q, U, V second; never BG, GB, KN, NK, NT, TN, ZZ.
const NINO = /(?<![A-Za-z])(?!BG|GB|KN|NK|NT|TN|ZZ)[A-CEGHJ-PR-TW-Z][A-CEGHJ-NPR-TW-Z][ \-._]?\d{2}[ \-._]?\d{2}[ \-._]?\d{2}[ \-._]?[A-D](?![A-Za-z])/;
const NINO_IN_CONTEXT = /(?<![A-Za-z])(?!BG|GB|KN|NK|NT|TN|ZZ)[A-CEGHJ-PR-TW-Z][A-CEGHJ-NPR-TW-Z][ \-._]?\d{2}[ \-._]?\d{2}[ \-._]?\d{2}(?:[ \-._]?[A-D])?(?![A-Za-z0-9])/i;

/** A UK National Insurance number: upper case with its suffix letter, or any case without it next to NINO words. */
export function ninoIn(text: string, context: boolean): boolean {
  return NINO.test(text) || (context && NINO_IN_CONTEXT.test(text));
}

const ICD10 = /(?<![A-Za-z0-9])[A-TV-Z]\d[0-9AB](?:\.[0-9A-TV-Z]{1,4})?(?![A-Za-z0-9])/;

/** An ICD-10 code shape (`E11.9`, `F41.1`, `Z34`); it means a diagnosis only next to health words. */
export function icd10CodeIn(text: string): boolean {
  return ICD10.test(text);
}

const DOSAGE = /\d(?:\.\d+)?\s?(?:mg|mcg|µg|ug)(?![A-Za-z])/i;

/** A dose (`50 mg`, `0.5mcg`); it means a prescription only next to dosing words. */
export function dosageIn(text: string): boolean {
  return DOSAGE.test(text);
}
