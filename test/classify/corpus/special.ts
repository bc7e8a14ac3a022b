/* Generators of health, tax, private-conversation and personal-contact content, and of mixtures. */
import type { Generator } from './item.js';
import { bankAccountNumber, formatGroups, validAba, validCard, validSsn, expiry } from './numbers.js';
import { dateOfBirth, homeAddress, person, personalEmail, phoneNumber } from './people.js';
import type { Rng } from './random.js';
import { DIAGNOSES, LAB_RESULTS, MEDICATIONS, PATIENT_PORTALS, PERSONAL_MESSENGERS, TAX_SITES, TAX_SOFTWARE } from './vocabulary.js';

type Kind = 'keystroke' | 'prompt' | 'clipboard';
type Ctx = [Kind, Record<string, unknown>, string];

const withUrl = (url: string | undefined) => (url ? { url } : {});
const weekday = (rng: Rng) => rng.pick(['Monday', 'Tuesday', 'Wednesday', 'Thursday', 'Friday']);
const time = (rng: Rng) => `${rng.int(8, 16)}:${rng.pick(['00', '15', '30', '45'])}`;

// ---- health --------------------------------------------------------------------------------

const portal: Generator = (rng) => {
  const site = rng.pick(PATIENT_PORTALS);
  const doctor = person(rng).last;
  const text = rng.pick([
    `Dr. ${doctor} sent you a message: your results are available to view.`,
    `Appointment confirmed: ${weekday(rng)} at ${time(rng)} with Dr. ${doctor}, Family Medicine.`,
    'Your prescription renewal request was approved and sent to your pharmacy.',
    `New test result: ${rng.pick(LAB_RESULTS)}`,
    'Please complete the pre-visit questionnaire before your appointment.',
    `Visit summary: follow up in ${rng.int(2, 12)} weeks.`,
  ]);
  return {
    kind: 'keystroke',
    payload: { app: site.app, ...withUrl(site.url), window_title: rng.pick(['Messages', 'Test Results', 'Appointments', 'Visit Summary']), text },
    expected: ['health'],
    note: `patient portal ${site.app}${site.url ? ` ${new URL(site.url).hostname}` : ''}`,
  };
};

const diagnosis: Generator = (rng) => {
  const [dx] = rng.pick(DIAGNOSES);
  const [med, dose] = rng.pick(MEDICATIONS);
  const p = person(rng);
  const [kind, payload, note] = rng.pick<Ctx>([
    ['keystroke', { app: 'Microsoft Outlook', subject: 'Time off', body: `Hi ${p.first}, I was diagnosed with ${dx} last week and need two days of medical leave for follow-up appointments.` }, 'mail to manager'],
    ['keystroke', { app: 'Slack', channel: `@${p.first.toLowerCase()}`, text: `heads up, doctor confirmed it's ${dx}, starting ${med} tomorrow so I may be slow this week` }, 'work DM'],
    ['prompt', { app: 'ChatGPT', prompt: `I was just diagnosed with ${dx}. What should I ask my doctor at the next appointment?` }, 'assistant prompt'],
    ['keystroke', { app: 'Notes', window_title: 'health', text: `${rng.int(2019, 2026)}: dx ${dx}, started ${med} ${dose}` }, 'personal note'],
  ]);
  return { kind, payload, expected: ['health'], note: `diagnosis: ${note}` };
};

const medication: Generator = (rng) => {
  const [med, dose] = rng.pick(MEDICATIONS);
  const [kind, payload, note] = rng.pick<Ctx>([
    ['keystroke', { app: 'Google Chrome', url: 'https://www.cvs.com/rx/refill', text: `Refill ${med} ${dose}, qty 30, take 1 tablet twice daily` }, 'pharmacy refill'],
    ['prompt', { app: 'Claude', prompt: `Is it safe to drink alcohol while taking ${med} ${dose} once a day?` }, 'assistant prompt'],
    ['keystroke', { app: 'Reminders', text: `Take ${med} ${dose} at 8am and 8pm` }, 'reminder'],
    ['keystroke', { app: 'Microsoft Teams', text: `sorry, stepping out - pharmacy closes at 6 and I'm out of my ${med}` }, 'work chat'],
  ]);
  return { kind, payload, expected: ['health'], note: `medication: ${note}` };
};

const labResult: Generator = (rng) => {
  const a = rng.pick(LAB_RESULTS);
  const b = rng.pick(LAB_RESULTS);
  const [kind, payload, note] = rng.pick<Ctx>([
    ['keystroke', { app: 'Google Chrome', url: 'https://www.questdiagnostics.com/patient/results', text: `Lab results: ${a}; ${b}. Repeat in 3 months.` }, 'lab portal'],
    ['prompt', { app: 'ChatGPT', prompt: `My blood test came back with ${a} and ${b}. Is that bad?` }, 'assistant prompt'],
    ['keystroke', { app: 'Notes', text: `bloodwork ${a}, ${b} - doctor wants a follow-up` }, 'note'],
  ]);
  return { kind, payload, expected: ['health'], note: `lab result: ${note}` };
};

const icd: Generator = (rng) => {
  const [dx, code] = rng.pick(DIAGNOSES);
  const p = person(rng);
  const [kind, payload, note] = rng.pick<Ctx>([
    ['keystroke', { app: 'Google Chrome', url: 'https://member.bcbs.com/claims/new', form: { patient_name: p.full, diagnosis_code: code, service_date: '2026-10-14' } }, 'claim form, key diagnosis_code'],
    ['keystroke', { app: 'Adobe Acrobat', window_title: 'superbill.pdf', text: `Patient: ${p.full}  ICD-10: ${code}  CPT 99214` }, 'superbill'],
    ['keystroke', { app: 'Notes', text: `Dx ${code} (${dx}) per Dr. ${person(rng).last}` }, 'Dx note'],
    ['keystroke', { app: 'Microsoft Outlook', subject: 'Insurance appeal', body: `The claim for ${p.full} was denied although the diagnosis code ${code} is covered.` }, 'insurance appeal'],
  ]);
  return { kind, payload, expected: ['health'], note: `ICD-10 ${code}: ${note}` };
};

const mental: Generator = (rng) => {
  const therapist = person(rng).first;
  const [kind, payload, note] = rng.pick<Ctx>([
    ['keystroke', { app: 'BetterHelp', text: `I've been having panic attacks before meetings again and can't sleep.` }, 'therapy app'],
    ['keystroke', { app: 'Google Chrome', url: 'https://www.talkspace.com/room', text: 'Session notes: we talked about the depressive episodes and the new journaling exercise.' }, 'therapy site'],
    ['keystroke', { app: 'Calendar', window_title: 'New event', text: `Therapy with ${therapist} - talk about the anxiety and the medication change` }, 'calendar entry'],
    ['prompt', { app: 'ChatGPT', prompt: 'My psychiatrist increased my antidepressant dose and I feel numb. Is that normal?' }, 'assistant prompt'],
    ['keystroke', { app: 'Slack', channel: `@${therapist.toLowerCase()}`, text: 'I have my psychiatrist appointment at 4, burnout is getting worse honestly' }, 'work DM'],
  ]);
  return { kind, payload, expected: ['health'], note: `mental health: ${note}` };
};

const pregnancy: Generator = (rng) => {
  const weeks = rng.int(6, 36);
  const [kind, payload, note] = rng.pick<Ctx>([
    ['keystroke', { app: 'Slack', channel: '@manager', text: `I'm ${weeks} weeks pregnant, my OB would rather I skip the flight to the offsite.` }, 'work DM'],
    ['prompt', { app: 'ChatGPT', prompt: `I am ${weeks} weeks pregnant. Which painkillers are safe?` }, 'assistant prompt'],
    ['keystroke', { app: 'Calendar', text: `Prenatal appointment + ${weeks}-week ultrasound` }, 'calendar'],
    ['keystroke', { app: 'Notes', text: 'positive pregnancy test this morning!! tell the team after the first trimester' }, 'note'],
  ]);
  return { kind, payload, expected: ['health'], note: `pregnancy: ${note}` };
};

export const HEALTH: ReadonlyArray<readonly [number, Generator]> = [
  [24, portal],
  [24, diagnosis],
  [22, medication],
  [16, labResult],
  [20, icd],
  [20, mental],
  [14, pregnancy],
];

// ---- tax -----------------------------------------------------------------------------------

const money = (rng: Rng, min: number, max: number) => `$${rng.int(min, max).toLocaleString('en-US')}.${rng.digits(2)}`;
const pounds = (rng: Rng, min: number, max: number) => `£${rng.int(min, max).toLocaleString('en-GB')}`;

const taxSoftware: Generator = (rng) => {
  const app = rng.pick(TAX_SOFTWARE);
  const text = rng.pick([
    `Wages, salaries, tips: ${money(rng, 40000, 190000)}`,
    `Federal income tax withheld ${money(rng, 3000, 40000)}`,
    `Your estimated federal refund: ${money(rng, 100, 6000)}`,
    `Charitable contributions: ${money(rng, 100, 5000)}`,
    `Filing status: Married filing jointly. Dependents: ${rng.int(1, 3)}`,
    `Mortgage interest: ${money(rng, 3000, 25000)}`,
  ]);
  return {
    kind: 'keystroke',
    payload: { app, window_title: rng.pick(['Wages & Income', 'Deductions & Credits', 'Federal Review', 'My Info']), text },
    expected: ['tax'],
    note: `tax software ${app}`,
  };
};

const taxSite: Generator = (rng) => {
  const url = rng.pick(TAX_SITES);
  const uk = url.includes('.uk');
  const text = uk
    ? rng.pick([`Balancing payment ${pounds(rng, 200, 9000)} due 31 January`, 'View your Self Assessment statement', `Payment on account ${pounds(rng, 200, 6000)}`])
    : rng.pick([`Payment amount ${money(rng, 100, 9000)} for tax year 2025`, 'Where is my refund? Enter your filing status', 'Account transcript for 2024']);
  return {
    kind: 'keystroke',
    payload: { app: rng.pick(['Google Chrome', 'Safari', 'Firefox']), url, text },
    expected: ['tax'],
    note: `tax site ${new URL(url).hostname}`,
  };
};

const taxForm: Generator = (rng) => {
  const company = rng.pick(['Brightline Consulting', 'Northgear', 'Harbor Partners', 'Lumen Labs']);
  const fact = rng.pick([
    `Form 1040 line 11, adjusted gross income ${money(rng, 40000, 250000)}`,
    `got my 1099-NEC from ${company}: nonemployee compensation ${money(rng, 2000, 60000)}`,
    `Schedule C net profit ${money(rng, 1000, 90000)}`,
    `W-2 box 1 wages ${money(rng, 40000, 190000)}, box 2 federal tax withheld ${money(rng, 4000, 40000)}`,
    `1099-B proceeds ${money(rng, 1000, 80000)}, cost basis ${money(rng, 1000, 60000)}`,
    `Form 8962 premium tax credit repayment ${money(rng, 100, 4000)}`,
    `my P60 shows total pay ${pounds(rng, 25000, 120000)} and tax deducted ${pounds(rng, 2000, 30000)}`,
    `Self Assessment return (SA100) for 2025-26: balancing payment ${pounds(rng, 200, 9000)}`,
    `need the P45 from ${company} for my tax return`,
    `1099-K from PayPal says ${money(rng, 600, 30000)} gross payments`,
  ]);
  const [kind, payload, note] = rng.pick<Ctx>([
    ['keystroke', { app: 'Microsoft Outlook', subject: 'Our 2025 tax return', body: `Hi, ${fact}. Can you check before you file?` }, 'mail to accountant'],
    ['prompt', { app: 'ChatGPT', prompt: `${fact}. How much will I owe?` }, 'assistant prompt'],
    ['keystroke', { app: 'Microsoft Excel', window_title: 'taxes_2025.xlsx', text: fact }, 'tax spreadsheet'],
    ['keystroke', { app: 'Notes', text: `taxes: ${fact}` }, 'note'],
  ]);
  return { kind, payload, expected: ['tax'], note: `tax form in context: ${note}` };
};

export const TAX: ReadonlyArray<readonly [number, Generator]> = [
  [30, taxSoftware],
  [30, taxSite],
  [50, taxForm],
];

// ---- private conversations -----------------------------------------------------------------

const PERSONAL_LINES = [
  'are we still on for dinner saturday?', 'landed safely, love you', 'lol see you at 8', 'can you pick up the kids at 3:30?',
  'did you feed the cat', 'happy birthday!! 🎉 hope you have the best day', 'running late, save me a seat', 'miss you already',
  'mom called, she wants us over on sunday', "I can't believe he said that to you", 'ok I booked the cabin for the long weekend',
  'send me the photos from the wedding pls', 'who is bringing dessert?', 'he finally proposed!!!', "don't tell anyone but I'm interviewing elsewhere",
  'the landlord still hasn’t fixed the heating', 'good luck tomorrow, you got this', 'can I borrow your drill this weekend', 'we broke up last night',
  'grandma is doing better today', 'thanks for the money, I’ll pay you back friday', 'are you awake?', 'what time does the match start',
];
const CONTACT_TITLES = ['Mom', 'Dad', 'Jess', 'Family ❤️', 'Sam (brother)', 'Book club', 'Flatmates', 'Alex', 'Priya', 'Football lads'];

const privateMessage: Generator = (rng) => {
  const m = rng.pick(PERSONAL_MESSENGERS);
  const title = rng.pick(CONTACT_TITLES);
  const payload = { app: m.app, ...withUrl(m.url), window_title: m.url ? `${title} | ${m.app}` : title, text: rng.pick(PERSONAL_LINES) };
  if (m.url && rng.chance(0.3)) delete (payload as { window_title?: string }).window_title;
  return { kind: 'keystroke', payload, expected: ['private_conversation'], note: `personal messenger ${m.app}${m.url ? ` ${new URL(m.url).hostname}` : ''}` };
};

export const PRIVATE_CONVERSATION: ReadonlyArray<readonly [number, Generator]> = [[1, privateMessage]];

// ---- personal contact data (level 3) -------------------------------------------------------

const email: Generator = (rng) => {
  const p = person(rng);
  const e = personalEmail(rng, p);
  const [kind, payload, note] = rng.pick<Ctx>([
    ['keystroke', { app: 'Google Chrome', url: 'https://careers.northgear.com/apply', form: { name: p.full, email: e } }, 'application form'],
    ['keystroke', { app: 'Microsoft Outlook', subject: 'Re: offsite photos', body: `please send them to my personal address ${e}, my work inbox is full` }, 'mail'],
    ['keystroke', { app: 'Slack', channel: '#random', text: `ping me at ${e} while I'm on leave` }, 'work chat'],
    ['prompt', { app: 'ChatGPT', prompt: `Write a polite reply to ${p.first} at ${e} declining the invitation.` }, 'assistant prompt'],
  ]);
  return { kind, payload, expected: ['contact_data'], note: `personal email: ${note}` };
};

const phone: Generator = (rng) => {
  const p = person(rng);
  const n = phoneNumber(rng);
  const [kind, payload, note] = rng.pick<Ctx>([
    ['keystroke', { app: 'Google Chrome', url: 'https://www.opentable.com/booking/details', form: { first_name: p.first, phone: n } }, 'booking form'],
    ['keystroke', { app: 'Slack', channel: '#team-london', text: `if the VPN dies again call me on ${n}` }, 'work chat'],
    ['keystroke', { app: 'Microsoft Outlook', subject: 'Emergency contact', body: `Emergency contact: ${p.full} (sister), ${n}` }, 'mail'],
    ['keystroke', { app: 'Notes', text: `plumber ${p.first} ${n}` }, 'note'],
    ['keystroke', { app: 'Microsoft Outlook', subject: 'Signature', body: `Best,\n${p.full}\nMobile: ${n}` }, 'mail signature'],
  ]);
  return { kind, payload, expected: ['contact_data'], note: `phone number ${n}: ${note}` };
};

const address: Generator = (rng) => {
  const p = person(rng);
  const a = homeAddress(rng);
  const [kind, payload, note] = rng.pick<Ctx>([
    ['keystroke', { app: 'Google Chrome', url: 'https://www.bluecart.com/checkout/shipping', form: { full_name: p.full, shipping_address: a } }, 'shipping form'],
    ['keystroke', { app: 'Workday', window_title: 'Change my address', form: { home_address: a } }, 'HR form key home_address'],
    ['keystroke', { app: 'Microsoft Outlook', subject: 'Address change', body: `Hi, I moved - my new home address is ${a}.` }, 'mail'],
    ['keystroke', { app: 'Slack', channel: '#social', text: `housewarming on saturday! address is ${a}, come by after 7` }, 'work chat'],
  ]);
  return { kind, payload, expected: ['contact_data'], note: `home address: ${note}` };
};

export const CONTACT_DATA: ReadonlyArray<readonly [number, Generator]> = [
  [40, email],
  [45, phone],
  [35, address],
];

// ---- mixtures ------------------------------------------------------------------------------

export const MIXED: ReadonlyArray<readonly [number, Generator]> = [
  [
    1,
    (rng) => ({
      kind: 'keystroke',
      payload: { app: 'WhatsApp', window_title: rng.pick(CONTACT_TITLES), text: `new number, save it: ${phoneNumber(rng)}` },
      expected: ['contact_data', 'private_conversation'],
      note: 'phone number in a personal messenger',
    }),
  ],
  [
    1,
    (rng) => {
      const c = validCard(rng);
      return {
        kind: 'keystroke',
        payload: { app: 'MyChart', url: 'https://mychart.uchealth.org/MyChart/Billing/PayNow', form: { card_number: formatGroups(c.groups, 'space'), expiry: expiry(rng) } },
        expected: ['health', 'payment_card'],
        note: 'card paid in a patient portal',
        mustShow: ['payment_card'],
      };
    },
  ],
  [
    1,
    (rng) => ({
      kind: 'keystroke',
      payload: { app: 'TurboTax', window_title: 'My Info', form: { taxpayer_ssn: formatGroups(validSsn(rng), 'dash'), date_of_birth: dateOfBirth(rng) } },
      expected: ['government_id', 'tax'],
      note: 'SSN in tax software',
      mustShow: ['government_id'],
    }),
  ],
  [
    1,
    (rng) => {
      const [dx] = rng.pick(DIAGNOSES);
      return {
        kind: 'keystroke',
        payload: { app: 'Telegram', window_title: rng.pick(CONTACT_TITLES), text: `the doctor says it's ${dx}, don't tell dad yet` },
        expected: ['health', 'private_conversation'],
        note: 'diagnosis in a personal messenger',
      };
    },
  ],
  [
    1,
    (rng) => {
      const p = person(rng);
      return {
        kind: 'keystroke',
        payload: { app: 'Microsoft Outlook', subject: 'Payroll update', body: `${p.full}, SSN ${formatGroups(validSsn(rng), 'dash')}, new home address ${homeAddress(rng)}` },
        expected: ['contact_data', 'government_id'],
        note: 'SSN and home address in a mail',
        mustShow: ['government_id'],
      };
    },
  ],
  [
    1,
    (rng) => ({
      kind: 'keystroke',
      payload: { app: 'Signal', window_title: rng.pick(CONTACT_TITLES), text: `netflix login is ${person(rng).first.toLowerCase()}.home / password: ${rng.alnum(8)}${rng.int(10, 99)}!` },
      expected: ['credential', 'private_conversation'],
      note: 'password shared in a personal messenger',
    }),
  ],
  [
    1,
    (rng) => ({
      kind: 'keystroke',
      payload: { app: 'Google Chrome', url: 'https://www.irs.gov/payments/direct-pay', form: { routing_number: validAba(rng), account_number: bankAccountNumber(rng), payment_reason: 'Balance due' } },
      expected: ['bank_account', 'tax'],
      note: 'bank account on the IRS payment page',
    }),
  ],
];
