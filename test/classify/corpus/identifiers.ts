/* Generators of government ids, payment cards and bank details in the places people type them. */
import type { Generator } from './item.js';
import {
  CARD_BRANDS,
  cvv,
  expiry,
  formatGroups,
  formatIban,
  formatNino,
  SEPARATOR_STYLES,
  validAba,
  validCard,
  validEin,
  validIban,
  validItin,
  validNino,
  validNir,
  validSin,
  validSsn,
  validSteuerId,
  bankAccountNumber,
  type SeparatorStyle,
} from './numbers.js';
import { dateOfBirth, person } from './people.js';
import type { Rng } from './random.js';
import { SHOPS } from './vocabulary.js';

/** Styles that read as a bare 9-digit run once normalised: only labelled where a keyword is adjacent. */
const BARE_STYLES: readonly SeparatorStyle[] = ['none', 'zero_width'];
const SEPARATED_STYLES = SEPARATOR_STYLES.filter((s) => !BARE_STYLES.includes(s));

interface Context {
  readonly bareOk: boolean;
  readonly note: string;
  readonly build: (rng: Rng, value: string) => { kind: 'keystroke' | 'prompt' | 'clipboard'; payload: Record<string, unknown> };
}

const SSN_CONTEXTS: readonly Context[] = [
  {
    bareOk: true,
    note: 'HR onboarding form, JSON key ssn',
    build: (rng, v) => {
      const p = person(rng);
      return { kind: 'keystroke', payload: { app: 'Workday', window_title: 'Onboarding - Personal Information', form: { legal_name: p.full, date_of_birth: dateOfBirth(rng), ssn: v } } };
    },
  },
  {
    bareOk: true,
    note: 'benefits enrolment page, "SSN" before the number',
    build: (rng, v) => {
      const p = person(rng);
      return { kind: 'keystroke', payload: { app: 'Google Chrome', url: 'https://benefits.acme.io/enroll/dependents', text: `Dependent: ${p.full}, DOB ${dateOfBirth(rng)}, SSN ${v}` } };
    },
  },
  {
    bareOk: true,
    note: 'assistant prompt naming a social security number',
    build: (rng, v) => {
      const p = person(rng);
      return {
        kind: 'prompt',
        payload: { app: 'ChatGPT', url: `https://chatgpt.com/c/${rng.uuid()}`, prompt: `Write a short letter to my bank for ${p.full} (social security number ${v}) disputing a late fee on the mortgage.` },
      };
    },
  },
  {
    bareOk: false,
    note: 'spreadsheet row under an SSN header',
    build: (rng, v) => {
      const p = person(rng);
      return { kind: 'keystroke', payload: { app: 'Microsoft Excel', window_title: 'new_hires_march.xlsx', text: `Name\tSSN\tStart\n${p.full}\t${v}\t2026-03-${String(rng.int(1, 28)).padStart(2, '0')}` } };
    },
  },
  {
    bareOk: true,
    note: 'key=value in a curl command',
    build: (rng, v) => {
      const p = person(rng);
      return { kind: 'clipboard', payload: { app: 'iTerm2', window_title: 'bash', text: `curl -s -X POST https://hr-api.internal/v1/employees -d 'name=${p.first.toLowerCase()}&ssn=${v}&team=payments'` } };
    },
  },
  {
    bareOk: true,
    note: 'glued to an underscore in a file name',
    build: (rng, v) => {
      const p = person(rng);
      return { kind: 'keystroke', payload: { app: 'Finder', window_title: 'Downloads', text: `onboarding_${p.last.toLowerCase()}_ssn_${v}.pdf` } };
    },
  },
  {
    bareOk: true,
    note: 'glued to letters in an API query',
    build: (_rng, v) => ({ kind: 'keystroke', payload: { app: 'Postman', window_title: 'GET applicant lookup', text: `GET /v2/applicants?lookup=SSN${v}&expand=address` } }),
  },
  {
    bareOk: true,
    note: 'log line with applicantSSN=',
    build: (rng, v) => ({ kind: 'clipboard', payload: { app: 'Console', text: `2026-11-03T10:${rng.int(10, 59)}:41Z WARN kyc-check: mismatch for applicantSSN=${v} (retrying)` } }),
  },
  {
    bareOk: false,
    note: 'work chat message with an SSN correction',
    build: (rng, v) => {
      const p = person(rng);
      return { kind: 'keystroke', payload: { app: 'Slack', channel: '#people-ops', text: `Payroll has the wrong SSN for ${p.full}, the correct one is ${v}` } };
    },
  },
  {
    bareOk: true,
    note: 'personal note, "social security no."',
    build: (rng, v) => ({ kind: 'keystroke', payload: { app: 'Notes', window_title: 'misc', text: `${person(rng).first}'s social security no. ${v} (keep safe)` } }),
  },
  {
    bareOk: false,
    note: 'background check mail',
    build: (rng, v) => {
      const p = person(rng);
      return { kind: 'keystroke', payload: { app: 'Microsoft Outlook', subject: 'Background check', body: `Hi, for ${p.full} the SSN on file is ${v} and the DOB is ${dateOfBirth(rng)}. Thanks!` } };
    },
  },
];

const styleFor = (rng: Rng, ctx: Context) => rng.pick<SeparatorStyle>(ctx.bareOk ? [...SEPARATOR_STYLES, 'none', 'none'] : SEPARATED_STYLES);

const ssn: Generator = (rng) => {
  const ctx = rng.pick(SSN_CONTEXTS);
  const style = styleFor(rng, ctx);
  const { kind, payload } = ctx.build(rng, formatGroups(validSsn(rng), style));
  return { kind, payload, expected: ['government_id'], note: `US SSN (${style}): ${ctx.note}`, mustShow: BARE_STYLES.includes(style) ? [] : ['government_id'] };
};

const itin: Generator = (rng) => {
  const style = rng.pick<SeparatorStyle>([...SEPARATOR_STYLES, 'dash', 'dash']);
  const v = formatGroups(validItin(rng), style);
  const p = person(rng);
  const [kind, payload] = rng.pick([
    ['keystroke', { app: 'Google Chrome', url: 'https://apply.lumenbank.com/open-account', form: { full_name: p.full, itin: v } }],
    ['keystroke', { app: 'Microsoft Word', window_title: 'client_intake.docx', text: `Applicant has no SSN; ITIN ${v} was provided instead.` }],
    ['prompt', { app: 'Claude', prompt: `My ITIN is ${v}, can I use it to open a brokerage account?` }],
  ] as const);
  return { kind, payload: { ...payload }, expected: ['government_id'], note: `US ITIN (${style})`, mustShow: BARE_STYLES.includes(style) ? [] : ['government_id'] };
};

const einInTaxContext: Generator = (rng) => {
  const style = rng.pick(['dash', 'dash', 'none', 'space', 'en_dash', 'full_width'] as const);
  const v = formatGroups(validEin(rng), style);
  const company = rng.pick(['Brightline Consulting LLC', 'Okafor Design Studio', 'Harbor Freight Partners', 'Kowalski Plumbing Inc.']);
  const [kind, payload] = rng.pick([
    ['keystroke', { app: 'Adobe Acrobat', window_title: 'fw9.pdf', text: `Form W-9 Part I Taxpayer Identification Number. Employer identification number: ${v} Name: ${company}` }],
    ['keystroke', { app: 'TurboTax', window_title: 'W-2 Wage and Tax Statement', form: { employer_ein_box_b: v, employer_name: company } }],
    ['keystroke', { app: 'Google Chrome', url: 'https://www.irs.gov/businesses', text: `Schedule C line D, employer ID number (EIN) ${v} for ${company}` }],
    ['prompt', { app: 'ChatGPT', prompt: `The 1099-NEC from ${company} lists payer TIN ${v}. Where does it go on my Schedule C?` }],
  ] as const);
  return { kind, payload: { ...payload }, expected: ['government_id', 'tax'], note: `US EIN (${style}) in a tax form` };
};

const nino: Generator = (rng) => {
  const n = validNino(rng);
  const spaced = rng.chance(0.5);
  const v = formatNino(n, spaced);
  const p = person(rng);
  const [kind, payload, note] = rng.pick([
    ['keystroke', { app: 'Sage Payroll', window_title: 'New starter', form: { name: p.full, ni_number: v } }, 'payroll form key ni_number'],
    ['keystroke', { app: 'Google Chrome', url: 'https://hr.acme.io/uk/starter', text: `National Insurance number: ${v}` }, 'labelled text'],
    ['clipboard', { app: 'Notes', text: `NINO=${v.replace(/ /g, '')}` }, 'NINO='],
    ['keystroke', { app: 'Microsoft Outlook', subject: 'Starter paperwork', body: `Hi ${p.first}, I have your NI no. ${v} and bank details now.` }, 'mail "NI no."'],
    ['keystroke', { app: 'Microsoft Excel', window_title: 'uk_starters.xlsx', text: `${p.full}\t${v}\t2026-04-06` }, 'spreadsheet row, no keyword'],
  ] as const);
  return { kind, payload: { ...payload }, expected: ['government_id'], note: `UK NINO (${spaced ? 'spaced' : 'compact'}): ${note}` };
};

const otherNationalId: Generator = (rng) => {
  const p = person(rng);
  const which = rng.int(0, 2);
  if (which === 0) {
    const sin = validSin(rng);
    const v = formatGroups([sin.slice(0, 3), sin.slice(3, 6), sin.slice(6)], rng.pick(['space', 'dash', 'none'] as const));
    return { kind: 'keystroke', payload: { app: 'Google Chrome', url: 'https://hr.acme.io/ca/onboarding', text: `Social Insurance Number (SIN): ${v}` }, expected: ['government_id'], note: 'Canadian SIN (Luhn) with keyword' };
  }
  if (which === 1) {
    const v = validSteuerId(rng);
    const [kind, payload] = rng.pick([
      ['keystroke', { app: 'Personio', window_title: 'Neue Mitarbeiterin', form: { name: p.full, steuer_id: v } }],
      ['keystroke', { app: 'Google Chrome', url: 'https://hr.acme.io/de/onboarding', text: `Steuerliche Identifikationsnummer: ${formatGroups([v.slice(0, 2), v.slice(2, 5), v.slice(5, 8), v.slice(8)], rng.pick(['space', 'none'] as const))}` }],
    ] as const);
    return { kind, payload: { ...payload }, expected: ['government_id'], note: 'German Steuer-ID (MOD 11,10) with keyword or key' };
  }
  const v = formatGroups(validNir(rng), rng.pick(['space', 'none'] as const));
  return { kind: 'keystroke', payload: { app: 'Google Chrome', url: 'https://rh.acme.io/fr/embauche', text: `Numéro de sécurité sociale : ${v}` }, expected: ['government_id'], note: 'French NIR (mod-97 key) with keyword' };
};

export const GOVERNMENT_ID: ReadonlyArray<readonly [number, Generator]> = [
  [110, ssn],
  [18, itin],
  [20, einInTaxContext],
  [30, nino],
  [22, otherNationalId],
];

// ---- payment cards -------------------------------------------------------------------------

const card: Generator = (rng) => {
  const brand = rng.pick(CARD_BRANDS);
  const c = validCard(rng, brand);
  const style = rng.pick(SEPARATOR_STYLES);
  const v = formatGroups(c.groups, style);
  const e = expiry(rng);
  const code = cvv(rng, c.brand);
  const p = person(rng);
  const shop = rng.pick(SHOPS);
  const contexts = [
    ['keystroke', { app: 'Google Chrome', url: `https://checkout.${shop}.com/payment`, form: { card_number: v, expiry: e, cvc: code, name_on_card: p.full.toUpperCase() } }, 'checkout form'],
    ['keystroke', { app: 'Notes', text: `${c.brand} ${v} ${e} ${code}` }, 'note: number, expiry, CVV'],
    ['keystroke', { app: 'Notes', text: `card ${v} exp ${e} cvv ${code}` }, 'note with exp/cvv words'],
    ['clipboard', { app: 'Google Chrome', url: `https://pay.${shop}.com/`, text: `${v}|${e}|${code}` }, 'pipe-joined clipboard'],
    ['prompt', { app: 'ChatGPT', prompt: `My card ${v} was charged twice by ${shop}. Write a short dispute email to the bank.` }, 'assistant prompt'],
    ['keystroke', { app: 'Safari', url: `https://www.${shop}.com/checkout`, text: `${v} ${e}` }, 'number followed by expiry'],
    ['keystroke', { app: 'Zendesk', window_title: `Ticket #${rng.int(10000, 99999)}`, text: `Customer wrote: please charge the remaining balance to my card ${v}, expiry ${e}.` }, 'support ticket'],
    ['clipboard', { app: 'Terminal', text: `pan=${v}&exp=${e.replace('/', '')}&cvv=${code}` }, 'key=value'],
    ['keystroke', { app: 'Microsoft Excel', window_title: 'corporate_cards.xlsx', text: `${p.full}\tcc_${v}\t${e}` }, 'glued to cc_'],
  ] as const;
  const [kind, payload, note] = rng.pick(contexts);
  return { kind, payload: { ...payload }, expected: ['payment_card'], note: `${c.brand} ${c.digits.length} digits (${style}): ${note}`, mustShow: ['payment_card'] };
};

export const PAYMENT_CARD: ReadonlyArray<readonly [number, Generator]> = [[1, card]];

// ---- bank ----------------------------------------------------------------------------------

const iban: Generator = (rng) => {
  const compact = validIban(rng);
  const style = rng.pick(['paper', 'paper', 'paper', 'none', 'none', 'dash', 'dot', 'underscore', 'nbsp', 'full_width', 'zero_width', 'en_dash'] as const);
  const v = formatIban(compact, style);
  const p = person(rng);
  const bic = `${rng.fromAlphabet('ABCDEFGHIJKLMNOPQRSTUVWXYZ', 4)}${compact.slice(0, 2)}${rng.upperAlnum(2)}`;
  const contexts = [
    ['keystroke', { app: 'Microsoft Outlook', subject: `Invoice ${rng.int(2026000, 2026999)} payment details`, body: `Please transfer the amount to IBAN ${v} (BIC ${bic}). Thank you.` }, 'invoice mail'],
    ['keystroke', { app: 'Personio', window_title: 'Bank details', form: { account_holder: p.full, iban: v } }, 'HR form key iban'],
    ['prompt', { app: 'ChatGPT', prompt: `Generate a SEPA credit transfer XML for ${p.full}, IBAN ${v}, amount 1,240.00 EUR.` }, 'assistant prompt'],
    ['keystroke', { app: 'Google Chrome', url: 'https://banking.example-bank.eu/transfer/new', text: `${p.full} ${v}` }, 'online banking transfer, no keyword'],
    ['clipboard', { app: 'Slack', channel: '#finance-ops', text: `refund goes to iban=${v}` }, 'key=value in work chat'],
    ['keystroke', { app: 'Numbers', window_title: 'reimbursements.numbers', text: `${p.full}\t${v}\t84.20` }, 'spreadsheet row'],
  ] as const;
  const [kind, payload, note] = rng.pick(contexts);
  return { kind, payload: { ...payload }, expected: ['bank_account'], note: `IBAN ${compact.slice(0, 2)} (${style}): ${note}`, mustShow: ['bank_account'] };
};

const aba: Generator = (rng) => {
  const routing = validAba(rng);
  const account = bankAccountNumber(rng);
  const p = person(rng);
  const contexts = [
    ['keystroke', { app: 'Gusto', window_title: 'Direct deposit', form: { routing_number: routing, account_number: account, account_type: 'checking' } }, 'direct deposit form'],
    ['keystroke', { app: 'Microsoft Outlook', subject: 'Wire instructions', body: `Routing number: ${routing}\nAccount number: ${account}\nBeneficiary: ${p.full}` }, 'wire instructions'],
    ['keystroke', { app: 'Notes', text: `ABA ${routing} acct ${account}` }, 'short note'],
    ['prompt', { app: 'ChatGPT', prompt: `Fill in the ACH form: routing ${routing}, account ${account}, name ${p.full}` }, 'assistant prompt'],
  ] as const;
  const [kind, payload, note] = rng.pick(contexts);
  return { kind, payload: { ...payload }, expected: ['bank_account'], note: `ABA routing + account: ${note}` };
};

export const BANK_ACCOUNT: ReadonlyArray<readonly [number, Generator]> = [
  [100, iban],
  [40, aba],
];
