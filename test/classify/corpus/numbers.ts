/*
 * Valid and invalid identifiers, each computed against the rules in checks.ts, and the separator
 * styles an attacker (or a keyboard) writes them in.
 */
import {
  abaValid,
  ibanCheckDigits,
  ibanValid,
  itinValid,
  luhnCheckDigit,
  luhnValid,
  nationalBbanValid,
  NINO_LETTERS,
  ninoPrefixValid,
  nirKey,
  ssnValid,
  steuerIdCheckDigit,
} from './checks.js';
import type { Rng } from './random.js';

export const SEPARATOR_STYLES = [
  'dash',
  'space',
  'none',
  'en_dash',
  'em_dash',
  'minus_sign',
  'dot',
  'underscore',
  'nbsp',
  'full_width',
  'zero_width',
  'zero_width_in_digits',
] as const;
export type SeparatorStyle = (typeof SEPARATOR_STYLES)[number];

const FULL_WIDTH_OFFSET = 0xff10 - 0x30;

function toFullWidth(s: string): string {
  return s.replace(/[0-9]/g, (d) => String.fromCharCode(d.charCodeAt(0) + FULL_WIDTH_OFFSET)).replace(/-/g, '\uFF0D');
}

/** `groups` written with the separator of `style`. */
export function formatGroups(groups: readonly string[], style: SeparatorStyle): string {
  switch (style) {
    case 'dash':
      return groups.join('-');
    case 'space':
      return groups.join(' ');
    case 'none':
      return groups.join('');
    case 'en_dash':
      return groups.join('\u2013');
    case 'em_dash':
      return groups.join('\u2014');
    case 'minus_sign':
      return groups.join('\u2212');
    case 'dot':
      return groups.join('.');
    case 'underscore':
      return groups.join('_');
    case 'nbsp':
      return groups.join('\u00A0');
    case 'full_width':
      return toFullWidth(groups.join('-'));
    case 'zero_width':
      return groups.join('\u200B');
    case 'zero_width_in_digits':
      return groups.join('-').split('').join('\u200B');
  }
}

/** Splits `digits` into groups of the given sizes (the last takes what remains). */
export function splitGroups(digits: string, sizes: readonly number[]): string[] {
  const out: string[] = [];
  let at = 0;
  for (const size of sizes) {
    if (at >= digits.length) break;
    out.push(digits.slice(at, at + size));
    at += size;
  }
  if (at < digits.length) out.push(digits.slice(at));
  return out;
}

// ---- US SSN / ITIN / EIN -------------------------------------------------------------------

export function validSsn(rng: Rng): [string, string, string] {
  for (;;) {
    const area = String(rng.int(1, 899)).padStart(3, '0');
    const group = String(rng.int(1, 99)).padStart(2, '0');
    const serial = String(rng.int(1, 9999)).padStart(4, '0');
    if (ssnValid(area, group, serial)) return [area, group, serial];
  }
}

/** SSN-shaped but never issued: area 000, 666 or 9xx (with a non-ITIN group), group 00 or serial 0000. */
export function invalidSsn(rng: Rng): [string, string, string] {
  const [area, group, serial] = validSsn(rng);
  switch (rng.int(0, 4)) {
    case 0:
      return ['000', group, serial];
    case 1:
      return ['666', group, serial];
    case 2: {
      const nonItinGroups = [...Array(100).keys()].map((g) => String(g).padStart(2, '0')).filter((g) => !itinValid('900', g));
      return [`9${rng.digits(2)}`, rng.pick(nonItinGroups), serial];
    }
    case 3:
      return [area, '00', serial];
    default:
      return [area, group, '0000'];
  }
}

export function validItin(rng: Rng): [string, string, string] {
  for (;;) {
    const area = `9${rng.digits(2)}`;
    const group = String(rng.int(50, 99)).padStart(2, '0');
    if (itinValid(area, group)) return [area, group, rng.digits(4)];
  }
}

const EIN_PREFIXES = [
  '01', '02', '03', '04', '05', '06', '10', '11', '12', '13', '14', '15', '16', '20', '21', '22', '23', '24', '25', '26', '27',
  '30', '31', '32', '33', '34', '35', '36', '37', '38', '39', '40', '41', '42', '43', '44', '45', '46', '47', '48', '50', '51',
  '52', '53', '54', '55', '56', '57', '58', '59', '60', '61', '62', '63', '64', '65', '66', '67', '68', '71', '72', '73', '74',
  '75', '76', '77', '80', '81', '82', '83', '84', '85', '86', '87', '88', '90', '91', '92', '93', '94', '95', '98', '99',
];

export function validEin(rng: Rng): [string, string] {
  return [rng.pick(EIN_PREFIXES), rng.digits(7)];
}

// ---- other national ids --------------------------------------------------------------------

export function validNino(rng: Rng): { prefix: string; digits: string; suffix: string } {
  for (;;) {
    const prefix = rng.pick([...NINO_LETTERS.first]) + rng.pick([...NINO_LETTERS.second]);
    if (ninoPrefixValid(prefix)) return { prefix, digits: rng.digits(6), suffix: rng.pick(['A', 'B', 'C', 'D']) };
  }
}

export function formatNino(n: { prefix: string; digits: string; suffix: string }, spaced: boolean): string {
  return spaced ? `${n.prefix} ${n.digits.slice(0, 2)} ${n.digits.slice(2, 4)} ${n.digits.slice(4)} ${n.suffix}` : `${n.prefix}${n.digits}${n.suffix}`;
}

/** Canada SIN: 9 digits passing Luhn, first digit 1-7 or 9. */
export function validSin(rng: Rng): string {
  const partial = String(rng.pick([1, 2, 3, 4, 5, 6, 7, 9])) + rng.digits(7);
  return partial + luhnCheckDigit(partial);
}

/** German Steuer-ID: no leading zero, exactly one digit twice among the first ten, MOD 11,10 check digit. */
export function validSteuerId(rng: Rng): string {
  for (;;) {
    const pool = [0, 1, 2, 3, 4, 5, 6, 7, 8, 9];
    for (let i = pool.length - 1; i > 0; i--) {
      const j = rng.int(0, i);
      [pool[i], pool[j]] = [pool[j]!, pool[i]!];
    }
    const first = pool.slice(0, 9);
    first.splice(rng.int(1, 9), 0, first[rng.int(0, 8)]!);
    const ten = first.join('');
    if (ten[0] === '0' || /(\d)\1\1/.test(ten)) continue;
    return ten + steuerIdCheckDigit(ten);
  }
}

/** French NIR: sex, year, month, department, commune, order, then the mod-97 key. */
export function validNir(rng: Rng): string[] {
  const parts = [
    String(rng.int(1, 2)),
    rng.digits(2),
    String(rng.int(1, 12)).padStart(2, '0'),
    String(rng.int(1, 95)).padStart(2, '0'),
    String(rng.int(1, 990)).padStart(3, '0'),
    String(rng.int(1, 999)).padStart(3, '0'),
  ];
  return [...parts, nirKey(parts.join(''))];
}

// ---- payment cards -------------------------------------------------------------------------

interface Brand {
  readonly name: string;
  readonly prefixes: readonly string[];
  readonly lengths: readonly number[];
  readonly groups: (length: number) => number[];
}
const FOURS = () => [4, 4, 4, 4, 4];
export const CARD_BRANDS: readonly Brand[] = [
  { name: 'Visa', prefixes: ['4'], lengths: [16, 16, 16, 13, 19], groups: (l) => (l === 13 ? [4, 4, 5] : FOURS()) },
  { name: 'Mastercard', prefixes: ['51', '52', '53', '54', '55', '2221', '2720', '23', '26'], lengths: [16], groups: FOURS },
  { name: 'American Express', prefixes: ['34', '37'], lengths: [15], groups: () => [4, 6, 5] },
  { name: 'Discover', prefixes: ['6011', '65', '644', '649'], lengths: [16, 19], groups: FOURS },
  { name: 'Diners Club', prefixes: ['36', '300', '305', '38'], lengths: [14], groups: () => [4, 6, 4] },
  { name: 'JCB', prefixes: ['3528', '3530', '3566', '3589'], lengths: [16, 17, 18, 19], groups: FOURS },
  { name: 'UnionPay', prefixes: ['62'], lengths: [16, 17, 18, 19], groups: FOURS },
  { name: 'Maestro', prefixes: ['5018', '5020', '5038', '6304', '6759', '6761'], lengths: [13, 15, 16, 19], groups: FOURS },
];

export interface Card {
  readonly brand: string;
  readonly digits: string;
  readonly groups: string[];
}

export function validCard(rng: Rng, brand: Brand = rng.pick(CARD_BRANDS)): Card {
  const length = rng.pick(brand.lengths);
  const prefix = rng.pick(brand.prefixes);
  const partial = prefix + rng.digits(length - prefix.length - 1);
  const digits = partial + luhnCheckDigit(partial);
  return { brand: brand.name, digits, groups: splitGroups(digits, brand.groups(length)) };
}

/** Card-shaped (a real brand prefix, 13-19 digits) but failing Luhn. */
export function luhnInvalidCard(rng: Rng): Card {
  const card = validCard(rng);
  const last = Number(card.digits.at(-1));
  const digits = card.digits.slice(0, -1) + String((last + rng.int(1, 9)) % 10);
  if (luhnValid(digits)) throw new Error('unreachable: one changed digit always breaks Luhn');
  const brand = CARD_BRANDS.find((b) => b.name === card.brand)!;
  return { brand: card.brand, digits, groups: splitGroups(digits, brand.groups(digits.length)) };
}

export function expiry(rng: Rng): string {
  const month = String(rng.int(1, 12)).padStart(2, '0');
  const year = String(rng.int(26, 33));
  return rng.pick([`${month}/${year}`, `${month}/20${year}`, `${month}${year}`, `${month}-${year}`]);
}

export function cvv(rng: Rng, brand: string): string {
  return rng.digits(brand === 'American Express' ? 4 : 3);
}

// ---- bank ----------------------------------------------------------------------------------

type BbanPart = ['n' | 'a' | 'c', number];
const BBAN_LAYOUT: Readonly<Record<string, BbanPart[]>> = {
  DE: [['n', 18]],
  GB: [['a', 4], ['n', 14]],
  FR: [['n', 10], ['c', 11], ['n', 2]],
  ES: [['n', 20]],
  NL: [['a', 4], ['n', 10]],
  IT: [['a', 1], ['n', 10], ['c', 12]],
  CH: [['n', 5], ['c', 12]],
  BE: [['n', 12]],
  PL: [['n', 24]],
  AT: [['n', 16]],
  IE: [['a', 4], ['n', 14]],
  SE: [['n', 20]],
  PT: [['n', 21]],
  NO: [['n', 11]],
};
const BANK_CODES: Readonly<Record<string, string[]>> = {
  GB: ['NWBK', 'BARC', 'HBUK', 'LOYD', 'MIDL', 'CITI'],
  NL: ['ABNA', 'INGB', 'RABO', 'TRIO', 'KNAB'],
  IE: ['AIBK', 'BOFI', 'IPBS'],
};
export const IBAN_COUNTRIES = Object.keys(BBAN_LAYOUT);

export function validIban(rng: Rng, country: string = rng.pick(IBAN_COUNTRIES)): string {
  let bban = '';
  for (let attempt = 0; attempt === 0 || !nationalBbanValid(country, bban); attempt++) bban = withNationalCheck(country, randomBban(rng, country));
  const iban = country + ibanCheckDigits(country, bban) + bban;
  if (!ibanValid(iban)) throw new Error(`generated IBAN fails its own check: ${iban}`);
  return iban;
}

function randomBban(rng: Rng, country: string): string {
  let bban = '';
  for (const [kind, n] of BBAN_LAYOUT[country]!) {
    if (kind === 'n') bban += rng.digits(n);
    else if (kind === 'a') bban += BANK_CODES[country] ? rng.pick(BANK_CODES[country]!) : rng.fromAlphabet('ABCDEFGHIJKLMNOPQRSTUVWXYZ', n);
    // French accounts with letters need the RIB letter table for their key; keep them numeric.
    else bban += rng.chance(0.7) || country === 'FR' ? rng.digits(n) : rng.upperAlnum(n);
  }
  return bban;
}

/** Fills in the national check digits a real BBAN of `country` carries (a draw that cannot have them is redrawn by the caller). */
function withNationalCheck(country: string, bban: string): string {
  const mod11 = (s: string, weights: number[]) => {
    const r = [...s].reduce((n, v, i) => n + Number(v) * weights[i]!, 0) % 11;
    return r === 0 ? 0 : r === 1 ? 1 : 11 - r;
  };
  switch (country) {
    case 'BE': {
      const r = Number(BigInt(bban.slice(0, 10)) % 97n);
      return bban.slice(0, 10) + String(r === 0 ? 97 : r).padStart(2, '0');
    }
    case 'ES':
      return bban.slice(0, 8) + mod11(bban.slice(0, 8), [4, 8, 5, 10, 9, 7, 3, 6]) + mod11(bban.slice(10, 20), [1, 2, 4, 8, 5, 10, 9, 7, 3, 6]) + bban.slice(10);
    case 'FR': {
      const head = bban.slice(0, 21);
      return head + String((97 - Number((BigInt(head) * 100n) % 97n)) % 97).padStart(2, '0');
    }
    case 'NO': {
      const r = [...bban.slice(0, 10)].reduce((n, v, i) => n + Number(v) * [5, 4, 3, 2, 7, 6, 5, 4, 3, 2][i]!, 0) % 11;
      return r === 1 ? bban : bban.slice(0, 10) + String(r === 0 ? 0 : 11 - r);
    }
    case 'PL': {
      const r = [...bban.slice(0, 7)].reduce((n, v, i) => n + Number(v) * [3, 9, 7, 1, 3, 9, 7][i]!, 0) % 10;
      return bban.slice(0, 7) + String(r === 0 ? 0 : 10 - r) + bban.slice(8);
    }
    case 'PT': {
      const head = bban.slice(0, 19);
      const k = Number(((1n - BigInt(head) * 100n) % 97n + 97n) % 97n);
      return head + String(k).padStart(2, '0');
    }
    default:
      return bban;
  }
}

/** A valid IBAN with its check digits changed, so mod-97 fails. */
export function invalidIban(rng: Rng): string {
  const iban = validIban(rng);
  const check = Number(iban.slice(2, 4));
  const wrong = String(((check - 2 + rng.int(1, 95)) % 97) + 2).padStart(2, '0');
  const broken = iban.slice(0, 2) + wrong + iban.slice(4);
  return ibanValid(broken) ? invalidIban(rng) : broken;
}

/** Paper format (groups of four) or compact, in `style`. */
export function formatIban(iban: string, style: SeparatorStyle | 'paper'): string {
  const groups = iban.match(/.{1,4}/g)!;
  if (style === 'paper') return groups.join(' ');
  return formatGroups(groups, style);
}

const ABA_PREFIXES = ['01', '02', '03', '04', '05', '06', '07', '08', '09', '10', '11', '12', '21', '22', '23', '24', '25', '26', '27', '28', '29', '30', '31', '32', '61', '62', '63', '64', '65', '66', '67', '68', '69', '70', '71', '72'];

export function validAba(rng: Rng): string {
  for (;;) {
    const d = rng.pick(ABA_PREFIXES) + rng.digits(7);
    if (abaValid(d)) return d;
  }
}

export function bankAccountNumber(rng: Rng): string {
  return String(rng.int(1, 9)) + rng.digits(rng.int(7, 11));
}
