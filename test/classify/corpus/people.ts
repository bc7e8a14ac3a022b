/* Made-up people and their contact details, drawn from the vocabulary. */
import type { Rng } from './random.js';
import { FIRST_NAMES, LAST_NAMES, PERSONAL_EMAIL_DOMAINS, STREETS, UK_PLACES, US_PLACES, WORK_DOMAINS } from './vocabulary.js';

export interface Person {
  readonly first: string;
  readonly last: string;
  readonly full: string;
}

export function person(rng: Rng): Person {
  const first = rng.pick(FIRST_NAMES);
  const last = rng.pick(LAST_NAMES);
  return { first, last, full: `${first} ${last}` };
}

const ascii = (s: string) => s.normalize('NFD').replace(/[^A-Za-z]/g, '').toLowerCase();

export function workEmail(rng: Rng, p: Person): string {
  return `${ascii(p.first)}${rng.pick(['.', '', '_'])}${ascii(p.last)}@${rng.pick(WORK_DOMAINS)}`;
}

export function personalEmail(rng: Rng, p: Person): string {
  const local = rng.pick([
    `${ascii(p.first)}.${ascii(p.last)}`,
    `${ascii(p.first)}${ascii(p.last)}${rng.int(70, 99)}`,
    `${ascii(p.first)[0]}${ascii(p.last)}${rng.int(1, 999)}`,
    `${ascii(p.first)}_${rng.pick(['runs', 'cooks', 'bakes', 'travels', 'reads'])}`,
    `${ascii(p.last)}.${ascii(p.first)}+${rng.pick(['shopping', 'news', 'bills'])}`,
  ]);
  return `${local}@${rng.pick(PERSONAL_EMAIL_DOMAINS)}`;
}

export function dateOfBirth(rng: Rng): string {
  const y = rng.int(1958, 2003);
  const m = String(rng.int(1, 12)).padStart(2, '0');
  const d = String(rng.int(1, 28)).padStart(2, '0');
  return rng.pick([`${y}-${m}-${d}`, `${m}/${d}/${y}`, `${d}.${m}.${y}`]);
}

/**
 * A phone number in a format people type, valid by the numbering plans libphonenumber knows. US numbers use the 555-01xx range reserved for fiction
 * and UK landlines Ofcom's 020 7946 0xxx drama range, so no generated number is anybody's.
 */
export function phoneNumber(rng: Rng): string {
  const us = () => {
    const area = rng.pick(['212', '303', '312', '415', '512', '617', '646', '206', '718', '919']);
    const line = `01${rng.digits(2)}`;
    return rng.pick([`(${area}) 555-${line}`, `${area}-555-${line}`, `+1 ${area} 555 ${line}`, `${area}.555.${line}`, `+1-${area}-555-${line}`]);
  };
  const uk = () => {
    const line = `0${rng.digits(3)}`;
    return rng.pick([`020 7946 ${line}`, `+44 20 7946 ${line}`, `+44 (0)20 7946 ${line}`]);
  };
  const europe = () =>
    rng.pick([
      `+49 30 ${rng.int(20, 99)}${rng.digits(5)}`,
      `+33 6 ${rng.int(10, 38)} ${rng.digits(2)} ${rng.digits(2)} ${rng.digits(2)}`,
      `+34 6${rng.digits(2)} ${rng.digits(3)} ${rng.digits(3)}`,
      `+31 6 ${rng.int(10, 58)}${rng.digits(6)}`,
    ]);
  return rng.pick([us, us, us, uk, europe])();
}

export function homeAddress(rng: Rng): string {
  const street = `${rng.int(2, 9800)} ${rng.pick(STREETS)}`;
  if (rng.chance(0.65)) {
    const [city, state, zip] = rng.pick(US_PLACES);
    const unit = rng.chance(0.3) ? `, Apt ${rng.int(1, 24)}${rng.pick(['A', 'B', 'C', ''])}` : '';
    return `${street}${unit}, ${city}, ${state} ${zip}`;
  }
  const [city, postcode] = rng.pick(UK_PLACES);
  return `${rng.int(1, 220)} ${rng.pick(STREETS)}, ${city} ${postcode}`;
}
