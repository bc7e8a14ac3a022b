import { parsePhoneNumberFromString, type CountryCode } from 'libphonenumber-js/max';

const EMAIL = /[A-Za-z0-9._%+-]{1,64}@((?:[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?\.){1,8}[A-Za-z]{2,24})/g;

/** A mail address at one of the consumer domains (or a subdomain of one). */
export function personalEmailIn(text: string, personalDomains: ReadonlySet<string>): boolean {
  EMAIL.lastIndex = 0;
  for (let m = EMAIL.exec(text); m !== null; m = EMAIL.exec(text)) {
    let domain = m[1]!.toLowerCase();
    for (;;) {
      if (personalDomains.has(domain)) return true;
      const dot = domain.indexOf('.');
      if (dot < 0) break;
      domain = domain.slice(dot + 1);
    }
  }
  return false;
}

/** Countries tried for a number written without its country code, when words around it say it is a phone number. */
const NATIONAL_FORMATS: readonly CountryCode[] = ['US', 'GB', 'DE', 'FR'];

/**
 * A phone number libphonenumber accepts as valid: with a `+` for the country code, or in the US
 * 3-3-4 shape, or any shape next to a phone word. Length-only validation would take every
 * order number for a phone.
 */
export function validPhone(written: string, international: boolean, context: boolean): boolean {
  if (international) return parsePhoneNumberFromString(`+${written}`)?.isValid() === true;
  if (!context) return parsePhoneNumberFromString(written, 'US')?.isValid() === true;
  return NATIONAL_FORMATS.some((country) => parsePhoneNumberFromString(written, country)?.isValid() === true);
}

// A street number, one to four capitalised name words and a street type ("742 Evergreen Terrace",
// "10 Downing St."), or a German street with its number ("Hauptstraße 5").
const STREET_ADDRESS =
  /(?<![A-Za-z0-9])\d{1,6}[A-Za-z]?,?\s+(?:(?:[A-Z][A-Za-z'.-]*|\d{1,3}(?:st|nd|rd|th))\s+){1,4}(?:Street|St|Avenue|Ave|Road|Rd|Boulevard|Blvd|Lane|Ln|Drive|Dr|Court|Ct|Place|Pl|Terrace|Circle|Cir|Parkway|Pkwy|Highway|Hwy|Way|Square|Sq|Trail|Crescent|Close|Grove)\b(?!-)/;
const GERMAN_STREET = /[A-ZÄÖÜ][a-zäöüß]+(?:straße|strasse|str\.|weg|allee|platz|gasse|ring|damm)\s+\d{1,4}[a-z]?\b/;

/** A home (or any postal) street address. */
export function streetAddressIn(text: string): boolean {
  return STREET_ADDRESS.test(text) || GERMAN_STREET.test(text);
}

export const GERMAN_STREET_HINT = /stra(?:ß|ss)e|str\.|weg |allee|platz|gasse/;
