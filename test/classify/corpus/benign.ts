/*
 * Benign look-alikes: ordinary work captures full of numbers, codes and words that resemble the
 * sensitive ones (order, invoice and tracking numbers, timestamps, UUIDs, hashes, versions, ISBNs,
 * extensions, code, Luhn-invalid card-length numbers, invalid IBANs and SSNs, "tax" and "health" in
 * work text, work addresses and work chat). None of them may reach level 3.
 */
import type { Generator } from './item.js';
import { formatGroups, formatIban, invalidIban, invalidSsn, luhnInvalidCard, SEPARATOR_STYLES } from './numbers.js';
import { person, workEmail } from './people.js';
import type { Rng } from './random.js';
import { CODE_FILES, REPOS, SHOPS, VENDOR_DOMAINS, WORK_CHANNELS, WORK_CHAT_APPS, WORK_TOPICS } from './vocabulary.js';

type Kind = 'keystroke' | 'prompt' | 'clipboard' | 'window_focus';
type Ctx = [Kind, Record<string, unknown>, string];

const benign = (note: string, make: (rng: Rng) => Ctx): Generator => (rng) => {
  const [kind, payload, detail] = make(rng);
  return { kind, payload, expected: [], note: `${note}: ${detail}` };
};

const isoTime = (rng: Rng) =>
  `2026-${String(rng.int(1, 12)).padStart(2, '0')}-${String(rng.int(1, 28)).padStart(2, '0')}T${String(rng.int(0, 23)).padStart(2, '0')}:${String(rng.int(0, 59)).padStart(2, '0')}:${String(rng.int(0, 59)).padStart(2, '0')}.${rng.digits(3)}Z`;
const day = (rng: Rng) => `2026-${String(rng.int(1, 12)).padStart(2, '0')}-${String(rng.int(1, 28)).padStart(2, '0')}`;
const repo = (rng: Rng) => rng.pick(REPOS);
const sha1 = (rng: Rng) => rng.hex(40);
const workChat = (rng: Rng, text: string): Record<string, unknown> => ({ app: rng.pick(WORK_CHAT_APPS), channel: rng.pick(WORK_CHANNELS), text });

function isbn13(rng: Rng): string {
  const body = rng.pick(['978', '979']) + rng.digits(9);
  const sum = [...body].reduce((n, d, i) => n + Number(d) * (i % 2 === 0 ? 1 : 3), 0);
  const digits = body + String((10 - (sum % 10)) % 10);
  return `${digits.slice(0, 3)}-${digits.slice(3, 4)}-${digits.slice(4, 8)}-${digits.slice(8, 12)}-${digits.slice(12)}`;
}

const orders = benign('order number', (rng) => {
  const amazon = `${rng.int(111, 114)}-${rng.digits(7)}-${rng.digits(7)}`;
  return rng.pick<Ctx>([
    ['keystroke', { app: 'Google Chrome', url: 'https://www.amazon.com/gp/your-account/order-history', window_title: 'Your Orders', text: `Order #${amazon} — USB-C dock, delivered ${day(rng)}` }, 'marketplace order'],
    ['keystroke', workChat(rng, `the monitors for the new hires shipped, order ${amazon}`), 'order in work chat'],
    ['keystroke', { app: 'Shopify', window_title: 'Orders', text: `Order #${rng.int(1001, 9999)} fulfilled, 3 items, total $${rng.int(20, 900)}.${rng.digits(2)}` }, 'shop admin'],
    ['keystroke', { app: 'Coupa', text: `PO-2026-${rng.digits(5)} approved by procurement, cost center ${rng.int(1000, 9999)}` }, 'purchase order'],
    ['keystroke', { app: 'Zendesk', window_title: `Ticket #${rng.int(10000, 99999)}`, text: `Where is my order #${rng.pick(['A', 'B', 'C'])}${rng.int(10, 99)}-${rng.digits(5)}? It said 3-5 business days.` }, 'support ticket'],
  ]);
});

const invoices = benign('invoice', (rng) => {
  const inv = `INV-2026-${rng.digits(6)}`;
  const sub = rng.int(200, 20000);
  return rng.pick<Ctx>([
    ['keystroke', { app: 'Xero', window_title: inv, text: `${inv} due ${day(rng)}, total $${sub.toLocaleString('en-US')}.00, net 30` }, 'accounting app'],
    ['keystroke', { app: 'Microsoft Outlook', subject: `Invoice ${inv} from ${rng.pick(VENDOR_DOMAINS)}`, body: `Subtotal $${sub.toLocaleString('en-US')}.00\nSales tax (8.25%) $${Math.round(sub * 0.0825).toLocaleString('en-US')}.00\nPayment terms: net 30` }, 'vendor invoice with sales tax line'],
    ['keystroke', { app: 'NetSuite', text: `Vendor bill ${rng.int(100000, 999999)} matched to PO-2026-${rng.digits(5)}; variance 0.00` }, 'ERP'],
    ['keystroke', workChat(rng, `finance says ${inv} is still unpaid, can someone chase ${rng.pick(VENDOR_DOMAINS)}?`), 'work chat'],
  ]);
});

const tracking = benign('tracking number', (rng) => {
  const ups = `1Z${rng.upperAlnum(6)}${rng.digits(10)}`;
  const fedex = formatGroups([rng.digits(4), rng.digits(4), rng.digits(4)], rng.pick(['space', 'none'] as const));
  const usps = `9400 ${rng.digits(4)} ${rng.digits(4)} ${rng.digits(4)} ${rng.digits(4)} ${rng.digits(2)}`;
  const number = rng.pick([ups, ups, fedex, usps, `JD0146${rng.digits(12)}`]);
  return rng.pick<Ctx>([
    ['keystroke', { app: 'Google Chrome', url: 'https://www.ups.com/track', text: `Tracking number ${number}: out for delivery` }, 'carrier site'],
    ['keystroke', { app: 'Microsoft Outlook', subject: 'Your shipment is on its way', body: `Hello, the replacement laptop ships today. Tracking: ${number}` }, 'shipping mail'],
    ['keystroke', workChat(rng, `badge printer parts arrive thursday, tracking ${number}`), 'work chat'],
  ]);
});

const logs = benign('log line', (rng) => {
  const line = rng.pick([
    `${isoTime(rng)} INFO request_id=${rng.uuid()} route=/v1/orders status=200 latency_ms=${rng.int(3, 900)} bytes=${rng.int(100, 90000)}`,
    `${isoTime(rng)} WARN worker-${rng.int(1, 32)} retry ${rng.int(1, 5)}/5 after ${rng.int(100, 5000)}ms (job ${rng.int(100000, 999999)})`,
    `[pid ${rng.int(1000, 65000)}] processed ${rng.int(100, 90000)} events in ${rng.int(1, 90)}.${rng.digits(2)}s`,
    `ts=${rng.int(1760000000, 1790000000)}${rng.digits(3)} level=error msg="upstream timeout" upstream=10.0.${rng.int(0, 255)}.${rng.int(1, 254)}:${rng.int(1024, 65000)}`,
    `GET /api/v2/reports/${rng.int(1000, 99999)}?page=${rng.int(1, 40)}&per_page=100 304 ${rng.int(1, 99)}ms`,
    `${day(rng)} ${String(rng.int(0, 23)).padStart(2, '0')}:${String(rng.int(0, 59)).padStart(2, '0')}:${String(rng.int(0, 59)).padStart(2, '0')},${rng.digits(3)} ERROR [main] c.a.b.Scheduler - job ${rng.int(1, 9999)} missed its deadline by ${rng.int(1, 999)} ms`,
  ]);
  return rng.pick<Ctx>([
    ['clipboard', { app: 'Terminal', window_title: `kubectl logs ${repo(rng)}`, text: line }, 'terminal'],
    ['keystroke', { app: 'Google Chrome', url: 'https://acme.datadoghq.com/logs', text: line }, 'log search'],
    ['prompt', { app: 'ChatGPT', prompt: `What does this log line mean?\n${line}` }, 'assistant prompt'],
  ]);
});

const hashes = benign('uuid or hash', (rng) => {
  const text = rng.pick([
    `commit ${sha1(rng)}\nAuthor: ${person(rng).full} <${workEmail(rng, person(rng))}>\n\n    fix flaky retry test`,
    `docker pull ghcr.io/acme/${repo(rng)}@sha256:${rng.hex(64)}`,
    `sha256sum release.tar.gz\n${rng.hex(64)}  release.tar.gz`,
    `tenant ${rng.uuid()} has ${rng.int(2, 400)} seats`,
    `revert ${rng.hex(7)} and cherry-pick ${rng.hex(7)} onto release/2.${rng.int(1, 30)}`,
    `"integrity": "sha512-${rng.base64(86)}=="`,
    `ETag: "${rng.hex(32)}"`,
  ]);
  return rng.pick<Ctx>([
    ['clipboard', { app: 'Terminal', text }, 'terminal'],
    ['keystroke', workChat(rng, text), 'work chat'],
    ['keystroke', { app: 'Visual Studio Code', window_title: `${rng.pick(CODE_FILES)} — ${repo(rng)}`, text }, 'editor'],
  ]);
});

const versions = benign('version string', (rng) => {
  const v = `${rng.int(1, 9)}.${rng.int(0, 40)}.${rng.int(0, 30)}`;
  return rng.pick<Ctx>([
    ['keystroke', { app: 'Google Chrome', url: `https://github.com/acme/${repo(rng)}/pull/${rng.int(100, 9999)}`, text: `Bump lodash from 4.17.${rng.int(10, 20)} to 4.17.21 and typescript to ${v}` }, 'dependency bump'],
    ['keystroke', workChat(rng, `release v${v} (build ${day(rng).replace(/-/g, '')}.${rng.int(1, 9)}) is on staging`), 'release chat'],
    ['keystroke', { app: 'Jira', text: `Repro on Chrome ${rng.int(120, 133)}.0.${rng.int(6000, 6999)}.${rng.int(10, 200)} / macOS 15.${rng.int(0, 6)}.${rng.int(0, 3)}` }, 'bug report'],
    ['clipboard', { app: 'Terminal', text: `$ node -v\nv20.${rng.int(10, 19)}.${rng.int(0, 5)}\n$ uname -r\n6.8.0-${rng.int(30, 60)}-generic` }, 'terminal'],
  ]);
});

const isbns = benign('ISBN', (rng) =>
  rng.pick<Ctx>([
    ['keystroke', workChat(rng, `for the reading group: ISBN ${isbn13(rng)}, chapters 3-5`), 'reading group'],
    ['keystroke', { app: 'Google Chrome', url: `https://www.${rng.pick(SHOPS)}.com/cart`, text: `Designing Data-Intensive Applications, ISBN ${isbn13(rng)}, qty 4 for the team` }, 'team book order'],
    ['keystroke', { app: 'Zotero', text: `Kleppmann, M. (2017). O'Reilly. ISBN ${isbn13(rng).replace(/-/g, '')}` }, 'citation'],
  ]),
);

const extensions = benign('phone extension', (rng) => {
  const ext = rng.int(1000, 9999);
  return rng.pick<Ctx>([
    ['keystroke', workChat(rng, `front desk moved, it's ext. ${ext} now`), 'ext.'],
    ['keystroke', { app: 'Microsoft Outlook', subject: 'IT help', body: `For password resets dial extension ${ext} or open a ticket.` }, 'extension'],
    ['keystroke', { app: 'Confluence', window_title: 'Office info', text: `Room 4B conference phone: x${ext}` }, 'x1234'],
  ]);
});

const CODE = [
  (rng: Rng) => `const RETRY_DELAYS_MS = [100, 250, 500, 1000, ${rng.int(2000, 9000)}];\nexport const MAX_BATCH = ${rng.int(100, 10000)};`,
  (rng: Rng) => `SELECT id, total FROM orders WHERE created_at > '${day(rng)}' AND id > ${rng.int(10000, 999999)} ORDER BY id LIMIT 500 OFFSET ${rng.int(0, 50) * 500};`,
  (rng: Rng) => `server:\n  port: ${rng.pick([8080, 3000, 5432, 6379, 9092])}\n  workers: ${rng.int(2, 64)}\n  timeout_seconds: ${rng.int(5, 300)}`,
  (rng: Rng) => `if (bytes.length > 0x${rng.hex(6)}) throw new RangeError('frame too large');`,
  (rng: Rng) => `def checksum(data: bytes) -> int:\n    return zlib.crc32(data) & 0xffffffff  # ${rng.int(1, 999)} calls/s in prod`,
  (rng: Rng) => `for i := 0; i < ${rng.int(10, 100000)}; i++ {\n\tbuf[i%${rng.int(8, 512)}] ^= byte(i * ${rng.int(3, 97)})\n}`,
  (rng: Rng) => `assert.deepEqual(split(${rng.int(100, 99999)}, ${rng.int(2, 9)}), [${rng.int(1, 999)}, ${rng.int(1, 999)}]);`,
  (rng: Rng) => `EXPOSE ${rng.int(1024, 9999)}\nENV NODE_OPTIONS=--max-old-space-size=${rng.pick([2048, 4096, 8192])}`,
  (rng: Rng) => `const epoch = ${rng.int(1700000000, 1790000000)}; // seconds\nconst ttl = ${rng.int(60, 86400)} * 1000;`,
  (rng: Rng) => `color: #${rng.hex(6)}; margin: ${rng.int(0, 32)}px ${rng.int(0, 32)}px; z-index: ${rng.int(1, 9999)};`,
];

const code = benign('code with numbers', (rng) => {
  const text = rng.pick(CODE)(rng);
  return rng.pick<Ctx>([
    ['keystroke', { app: rng.pick(['Visual Studio Code', 'IntelliJ IDEA', 'Vim', 'Cursor']), window_title: `${rng.pick(CODE_FILES)} — ${repo(rng)}`, text }, 'editor'],
    ['prompt', { app: rng.pick(['ChatGPT', 'Claude', 'GitHub Copilot Chat']), prompt: `Refactor this:\n${text}` }, 'assistant prompt'],
    ['clipboard', { app: 'Google Chrome', url: `https://github.com/acme/${repo(rng)}/blob/main/${rng.pick(CODE_FILES)}`, text }, 'code review'],
  ]);
});

const luhnInvalid = benign('Luhn-invalid card-length number', (rng) => {
  const c = luhnInvalidCard(rng);
  const v = formatGroups(c.groups, rng.pick(['space', 'dash', 'none'] as const));
  return rng.pick<Ctx>([
    ['keystroke', { app: 'Stripe Dashboard', text: `Payment failed: card number ${v} is invalid (checksum)` }, 'rejected as invalid'],
    ['keystroke', workChat(rng, `reconciliation ref ${v} doesn't match the bank export`), 'reference in work chat'],
    ['clipboard', { app: 'Terminal', text: `transaction_id=${c.digits} status=settled amount=${rng.int(1, 999)}.${rng.digits(2)}` }, 'transaction id'],
    ['keystroke', { app: 'Jira', text: `QA: the form accepts ${v} although the Luhn check should reject it` }, 'bug report'],
  ]);
});

const badIban = benign('invalid IBAN', (rng) => {
  const v = formatIban(invalidIban(rng), rng.pick(['paper', 'none'] as const));
  return rng.pick<Ctx>([
    ['keystroke', { app: 'Visual Studio Code', window_title: 'iban.test.ts — billing-service', text: `expect(isValidIban('${v.replace(/ /g, '')}')).toBe(false);` }, 'test fixture'],
    ['clipboard', { app: 'Terminal', text: `ValidationError: IBAN ${v} failed the mod-97 check` }, 'validation error'],
    ['keystroke', { app: 'Jira', text: `Customer typed ${v} and we accepted it; the checksum is wrong` }, 'bug report'],
  ]);
});

const badSsn = benign('SSN-shaped invalid number', (rng) => {
  const v = formatGroups(invalidSsn(rng), rng.pick(['dash', 'dash', 'space', 'dot'] as const));
  return rng.pick<Ctx>([
    ['keystroke', { app: 'Visual Studio Code', window_title: 'fixtures.ts — hr-portal', text: `export const FAKE_SSN = '${v}'; // never issued` }, 'test fixture'],
    ['keystroke', { app: 'Jira', text: `Validation should reject ${v} (area/group/serial rules)` }, 'validation bug'],
    ['keystroke', { app: 'SAP', text: `part no. ${v} reordered, qty ${rng.int(1, 200)}` }, 'part number'],
  ]);
});

const taxWords = benign('"tax" in work text', (rng) =>
  rng.pick<Ctx>([
    ['keystroke', workChat(rng, `careful, that regex will tax the CPU on large payloads`), 'tax the CPU'],
    ['clipboard', { app: 'Terminal', text: `SyntaxError: Unexpected token '}' in ${rng.pick(CODE_FILES)}:${rng.int(1, 400)}` }, 'syntax'],
    ['keystroke', { app: 'Confluence', text: `Event taxonomy v${rng.int(1, 9)}: page_view, click, purchase, refund` }, 'taxonomy'],
    ['keystroke', workChat(rng, `we're still in stealth mode, no blog post until ${day(rng)}`), 'stealth'],
    ['keystroke', workChat(rng, `the context-switching tax of three standups a day is real`), 'metaphor'],
    ['keystroke', { app: 'Figma', window_title: 'Pricing page', text: `Prices shown excl. VAT. Enterprise: $${rng.int(20, 90)}/seat/month` }, 'VAT on pricing page'],
    ['keystroke', { app: 'Microsoft Outlook', subject: 'Taxi to the offsite', body: `Taxis leave the office at ${rng.int(7, 9)}:30, meet in the lobby.` }, 'taxi'],
  ]),
);

const healthWords = benign('"health" in work text', (rng) =>
  rng.pick<Ctx>([
    ['keystroke', { app: 'Visual Studio Code', window_title: `server.ts — ${repo(rng)}`, text: `app.get('/healthz', (_req, res) => res.status(200).send('ok'));` }, 'health check endpoint'],
    ['keystroke', workChat(rng, `cluster health is green again, ${rng.int(2, 9)}/${rng.int(9, 12)} nodes back`), 'cluster health'],
    ['keystroke', { app: 'Salesforce', text: `Account health score dropped to ${rng.int(20, 60)}, renewal at risk` }, 'customer health'],
    ['clipboard', { app: 'Terminal', text: `aws elbv2 describe-target-health --target-group-arn arn:aws:elasticloadbalancing:eu-west-1:target/${repo(rng)}\n"State": "unhealthy"` }, 'unhealthy targets'],
    ['keystroke', { app: 'Google Docs', window_title: 'Postmortem', text: 'Diagnosis: the memory leak came from an unbounded cache; symptoms were p99 spikes every 40 minutes.' }, 'postmortem diagnosis'],
    ['keystroke', workChat(rng, 'be patient with the backfill, it takes about an hour'), 'patient'],
    ['clipboard', { app: 'Terminal', text: '$ brew doctor\nYour system is ready to brew.' }, 'brew doctor'],
    ['keystroke', { app: 'Figma', window_title: 'Design system', text: 'Status pill: green = healthy, amber = degraded, red = down' }, 'status pill'],
    ['keystroke', workChat(rng, 'triage the P1 bugs first, the rest can wait for the next sprint'), 'triage'],
  ]),
);

const workEmails = benign('work email', (rng) => {
  const p = person(rng);
  const e = workEmail(rng, p);
  return rng.pick<Ctx>([
    ['keystroke', { app: 'Microsoft Outlook', subject: `Re: ${rng.pick(WORK_TOPICS)}`, body: `Adding ${e} to the thread, ${p.first} owns the rollout.` }, 'mail cc'],
    ['keystroke', workChat(rng, `send the contract to ${e} and billing@${rng.pick(VENDOR_DOMAINS)}`), 'work chat'],
    ['keystroke', { app: 'Google Chrome', url: 'https://admin.google.com/ac/users', form: { primary_email: e, org_unit: '/Engineering' } }, 'admin console'],
    ['clipboard', { app: 'Terminal', text: `git config user.email "${e}"` }, 'git config'],
  ]);
});

const WORK_LINES = [
  (rng: Rng) => `PR #${rng.int(100, 9999)} merged, deploying at ${rng.int(9, 17)}:${rng.pick(['00', '30'])}`,
  (rng: Rng) => `standup moved to 10:15 tomorrow, room ${rng.int(1, 6)}${rng.pick(['A', 'B', 'C'])}`,
  (rng: Rng) => `p99 went from ${rng.int(100, 200)}ms to ${rng.int(300, 900)}ms after ${rng.hex(7)}`,
  (rng: Rng) => `can someone review ${rng.pick(WORK_TOPICS)} before friday?`,
  (rng: Rng) => `incident ${rng.int(100, 999)} resolved, writing the postmortem now`,
  (rng: Rng) => `sprint ${rng.int(10, 90)} ends ${day(rng)}, ${rng.int(3, 20)} story points left`,
  (rng: Rng) => `customer ${rng.pick(['Globex', 'Initech', 'Umbrella', 'Hooli'])} wants ${rng.int(2, 500)} more seats`,
  (rng: Rng) => `lunch and learn on ${rng.pick(['Kafka', 'Rust', 'feature flags', 'SLOs'])} thursday at 12`,
  (rng: Rng) => `the ${repo(rng)} build is red again, looks like a flaky test`,
  (rng: Rng) => `approved, ship it 🚀`,
];

const workChatMessages = benign('work chat', (rng) => {
  const text = rng.pick(WORK_LINES)(rng);
  const app = rng.pick(WORK_CHAT_APPS);
  return rng.pick<Ctx>([
    ['keystroke', { app, channel: rng.pick(WORK_CHANNELS), text }, `${app} channel`],
    ['keystroke', { app, window_title: `${person(rng).full} (direct message)`, text }, `${app} direct message`],
    ['keystroke', { app: 'Google Chrome', url: `https://app.slack.com/client/T0${rng.upperAlnum(8)}/C0${rng.upperAlnum(8)}`, text }, 'Slack in the browser'],
    ['keystroke', { app: 'Google Chrome', url: 'https://teams.microsoft.com/_#/conversations/', text }, 'Teams in the browser'],
  ]);
});

const messengerWordsAtWork = benign('messenger names in work text', (rng) =>
  rng.pick<Ctx>([
    ['keystroke', { app: 'Visual Studio Code', window_title: `main.go — ${repo(rng)}`, text: 'signal.Notify(stop, syscall.SIGTERM, syscall.SIGINT) // drain before exit' }, 'Signal in code'],
    ['keystroke', { app: 'Google Chrome', url: 'https://developers.facebook.com/docs/whatsapp/cloud-api/webhooks', text: 'WhatsApp Cloud API webhooks: verify the X-Hub-Signature-256 header' }, 'WhatsApp API docs'],
    ['keystroke', { app: 'Confluence', text: 'Spec: Telegram bot for deploy notifications, posts to the #releases mirror' }, 'Telegram bot spec'],
    ['keystroke', { app: 'Figma', window_title: 'Chat UI', text: 'Use iMessage-style bubbles for the support widget, max width 320px' }, 'iMessage in design'],
    ['keystroke', workChat(rng, 'low signal-to-noise in #alerts, muting the disk warnings'), 'signal-to-noise'],
    ['keystroke', { app: 'Jira', text: `Messenger queue consumer lag ${rng.int(100, 90000)} messages on partition ${rng.int(0, 31)}` }, 'messenger queue'],
  ]),
);

const credentialLookalikes = benign('credential look-alike', (rng) =>
  rng.pick<Ctx>([
    ['keystroke', { app: 'Visual Studio Code', window_title: 'db.ts', text: 'const pool = new Pool({ connectionString: process.env.DATABASE_URL, password: process.env.DB_PASSWORD });' }, 'password from env'],
    ['keystroke', { app: 'Visual Studio Code', window_title: 'ci.yml', text: 'env:\n  DB_PASSWORD: ${{ secrets.DB_PASSWORD }}\n  GITHUB_TOKEN: ${{ secrets.GITHUB_TOKEN }}' }, 'CI secret references'],
    ['keystroke', { app: 'Google Chrome', url: 'https://docs.aws.amazon.com/IAM/latest/UserGuide/security-creds.html', text: 'Example: aws_access_key_id = AKIAIOSFODNN7EXAMPLE' }, 'AWS docs example key'],
    ['keystroke', { app: 'Figma', window_title: 'Login', text: 'Forgot your password? We will email you a reset link.' }, 'UI copy'],
    ['keystroke', { app: 'Visual Studio Code', window_title: 'auth.ts', text: `if (password.length < ${rng.int(8, 16)}) return { error: 'password too short' };` }, 'password validation code'],
    ['keystroke', { app: 'Visual Studio Code', window_title: 'auth.ts', text: "const token = req.headers.authorization?.split(' ')[1];\nconst claims = await jwtVerify(token, publicKey);" }, 'token handling code'],
    ['clipboard', { app: 'Terminal', text: `psql postgres://localhost:5432/${rng.pick(['dev', 'app_test', 'scratch'])}` }, 'local connection without password'],
    ['keystroke', { app: 'Visual Studio Code', window_title: '.env.example', text: 'DATABASE_URL=postgres://app:${DB_PASSWORD}@db:5432/app\nSTRIPE_SECRET_KEY=\nSLACK_BOT_TOKEN=' }, 'env template'],
    ['keystroke', workChat(rng, 'token expired again, had to sign in twice this morning'), 'token in chat'],
    ['keystroke', { app: 'Confluence', text: 'Rotate the deploy key every 90 days; the private key lives in Vault under secret/deploy.' }, 'key policy text'],
  ]),
);

const prompts = benign('assistant prompt', (rng) => {
  const prompt = rng.pick([
    `Explain the difference between TCP and UDP in two paragraphs.`,
    `Rewrite this to sound friendlier: "${rng.pick(WORK_TOPICS)} is late again."`,
    `Write a SQL query that returns the top ${rng.int(3, 20)} customers by revenue in ${rng.int(2023, 2026)}.`,
    `Summarise ${rng.pick(WORK_TOPICS)} for an exec audience in 5 bullets.`,
    `What is a good p99 latency target for an API with ${rng.int(10, 900)} rps?`,
    `Generate ${rng.int(5, 50)} test cases for a date parser that accepts ISO 8601.`,
    `Translate "${rng.pick(['the build is green', 'see you at standup', 'ship it'])}" into German.`,
  ]);
  return ['prompt', { app: rng.pick(['ChatGPT', 'Claude', 'Gemini', 'GitHub Copilot Chat']), prompt }, 'general work question'];
});

const workMail = benign('work mail', (rng) => {
  const p = person(rng);
  return [
    'keystroke',
    {
      app: rng.pick(['Microsoft Outlook', 'Apple Mail', 'Superhuman']),
      subject: `${rng.pick(['Agenda', 'Notes', 'Follow-up', 'Moved'])}: ${rng.pick(WORK_TOPICS)}`,
      body: `Hi ${p.first}, moving our sync to ${day(rng)} at ${rng.int(9, 17)}:00 in room ${rng.int(100, 999)}. Budget line ${rng.int(4000, 4999)} covers it. Thanks`,
    },
    'meeting mail',
  ];
});

const spreadsheets = benign('spreadsheet numbers', (rng) => [
  'keystroke',
  {
    app: rng.pick(['Microsoft Excel', 'Google Sheets', 'Numbers']),
    window_title: `${rng.pick(['q3_forecast', 'headcount_plan', 'cloud_costs', 'pipeline'])}.xlsx`,
    text: `Q${rng.int(1, 4)}\t${rng.int(100000, 9999999).toLocaleString('en-US')}\t${rng.int(1, 40)}.${rng.digits(1)}%\t${rng.int(10, 900)}`,
  },
  'forecast row',
]);

const network = benign('IP addresses and ports', (rng) => [
  'clipboard',
  { app: 'Terminal', text: `ssh -p ${rng.int(2000, 2999)} deploy@10.${rng.int(0, 255)}.${rng.int(0, 255)}.${rng.int(1, 254)} && curl http://192.168.${rng.int(0, 255)}.${rng.int(1, 254)}:${rng.int(1024, 65000)}/metrics` },
  'ssh and curl',
]);

const calendar = benign('dates and times', (rng) => [
  'keystroke',
  { app: rng.pick(['Calendar', 'Google Calendar', 'Microsoft Outlook']), window_title: 'New event', text: `Sprint ${rng.int(10, 90)} planning ${day(rng)} ${rng.int(9, 16)}:00-${rng.int(10, 17)}:30, room ${rng.int(1, 9)}${rng.pick(['A', 'B'])}` },
  'calendar event',
]);

const skus = benign('SKU, serial and model numbers', (rng) =>
  rng.pick<Ctx>([
    ['keystroke', { app: 'Snipe-IT', text: `Asset ${rng.int(10000, 99999)}: MacBook Pro, S/N C02${rng.upperAlnum(9)}, model A${rng.int(2000, 3000)}` }, 'asset tag'],
    ['keystroke', { app: 'SAP', text: `SKU ${rng.int(1000, 9999)}-${rng.int(100, 999)}-${rng.int(10, 99)} restocked, bin ${rng.pick(['A', 'B', 'C'])}${rng.int(1, 40)}` }, 'SKU'],
    ['keystroke', { app: 'Jira', text: `Case ${rng.int(10, 99)}-${rng.digits(7)} escalated to tier 2` }, '2-7 case number'],
  ]),
);

const nineDigits = benign('bare 9-digit numbers', (rng) =>
  rng.pick<Ctx>([
    ['keystroke', workChat(rng, `build ${rng.int(100000000, 999999999)} passed, promoting`), 'build number'],
    ['keystroke', { app: 'Jira', text: `Export job ${rng.int(100000000, 999999999)} wrote ${rng.int(1000, 99999)} rows` }, 'job id'],
    ['keystroke', { app: 'Zoom', text: `Meeting ID: ${rng.int(100, 999)} ${rng.int(1000, 9999)} ${rng.int(1000, 9999)}` }, 'meeting id'],
  ]),
);

const windowFocus = benign('window focus', (rng) => [
  'window_focus',
  rng.pick([
    { app: 'Visual Studio Code', window_title: `${rng.pick(CODE_FILES)} — ${repo(rng)}` },
    { app: 'Google Chrome', window_title: `${repo(rng)} · Pull Request #${rng.int(100, 9999)} · GitHub`, url: `https://github.com/acme/${repo(rng)}/pull/${rng.int(100, 9999)}` },
    { app: rng.pick(WORK_CHAT_APPS), window_title: rng.pick(WORK_CHANNELS) },
    { app: 'Figma', window_title: `Onboarding flow v${rng.int(1, 9)}` },
    { app: 'Google Chrome', window_title: `API-${rng.int(100, 9999)} · Jira`, url: `https://acme.atlassian.net/browse/API-${rng.int(100, 9999)}` },
  ]),
  'app and window only',
]);

const fullWidthWork = benign('full-width digits in work text', (rng) => {
  const fw = (s: string) => formatGroups([s], 'full_width');
  return ['keystroke', workChat(rng, `会議は${fw(String(rng.int(10, 17)))}：００から、資料は第${fw(String(rng.int(1, 9)))}版です`), 'Japanese work chat'];
});

const separatedNumbers = benign('short numbers in every separator style', (rng) => {
  const style = rng.pick(SEPARATOR_STYLES);
  const v = formatGroups([rng.digits(2), rng.digits(3)], style);
  return ['keystroke', workChat(rng, `ticket ${v} is a duplicate`), `two groups (${style})`];
});

export const BENIGN: ReadonlyArray<readonly [number, Generator]> = [
  [45, orders],
  [35, invoices],
  [35, tracking],
  [50, logs],
  [45, hashes],
  [35, versions],
  [20, isbns],
  [25, extensions],
  [60, code],
  [40, luhnInvalid],
  [25, badIban],
  [30, badSsn],
  [45, taxWords],
  [50, healthWords],
  [40, workEmails],
  [90, workChatMessages],
  [30, messengerWordsAtWork],
  [50, credentialLookalikes],
  [50, prompts],
  [40, workMail],
  [25, spreadsheets],
  [15, network],
  [20, calendar],
  [25, skus],
  [20, nineDigits],
  [40, windowFocus],
  [10, fullWidthWork],
  [15, separatedNumbers],
];
