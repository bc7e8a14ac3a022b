/*
 * Hand-written hard cases, both directions: the attacks from issue 10 (separators, full-width
 * digits, zero-width characters, numbers glued to letters or `_`, key=value, a card followed by its
 * expiry) and the look-alikes a naive detector flags. Check digits are computed, not typed.
 */
import type { Category } from '../../../src/classify/index.js';
import { ibanCheckDigits, luhnCheckDigit } from './checks.js';
import type { CorpusItem, Kind } from './item.js';

const luhn = (partial: string) => partial + luhnCheckDigit(partial);
/** A 13-19 digit number that fails Luhn: the valid check digit plus one. */
const notLuhn = (partial: string) => partial + String((Number(luhnCheckDigit(partial)) + 1) % 10);
const iban = (country: string, bban: string) => country + ibanCheckDigits(country, bban) + bban;
const paper = (compact: string) => compact.match(/.{1,4}/g)!.join(' ');
const fullWidth = (s: string) => s.replace(/[0-9]/g, (d) => String.fromCharCode(d.charCodeAt(0) + 0xfee0)).replace(/-/g, '\uFF0D');
const zeroWidth = (s: string) => s.split('').join('\u200B');
const groups4 = (s: string, sep: string) => s.match(/.{1,4}/g)!.join(sep);

const VISA = luhn('453201511283036');
const MC2 = luhn('222100481937562');
const AMEX = luhn('37144963539843');
const VISA19 = luhn('452907611834521099');
const DISCOVER = luhn('601164421873905');
const IBAN_DE = iban('DE', '500105175407324931');
const IBAN_GB = iban('GB', 'BARC20031552768215');
const IBAN_NL = iban('NL', 'RABO0318290441');
const IBAN_FR = iban('FR', '30004000031234567890143');
/** IBAN_NL with other check digits (its ten-digit account number leaves no room for a card-length run). */
const IBAN_BAD = `NL${String(((Number(IBAN_NL.slice(2, 4)) + 40) % 97) + 2).padStart(2, '0')}${IBAN_NL.slice(4)}`;
const B64 = 'Q2xhc3NpZmllckNvcnB1c1N5bnRoZXRpY0tleU1hdGVyaWFsTm90QVJlYWxTZWNyZXQ';
const KEY_BODY = (B64 + B64 + B64).slice(0, 64);

type Hard = [readonly Category[], string, Record<string, unknown>, Kind?];

const POSITIVE: Hard[] = [
  // government ids
  [['government_id'], 'SSN with spaces, typed into an assistant', { app: 'ChatGPT', prompt: 'my ssn is 536 22 8841, can you fill in the rest of the form' }, 'prompt'],
  [['government_id'], 'ssn=digits in a query string', { app: 'Postman', text: 'GET https://verify.lumenbank.com/check?ssn=536228841&dob=1988-02-14' }],
  [['government_id'], 'full-width SSN with full-width label', { app: 'Microsoft Word', text: 'ＳＳＮ：５３６－２２－８８４１' }],
  [['government_id'], 'SSN with en-dashes', { app: 'Pages', text: 'Social Security: 536\u201322\u20138841' }],
  [['government_id'], 'SSN glued to letters', { app: 'Console', text: 'lookup failed for applicant536-22-8841X' }],
  [['government_id'], 'SSN with underscores glued to a prefix', { app: 'Finder', text: 'scan_emp_536_22_8841.pdf' }],
  [['government_id'], 'SSN with zero-width spaces between digits', { app: 'Notes', text: `SSN ${zeroWidth('536-22-8841')}` }],
  [['government_id'], 'SSN with dots', { app: 'Notes', text: 'social 536.22.8841' }],
  [['government_id'], 'SSN with no-break spaces', { app: 'Microsoft Outlook', body: 'SSN:\u00A0536\u00A022\u00A08841' }],
  [['government_id'], 'bare SSN under an upper-case SSN key', { app: 'Workday', form: { SSN: '536228841' } }],
  [['government_id'], 'spaced SSN under social_security_number', { app: 'Workday', form: { social_security_number: '536 22 8841' } }],
  [['government_id'], 'SSN with minus signs (U+2212)', { app: 'Notes', text: 'ssn 536\u221222\u22128841' }],
  [['government_id'], 'ITIN in a bank form', { app: 'Google Chrome', url: 'https://apply.lumenbank.com/open-account', form: { itin: '912-78-4410' } }],
  [['government_id'], 'UK NINO spaced', { app: 'Sage Payroll', text: 'NI number JT 48 21 93 C' }],
  [['government_id'], 'UK NINO compact, key only', { app: 'Sage Payroll', form: { nino: 'JT482193C' } }],
  [['government_id'], 'SSN in a JSON blob pasted into chat', { app: 'Slack', channel: '#eng-backend', text: '{"user":"mguerra","ssn":"536-22-8841","plan":"pro"}' }],
  [['government_id', 'tax'], 'EIN on a W-9', { app: 'Adobe Acrobat', window_title: 'fw9.pdf', text: 'Form W-9, Employer identification number 84-2917365' }],
  [['government_id', 'tax'], 'SSN in tax software', { app: 'TurboTax', window_title: 'Personal Info', form: { ssn: '536-22-8841' } }],
  // payment cards
  [['payment_card'], 'Visa with dots', { app: 'Notes', text: `card ${groups4(VISA, '.')}` }],
  [['payment_card'], 'Visa followed by expiry and CVV', { app: 'Notes', text: `${VISA} 04/28 737` }],
  [['payment_card'], 'Visa grouped, followed by MMYY', { app: 'Safari', url: 'https://pay.northgear.com', text: `${groups4(VISA, ' ')} 0428` }],
  [['payment_card'], 'Mastercard 2-series with en-dashes', { app: 'Notes', text: groups4(MC2, '\u2013') }],
  [['payment_card'], 'Amex 4-6-5 glued to letters', { app: 'Notes', text: `amex:${AMEX.slice(0, 4)} ${AMEX.slice(4, 10)} ${AMEX.slice(10)}exp0927` }],
  [['payment_card', 'private_conversation'], 'Visa in full-width digits, sent over LINE', { app: 'LINE', window_title: 'Shop', text: fullWidth(groups4(VISA, '-')) }],
  [['payment_card', 'private_conversation'], 'card sent over a personal messenger', { app: 'WhatsApp', window_title: 'Dad', text: `here's the card for the hotel ${groups4(VISA, ' ')} exp 04/28` }],
  [['payment_card'], 'Visa with a zero-width space between every digit', { app: 'Google Chrome', url: 'https://checkout.bluecart.com', text: zeroWidth(VISA) }],
  [['payment_card'], 'card in key=value', { app: 'Terminal', text: `curl -d 'cc=${VISA}&exp=0428&cvv=737' https://pay.internal/charge` }],
  [['payment_card'], '19-digit Visa', { app: 'Notes', text: `prepaid ${groups4(VISA19, ' ')}` }],
  [['payment_card'], 'card with underscores after a prefix', { app: 'Console', text: `card_${groups4(DISCOVER, '_')}` }],
  [['payment_card'], 'bare PAN under key pan with expiry beside it', { app: 'Postman', form: { pan: DISCOVER, exp_month: '11', exp_year: '2029' } }],
  // bank
  [['bank_account'], 'IBAN glued to its label', { app: 'Microsoft Outlook', body: `IBAN:${IBAN_DE}` }],
  [['bank_account'], 'IBAN with dashes', { app: 'Notes', text: groups4(IBAN_GB, '-') }],
  [['bank_account'], 'Dutch IBAN in work chat', { app: 'Slack', channel: '#finance-ops', text: `refund to ${paper(IBAN_NL)} please` }],
  [['bank_account'], 'IBAN with full-width digits', { app: 'Pages', text: fullWidth(paper(IBAN_FR)) }],
  [['bank_account'], 'IBAN in lower case', { app: 'Notes', text: `iban ${IBAN_GB.toLowerCase()}` }],
  [['bank_account'], 'routing and account in a direct deposit form', { app: 'Gusto', form: { routing: '026009593', account: '48312209174' } }],
  [['bank_account'], 'ABA routing and account in a sentence', { app: 'Microsoft Outlook', body: 'wire it to routing 121000248, account no. 7731904482' }],
  // credentials
  [['credential'], 'PEM with escaped newlines in a .env', { app: 'Visual Studio Code', window_title: '.env', text: `JWT_PRIVATE_KEY="-----BEGIN PRIVATE KEY-----\\nMIIEvQIBADANBgkqhkiG9w0BAQEFAASC${KEY_BODY}\\n${KEY_BODY}\\n-----END PRIVATE KEY-----"` }],
  [['credential'], 'EC private key (SEC1, MHc...)', { app: 'Terminal', text: `-----BEGIN EC PRIVATE KEY-----\nMHcCAQEEIO${KEY_BODY.slice(0, 54)}\n${KEY_BODY}\n${KEY_BODY.slice(0, 40)}==\n-----END EC PRIVATE KEY-----` }, 'clipboard'],
  [['credential'], 'OpenSSH private key', { app: 'Terminal', text: `-----BEGIN OPENSSH PRIVATE KEY-----\nb3BlbnNzaC1rZXktdjEAAAAABG5vbmUAAAAEbm9uZQAAAAAAAAABAAAAMwAAAAtzc2gtZW\n${KEY_BODY}\n${KEY_BODY}\n-----END OPENSSH PRIVATE KEY-----` }, 'clipboard'],
  [['credential'], 'PGP private key block', { app: 'Terminal', text: `-----BEGIN PGP PRIVATE KEY BLOCK-----\n\nlQOYBGVx${KEY_BODY.slice(0, 56)}\n${KEY_BODY}\n${KEY_BODY}\n=Xq9L\n-----END PGP PRIVATE KEY BLOCK-----` }, 'clipboard'],
  [['credential'], 'JWT in a URL query', { app: 'Google Chrome', url: 'https://app.acme.io/callback', text: 'https://app.acme.io/callback?token=eyJhbGciOiJIUzI1NiIsInR5cCI6IkpXVCJ9.eyJzdWIiOiI0ODIxOTMiLCJyb2xlIjoiYWRtaW4iLCJpYXQiOjE3NjcyMjU2MDB9.Yk3pL0QxW9vZr2mN7cT5aB8dE1fG4hJ6kS0uV3xR2wQ' }],
  [['credential'], 'MongoDB SRV connection string', { app: 'MongoDB Compass', text: 'mongodb+srv://analytics:Vx7pQ2mLr9tK@cluster0.q4x2b.mongodb.net/events' }],
  [['credential'], 'password: in YAML', { app: 'Visual Studio Code', window_title: 'values.yaml', text: 'redis:\n  host: redis.internal\n  password: Tr0ub4dor&3' }],
  [['credential'], '"password" inside a JSON string', { app: 'Postman', text: '{"username":"svc-report","password":"hunter2!xK9"}' }],
  [['credential'], 'login form field password', { app: 'Google Chrome', url: 'https://vpn.acme.io/login', form: { user: 'mguerra', password: 'CorrectHorse9!' } }],
  [['credential'], 'AWS secret alone', { app: 'iTerm2', text: 'export AWS_SECRET_ACCESS_KEY=q8Zr2mVx0bT5nL1cK7wP3yH9dF4gJ6sA2eR8uQ0t' }, 'clipboard'],
  [['credential'], 'GitHub app token inside a git remote URL', { app: 'Terminal', text: 'git remote set-url origin https://x-access-token:ghs_4Fq8LmZ2pX9vR1tN6bK3wJ7yH0cD5sA2eQ8u@github.com/acme/api.git' }, 'clipboard'],
  [['credential'], 'Slack webhook in code', { app: 'Visual Studio Code', text: "const HOOK = 'https://hooks.slack.com/services/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';" }],
  [['credential'], 'Google API key in an Android manifest', { app: 'Android Studio', text: '<meta-data android:name="com.google.android.geo.API_KEY" android:value="AIzaSyD3q8Zr2mVx0bT5nL1cK7wP3yH9dF4gJ6s"/>' }],
  [['credential'], 'Stripe restricted key', { app: 'Slack', channel: '#payments', text: 'rk_live_51Mx2Qp8ZrVx0bT5nL1cK7wP3yH9dF4gJ6sA2eR8uQ0tW4zY1 is the one for the reporting job' }],
  [['credential'], 'basic auth in a registry URL', { app: 'Terminal', text: 'docker login https://deploy:Xq9vR2tM7pL4@registry.acme.io' }, 'clipboard'],
  [['credential'], 'Slack user token', { app: 'Postman', text: 'xoxp-48213371924-50193847261-81726354901-5f3a9c2e8b7d6a1f0e4c3b2a9d8e7f6c' }],
  [['credential'], 'GitLab token in CI config', { app: 'Visual Studio Code', window_title: '.gitlab-ci.yml', text: 'variables:\n  GL_TOKEN: glpat-Zr2mVx0bT5nL1cK7wP3y' }],
  [['credential'], 'npm token in .npmrc', { app: 'Vim', window_title: '~/.npmrc', text: '//registry.npmjs.org/:_authToken=npm_q8Zr2mVx0bT5nL1cK7wP3yH9dF4gJ6sA2eR8' }],
  [['credential'], 'SQL Server connection string', { app: 'Azure Data Studio', text: 'Server=tcp:billing-db.database.windows.net,1433;Database=billing;User ID=etl;Password=Pq7!vZ2rLx9m;' }],
  // health
  [['health'], 'Rx shorthand', { app: 'Notes', text: 'Rx: sertraline 50 mg qd' }],
  [['health'], 'Dx with ICD-10 code only', { app: 'Notes', text: 'Dx F32.1' }],
  [['health'], 'ADHD suspicion in a DM', { app: 'Slack', channel: '@jonas', text: 'my therapist thinks I have ADHD, getting assessed next month' }],
  [['health'], 'IVF in work chat', { app: 'Microsoft Teams', text: "IVF retrieval is on Tuesday so I'll be offline" }],
  [['health'], 'chemotherapy', { app: 'Microsoft Outlook', subject: 'Schedule', body: 'Chemo round 3 is next week, can we move the review?' }],
  [['health'], 'HIV status and medication', { app: 'Notes', text: 'HIV positive since 2019, on Biktarvy, undetectable' }],
  [['health'], 'patient portal focus only', { app: 'MyChart', window_title: 'Test Results' }, 'window_focus'],
  [['health'], 'patient portal by domain only', { app: 'Google Chrome', url: 'https://mychart.sutterhealth.org/mychart/Messaging', text: 'Reply' }],
  [['health'], 'insulin pump', { app: 'Slack', channel: '#team', text: 'sorry about the beeping, my insulin pump alarm went off' }],
  [['health'], 'blood pressure reading', { app: 'Notes', text: 'blood pressure 150/95 this morning, call the cardiologist' }],
  [['health'], 'miscarriage', { app: 'Microsoft Outlook', subject: 'Out', body: 'I had a miscarriage last week and need a few more days off.' }],
  // tax
  [['tax'], 'Form 1040-SR in a prompt', { app: 'ChatGPT', prompt: 'My dad files Form 1040-SR, can he deduct his Medicare premiums?' }, 'prompt'],
  [['tax'], 'Schedule K-1', { app: 'Microsoft Outlook', subject: 'K-1', body: 'The Schedule K-1 from the partnership shows ordinary income of $14,200.' }],
  [['tax'], 'tax software focus only', { app: 'TurboTax', window_title: 'TurboTax 2025' }, 'window_focus'],
  [['tax'], 'IRS refund status by domain', { app: 'Safari', url: 'https://www.irs.gov/refunds', window_title: "Where's My Refund?" }, 'window_focus'],
  [['tax'], 'HMRC self assessment mail', { app: 'Microsoft Outlook', subject: 'HMRC', body: 'Filed my HMRC self assessment, £2,340 to pay by 31 January' }],
  [['tax'], 'W-2 in work chat', { app: 'Slack', channel: '#random', text: 'did everyone get their W-2 from payroll? mine shows $84,213 in box 1' }],
  // private conversations
  [['private_conversation'], 'WhatsApp focus only', { app: 'WhatsApp', window_title: 'Mom' }, 'window_focus'],
  [['private_conversation'], 'WhatsApp Web in the browser', { app: 'Google Chrome', window_title: '(3) WhatsApp', url: 'https://web.whatsapp.com/', text: 'ok' }],
  [['private_conversation'], 'one-letter Signal reply', { app: 'Signal', text: 'k' }],
  [['private_conversation'], 'iMessage via Messages', { app: 'Messages', window_title: 'Jess', text: 'omw' }],
  [['private_conversation'], 'Messenger web', { app: 'Firefox', url: 'https://www.messenger.com/t/jess.oakes', text: 'haha yes' }],
  // contact data
  [['contact_data'], 'US phone with spaces', { app: 'Slack', channel: '#team', text: 'my cell is 415 555 0142 if the bridge drops' }],
  [['contact_data'], 'gmail with a plus tag', { app: 'Google Chrome', url: 'https://www.bluecart.com/signup', form: { email: 'jane.doe+news@gmail.com' } }],
  [['contact_data'], 'UK landline in a signature', { app: 'Microsoft Outlook', body: 'Best,\nTomasz\n+44 20 7946 0123' }],
  [['contact_data'], 'UK home address', { app: 'Workday', form: { home_address: '12 Oak Street, Bristol BS7 8JT' } }],
  [['contact_data'], 'personal email under personal_email', { app: 'Personio', form: { personal_email: 'leila.haddad@proton.me' } }],
];

const NEGATIVE: Hard[] = [
  [[], 'AWS documentation example keys', { app: 'Google Chrome', url: 'https://docs.aws.amazon.com/cli/latest/userguide/cli-configure-files.html', text: 'aws_access_key_id=AKIAIOSFODNN7EXAMPLE\naws_secret_access_key=wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY' }],
  [[], 'connection string with a password variable', { app: 'Visual Studio Code', text: 'DATABASE_URL=postgres://app:${DB_PASSWORD}@db:5432/app' }],
  [[], 'masked password field', { app: 'Google Chrome', url: 'https://login.acme.io/', form: { username: 'jdoe', password: '********' } }],
  [[], 'Forgot password link text', { app: 'Figma', text: 'Forgot password?' }],
  [[], 'SSN-shaped, area 000', { app: 'Visual Studio Code', text: "const FAKE_SSN = '000-12-3456';" }],
  [[], 'SSN-shaped, area 666', { app: 'Jira', text: 'validator accepted 666-45-1234, should reject' }],
  [[], 'SSN-shaped, area 9xx with a non-ITIN group', { app: 'SAP', text: 'part 912-34-5678 back-ordered' }],
  [[], 'SSN-shaped, group 00', { app: 'Jira', text: 'test data ssn 536-00-8841 (invalid group)' }],
  [[], 'SSN-shaped, serial 0000', { app: 'Jira', text: 'test data ssn 536-22-0000 (invalid serial)' }],
  [[], 'NINO documentation example with the never-issued QQ prefix', { app: 'Confluence', window_title: 'Payroll import spec', text: 'NINO format example: QQ 12 34 56 C' }],
  [[], 'Luhn-invalid card number', { app: 'Jira', text: `QA: ${groups4(notLuhn('453201511283036'), ' ')} should be rejected by the checkout form` }],
  [[], 'IBAN with wrong check digits', { app: 'Terminal', text: `ValidationError: ${paper(IBAN_BAD)} failed mod-97` }, 'clipboard'],
  [[], 'ISBN-13', { app: 'Slack', channel: '#reading', text: 'ISBN 978-1-4493-7332-0, chapter 5 for thursday' }],
  [[], 'SHA-256 digest', { app: 'Terminal', text: 'sha256:9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08' }, 'clipboard'],
  [[], 'UUID', { app: 'Datadog', text: 'trace 3f2b8c1e-9d4a-4e7f-b6c5-2a1d0e9f8b7c took 412 ms' }],
  [[], '"tax the CPU"', { app: 'Slack', channel: '#perf', text: 'that regex will tax the CPU on big payloads' }],
  [[], 'syntax error', { app: 'Terminal', text: 'SyntaxError: Unexpected end of JSON input' }, 'clipboard'],
  [[], 'stealth mode', { app: 'Slack', channel: '#marketing', text: "we're in stealth until the launch" }],
  [[], 'health check route', { app: 'Visual Studio Code', text: "router.get('/healthz', ok)" }],
  [[], 'health check endpoint in an alert', { app: 'PagerDuty', text: 'Health check endpoint /status failed 3 times on api-gateway' }],
  [[], 'Signal handler', { app: 'Visual Studio Code', text: "process.on('SIGHUP', reload); // signal handler" }],
  [[], 'work DM in Slack', { app: 'Slack', window_title: 'Priya Patel (direct message)', text: 'can you review my PR before lunch?' }],
  [[], 'casual message in Teams is still work chat', { app: 'Microsoft Teams', window_title: 'Chat | Jonas Fischer', text: 'lunch at 12?' }],
  [[], 'phone extension alone', { app: 'Slack', channel: '#office', text: 'front desk is ext. 4412' }],
  [[], 'work email address', { app: 'Microsoft Outlook', body: 'cc priya.patel@acme.io on the renewal' }],
  [[], 'freemail domain in code, no address', { app: 'Visual Studio Code', text: "if (email.endsWith('@gmail.com')) flagAsPersonal(email);" }],
  [[], '1040 as a line count', { app: 'GitHub Desktop', text: 'this PR touches 1040 lines across 12 files' }],
  [[], '1099 as a row count', { app: 'Jira', text: 'the 1099 rows that failed the import are in the attached CSV' }],
  [[], '"patient zero" of an outage', { app: 'Google Docs', window_title: 'Postmortem', text: 'patient zero was cache-node-3, which then spread the bad config' }],
  [[], 'diagnosis of a flaky test', { app: 'Slack', channel: '#ci', text: 'diagnosis: race in the retry loop, fix in #4521' }],
  [[], 'f32 in Rust code', { app: 'Visual Studio Code', text: 'let ratio: f32 = 32.1 / total as f32;' }],
  [[], 'WhatsApp Business marketing page, not a conversation', { app: 'Google Chrome', url: 'https://business.whatsapp.com/products/platform-pricing', text: 'Conversation-based pricing for the WhatsApp Business Platform' }],
  [[], 'Telegram mentioned in a spec', { app: 'Confluence', text: 'Out of scope: Telegram and Signal integrations' }],
  [[], 'Amazon-style order number', { app: 'Google Chrome', url: 'https://www.amazon.com/gp/your-account/order-history', text: 'Order #113-4829013-7731946' }],
  [[], 'epoch milliseconds failing Luhn', { app: 'Terminal', text: `ts=${notLuhn('176216536138')}` }, 'clipboard'],
  [[], 'timestamp', { app: 'Terminal', text: '2026-11-03 08:15:00.482 INFO started in 1843 ms' }, 'clipboard'],
  [[], 'Windows build number', { app: 'Jira', text: 'Repro on Windows 10.0.19045.4291 only' }],
  [[], 'Zoom meeting id', { app: 'Zoom', text: 'Meeting ID: 842 1937 5520' }],
  [[], 'private IP and port', { app: 'Terminal', text: 'curl http://10.0.12.7:8080/metrics' }, 'clipboard'],
  [[], 'routing number alone, no account', { app: 'Confluence', text: 'ABA routing numbers are 9 digits with a checksum, e.g. 011000015 for the Boston Fed.' }],
  [[], 'sales tax on a vendor invoice', { app: 'Xero', text: 'Subtotal $1,200.00 · Sales tax (8.25%) $99.00 · Total $1,299.00' }],
  [[], 'token TTL setting', { app: 'Visual Studio Code', text: 'password_reset_token_ttl = 3600' }],
  [[], 'bearer placeholder', { app: 'Confluence', text: 'curl -H "Authorization: Bearer <token>" https://api.acme.io/v1/me' }],
  [[], 'JWT header only', { app: 'Slack', channel: '#backend', text: 'the header eyJhbGciOiJIUzI1NiJ9 decodes to {"alg":"HS256"}' }],
  [[], 'public key block', { app: 'Terminal', text: `-----BEGIN PUBLIC KEY-----\nMIIBIjANBgkqhkiG9w0BAQEFAAOCAQ8AMIIBCgKCAQEA${KEY_BODY.slice(0, 20)}\n${KEY_BODY}\n-----END PUBLIC KEY-----` }, 'clipboard'],
  [[], 'certificate block', { app: 'Terminal', text: `-----BEGIN CERTIFICATE-----\nMIIDdzCCAl+gAwIBAgIE${KEY_BODY.slice(0, 44)}\n${KEY_BODY}\n-----END CERTIFICATE-----` }, 'clipboard'],
  [[], 'SSH public key', { app: 'GitHub Desktop', text: `ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAI${KEY_BODY.slice(0, 43)} mguerra@laptop` }],
  [[], 'git commit SHA', { app: 'Terminal', text: 'HEAD is now at 4c1d9e27b3a8f05d6e2c91b7a4f83d0e5b6c7a12 fix retry' }, 'clipboard'],
  [[], 'date format documentation', { app: 'Confluence', text: 'DOB field format is YYYY-MM-DD' }],
  [[], 'open enrollment announcement, no personal health data', { app: 'Microsoft Outlook', subject: 'Open enrollment', body: 'Open enrollment for medical, dental and vision plans closes Friday.' }],
  [[], '"signal boost" in work chat', { app: 'Slack', channel: '#general', text: "signal boost: we're hiring two SREs" }],
  [[], 'card-length number failing Luhn under a card-ish key', { app: 'Postman', form: { reference_number: notLuhn('601164421873905') } }],
  [[], 'version with four groups', { app: 'Slack', channel: '#release', text: 'Chrome 131.0.6778.86 broke the date picker' }],
  [[], 'full-width digits in a meeting time', { app: 'Slack', channel: '#tokyo', text: '定例は１５：００から' }],
];

/** The hand-written cases, labelled as written. */
export function hardCases(): CorpusItem[] {
  return [...POSITIVE.map((h) => ['pos', h] as const), ...NEGATIVE.map((h) => ['neg', h] as const)].map(([side, [expected, note, payload, kind]], i) => ({
    id: `hard-${side}-${String(i + 1).padStart(3, '0')}`,
    kind: kind ?? 'keystroke',
    payload,
    expected: [...expected].sort(),
    note: `hand-written: ${note}`,
  }));
}
