// Check digits and number-range rules of the identifiers the classifier looks for. Each reads
// `length` digits (values 0-9) of `d` from `at`, so a candidate is never copied into a string.

export function luhnValid(d: Uint8Array, at: number, length: number): boolean {
  let sum = 0;
  for (let i = 0; i < length; i++) {
    let v = d[at + length - 1 - i]!;
    if (i % 2 === 1) {
      v *= 2;
      if (v > 9) v -= 9;
    }
    sum += v;
  }
  return sum % 10 === 0;
}

function number(d: Uint8Array, at: number, length: number): number {
  let n = 0;
  for (let i = 0; i < length; i++) n = n * 10 + d[at + i]!;
  return n;
}

/**
 * Issuer prefixes of the card networks that issue 13-19 digit numbers (Visa, Mastercard, Amex,
 * Discover, JCB, Diners, UnionPay, Maestro, Mir, RuPay), with their lengths. Numbers outside these
 * ranges are order, tracking and invoice numbers far more often than cards.
 */
export function knownCardPrefix(d: Uint8Array, at: number, length: number): boolean {
  const p2 = number(d, at, 2);
  const p3 = number(d, at, 3);
  const p4 = number(d, at, 4);
  const p6 = number(d, at, 6);
  switch (d[at]) {
    case 4:
      return length === 13 || length === 16 || length === 19;
    case 5:
      if (p2 >= 51 && p2 <= 55) return length === 16;
      return (p4 === 5018 || p4 === 5020 || p4 === 5038 || p4 === 5893) && length >= 12;
    case 2:
      return ((p4 >= 2221 && p4 <= 2720) || (p4 >= 2200 && p4 <= 2204)) && length === 16;
    case 3:
      if (p2 === 34 || p2 === 37) return length === 15;
      if ((p3 >= 300 && p3 <= 305) || p2 === 36 || p2 === 38 || p2 === 39 || p3 === 309) return length >= 14;
      return p4 >= 3528 && p4 <= 3589 && length >= 16;
    case 6:
      if (p4 === 6011 || p2 === 65 || (p3 >= 644 && p3 <= 649) || p2 === 62 || p2 === 60 || (p6 >= 622126 && p6 <= 622925)) return length >= 16;
      return (p4 === 6304 || p4 === 6759 || (p4 >= 6761 && p4 <= 6763)) && length >= 12;
    case 8:
      return (p2 === 81 || p2 === 82) && length === 16;
    default:
      return false;
  }
}

/** US SSN: area 001-899 except 666, group 01-99, serial 0001-9999. */
export function validSsn(d: Uint8Array, at: number): boolean {
  const area = number(d, at, 3);
  return area !== 0 && area !== 666 && area < 900 && number(d, at + 3, 2) !== 0 && number(d, at + 5, 4) !== 0;
}

/** US ITIN: 9xx-GG-xxxx with group 50-65, 70-88, 90-92 or 94-99. */
export function validItin(d: Uint8Array, at: number): boolean {
  if (d[at] !== 9) return false;
  const group = number(d, at + 3, 2);
  return (group >= 50 && group <= 65) || (group >= 70 && group <= 88) || (group >= 90 && group <= 92) || group >= 94;
}

const EIN_PREFIXES = new Set([
  1, 2, 3, 4, 5, 6, 10, 11, 12, 13, 14, 15, 16, 20, 21, 22, 23, 24, 25, 26, 27, 30, 31, 32, 33, 34, 35, 36, 37, 38, 39,
  40, 41, 42, 43, 44, 45, 46, 47, 48, 50, 51, 52, 53, 54, 55, 56, 57, 58, 59, 60, 61, 62, 63, 64, 65, 66, 67, 68, 71, 72,
  73, 74, 75, 76, 77, 80, 81, 82, 83, 84, 85, 86, 87, 88, 90, 91, 92, 93, 94, 95, 98, 99,
]);

/** US EIN: nine digits whose first two are an IRS campus prefix. */
export function validEin(d: Uint8Array, at: number): boolean {
  return EIN_PREFIXES.has(number(d, at, 2));
}

/** ABA routing number: a Federal Reserve prefix and the 3-7-1 weighted checksum. */
export function validAbaRouting(d: Uint8Array, at: number): boolean {
  const prefix = number(d, at, 2);
  if (!(prefix <= 12 || (prefix >= 21 && prefix <= 32) || (prefix >= 61 && prefix <= 72) || prefix === 80)) return false;
  if (number(d, at, 9) === 0) return false;
  let sum = 0;
  for (let i = 0; i < 9; i += 3) sum += 3 * d[at + i]! + 7 * d[at + i + 1]! + d[at + i + 2]!;
  return sum % 10 === 0;
}

/** Canadian SIN: Luhn-valid, not starting with 0 or 8. */
export function validSin(d: Uint8Array, at: number): boolean {
  return d[at] !== 0 && d[at] !== 8 && luhnValid(d, at, 9);
}

/**
 * German Steuer-ID: 11 digits, no leading zero, in the first ten one digit appears twice or three
 * times (never three in a row) and the rest at most once, and an ISO 7064 MOD 11,10 check digit.
 */
export function validSteuerId(d: Uint8Array, at: number): boolean {
  if (d[at] === 0) return false;
  const counts = [0, 0, 0, 0, 0, 0, 0, 0, 0, 0];
  for (let i = 0; i < 10; i++) counts[d[at + i]!]!++;
  let repeated = 0;
  for (const c of counts) {
    if (c > 3) return false;
    if (c > 1) repeated++;
  }
  if (repeated !== 1) return false;
  for (let i = 0; i + 2 < 10; i++) if (d[at + i] === d[at + i + 1] && d[at + i] === d[at + i + 2]) return false;
  let product = 10;
  for (let i = 0; i < 10; i++) {
    let sum = (d[at + i]! + product) % 10;
    if (sum === 0) sum = 10;
    product = (sum * 2) % 11;
  }
  return (11 - product) % 10 === d[at + 10];
}

/** French NIR (numéro de sécurité sociale): sex 1/2 (7/8 provisional), a plausible month, key = 97 - (13 digits mod 97). */
export function validNir(d: Uint8Array, at: number): boolean {
  const sex = d[at];
  if (sex !== 1 && sex !== 2 && sex !== 7 && sex !== 8) return false;
  const month = number(d, at + 3, 2);
  if (!((month >= 1 && month <= 12) || (month >= 20 && month <= 42) || (month >= 50 && month <= 99))) return false;
  let rest = 0;
  for (let i = 0; i < 13; i++) rest = (rest * 10 + d[at + i]!) % 97;
  return 97 - rest === number(d, at + 13, 2);
}
