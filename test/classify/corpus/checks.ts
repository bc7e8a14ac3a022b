/*
 * The check-digit and range rules the corpus is labelled by. The generator computes every valid
 * number with these and breaks every invalid one against them, and `numericEvidence` re-reads each
 * finished item so that no number-shaped text carries a category its label does not name.
 */

export function luhnValid(digits: string): boolean {
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

/** The digit that makes `partial + digit` pass Luhn. */
export function luhnCheckDigit(partial: string): string {
  for (let d = 0; d <= 9; d++) if (luhnValid(partial + d)) return String(d);
  throw new Error('unreachable');
}

function mod97(numeric: string): number {
  let rest = 0;
  for (const ch of numeric) rest = (rest * 10 + (ch.charCodeAt(0) - 48)) % 97;
  return rest;
}

function ibanNumeric(rearranged: string): string {
  return rearranged.replace(/[A-Z]/g, (c) => String(c.charCodeAt(0) - 55));
}

/** Lengths of the IBANs of the countries the corpus uses (and those a detector commonly knows). */
export const IBAN_LENGTHS: Readonly<Record<string, number>> = {
  AT: 20, BE: 16, CH: 21, CZ: 24, DE: 22, DK: 18, ES: 24, FI: 18, FR: 27, GB: 22, IE: 22, IT: 27,
  LU: 20, NL: 18, NO: 15, PL: 28, PT: 25, SE: 24,
};

export function ibanCheckDigits(country: string, bban: string): string {
  const rest = mod97(ibanNumeric(`${bban}${country}00`));
  return String(98 - rest).padStart(2, '0');
}

/** `iban` compact and upper-case. */
export function ibanValid(iban: string): boolean {
  const length = IBAN_LENGTHS[iban.slice(0, 2)];
  if (length === undefined || iban.length !== length || !/^[A-Z]{2}\d{2}[A-Z0-9]+$/.test(iban)) return false;
  return mod97(ibanNumeric(iban.slice(4) + iban.slice(0, 4))) === 1;
}

export function abaValid(d: string): boolean {
  if (!/^\d{9}$/.test(d)) return false;
  const n = [...d].map(Number);
  const sum = 3 * (n[0]! + n[3]! + n[6]!) + 7 * (n[1]! + n[4]! + n[7]!) + (n[2]! + n[5]! + n[8]!);
  return sum % 10 === 0;
}

/** SSN rules of the SSA since 2011: area 001-899 but 666, group 01-99, serial 0001-9999. */
export function ssnValid(area: string, group: string, serial: string): boolean {
  const a = Number(area);
  return a >= 1 && a <= 899 && a !== 666 && Number(group) >= 1 && Number(serial) >= 1;
}

/** ITIN: area 9xx and a group in 50-65, 70-88, 90-92 or 94-99. */
export function itinValid(area: string, group: string): boolean {
  const g = Number(group);
  return area.startsWith('9') && ((g >= 50 && g <= 65) || (g >= 70 && g <= 88) || (g >= 90 && g <= 92) || g >= 94);
}

const NINO_FIRST = 'ABCEGHJKLMNOPRSTWXYZ';
const NINO_SECOND = 'ABCEGHJKLMNPRSTWXYZ';
const NINO_BARRED = new Set(['BG', 'GB', 'KN', 'NK', 'NT', 'TN', 'ZZ']);

export function ninoPrefixValid(prefix: string): boolean {
  return NINO_FIRST.includes(prefix[0]!) && NINO_SECOND.includes(prefix[1]!) && !NINO_BARRED.has(prefix);
}
export const NINO_LETTERS = { first: NINO_FIRST, second: NINO_SECOND };

/** German Steuer-ID check digit over the first ten digits (ISO 7064 MOD 11,10). */
export function steuerIdCheckDigit(first10: string): string {
  let product = 10;
  for (const ch of first10) {
    let sum = (Number(ch) + product) % 10;
    if (sum === 0) sum = 10;
    product = (sum * 2) % 11;
  }
  return String((11 - product) % 10);
}

/** French NIR key: 97 minus the 13 digits mod 97, two digits. */
export function nirKey(first13: string): string {
  return String(97 - (Number(BigInt(first13) % 97n))).padStart(2, '0');
}

/** The national check digits inside the BBAN of the countries that have them (what IBAN libraries verify too). */
export function nationalBbanValid(country: string, bban: string): boolean {
  const digits = (s: string) => [...s].map(Number);
  const mod11 = (values: number[], weights: number[]) => {
    const r = values.reduce((n, v, i) => n + v * weights[i]!, 0) % 11;
    return r === 0 ? 0 : r === 1 ? 1 : 11 - r;
  };
  switch (country) {
    case 'BE': {
      const r = Number(BigInt(bban.slice(0, 10)) % 97n);
      return (r === 0 ? 97 : r) === Number(bban.slice(10));
    }
    case 'ES':
      return (
        mod11(digits(bban.slice(0, 8)), [4, 8, 5, 10, 9, 7, 3, 6]) === Number(bban[8]) &&
        mod11(digits(bban.slice(10, 20)), [1, 2, 4, 8, 5, 10, 9, 7, 3, 6]) === Number(bban[9])
      );
    case 'FR':
      return BigInt(bban) % 97n === 0n;
    case 'NO': {
      const r = digits(bban.slice(0, 10)).reduce((n, v, i) => n + v * [5, 4, 3, 2, 7, 6, 5, 4, 3, 2][i]!, 0) % 11;
      return (r === 0 ? 0 : 11 - r) === Number(bban[10]);
    }
    case 'PL': {
      const r = digits(bban.slice(0, 7)).reduce((n, v, i) => n + v * [3, 9, 7, 1, 3, 9, 7][i]!, 0) % 10;
      return (r === 0 ? 0 : 10 - r) === Number(bban[7]);
    }
    case 'PT':
      return BigInt(bban) % 97n === 1n;
    default:
      return true;
  }
}

/** Text as a careful classifier reads it: NFKC, zero-width characters gone, every dash a hyphen. */
export function normaliseForChecks(text: string): string {
  return text
    .normalize('NFKC')
    .replace(/[\u200B-\u200D\u2060\uFEFF\u00AD]/g, '')
    .replace(/[\u2010-\u2015\u2212\uFE58\uFE63]/g, '-')
    .replace(/\u00A0/g, ' ');
}

const DIGIT_RUN = /\d+(?:[ \-._]\d+)*/g;

/**
 * The number-shaped categories `text` shows on its own: a Luhn-valid 13-19 digit window over
 * separator-joined digit groups (payment_card), a valid SSN or ITIN written 3-2-4 with any
 * separator (government_id), a valid IBAN of a known country (bank_account).
 */
export function numericEvidence(raw: string): Set<'payment_card' | 'government_id' | 'bank_account'> {
  const found = new Set<'payment_card' | 'government_id' | 'bank_account'>();
  const text = normaliseForChecks(raw);
  for (const match of text.matchAll(DIGIT_RUN)) {
    const groups = match[0].split(/[ \-._]/);
    for (let i = 0; i < groups.length; i++) {
      let digits = '';
      for (let j = i; j < groups.length; j++) {
        digits += groups[j];
        if (digits.length > 19) break;
        if (digits.length >= 13 && luhnValid(digits)) found.add('payment_card');
      }
      const [a, g, s] = [groups[i], groups[i + 1], groups[i + 2]];
      if (a?.length === 3 && g?.length === 2 && s?.length === 4 && (ssnValid(a, g, s) || itinValid(a, g))) found.add('government_id');
    }
  }
  const upper = text.toUpperCase();
  for (const match of upper.matchAll(/[A-Z]{2}\d{2}(?:[ \-._]?[A-Z0-9]){10,30}/g)) {
    const length = IBAN_LENGTHS[match[0].slice(0, 2)];
    if (length === undefined) continue;
    const compact = match[0].replace(/[ \-._]/g, '');
    if (compact.length >= length && ibanValid(compact.slice(0, length))) found.add('bank_account');
  }
  return found;
}
