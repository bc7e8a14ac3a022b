/*
 * Synthetic credentials in the real formats (random bodies, never real secrets): cloud keys, VCS
 * and chat-bot tokens, API keys, private key blocks, JWTs, connection strings, password assignments.
 */
import type { Generator } from './item.js';
import { person } from './people.js';
import type { Rng } from './random.js';
import { CODE_FILES, REPOS } from './vocabulary.js';

const b64url = (s: string) => Buffer.from(s).toString('base64url');

export function awsAccessKeyId(rng: Rng): string {
  return rng.pick(['AKIA', 'AKIA', 'AKIA', 'ASIA', 'AROA']) + rng.fromAlphabet('ABCDEFGHIJKLMNOPQRSTUVWXYZ234567', 16);
}
export const awsSecret = (rng: Rng) => rng.base64(40);
export const githubToken = (rng: Rng) =>
  rng.chance(0.8) ? `${rng.pick(['ghp', 'ghp', 'gho', 'ghs', 'ghu'])}_${rng.alnum(36)}` : `github_pat_${rng.alnum(22)}_${rng.alnum(59)}`;
export const gitlabToken = (rng: Rng) => `glpat-${rng.fromAlphabet('ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789_-', 20)}`;
export const slackBotToken = (rng: Rng) => `${rng.pick(['xoxb', 'xoxb', 'xoxp'])}-${rng.digits(11)}-${rng.digits(13)}-${rng.alnum(24)}`;
export const slackWebhook = (rng: Rng) => `https://hooks.slack.com/services/T${rng.upperAlnum(8)}/B${rng.upperAlnum(10)}/${rng.alnum(24)}`;
export const googleApiKey = (rng: Rng) => `AIza${rng.fromAlphabet('ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789_-', 35)}`;
export const stripeKey = (rng: Rng) => rng.pick([`sk_live_${rng.alnum(24)}`, `sk_live_51${rng.alnum(97)}`, `rk_live_51${rng.alnum(97)}`, `whsec_${rng.alnum(32)}`]);
export const npmToken = (rng: Rng) => `npm_${rng.alnum(36)}`;
export const openAiKey = (rng: Rng) => `sk-proj-${rng.base64url(58)}T3BlbkFJ${rng.base64url(58)}`;
export const anthropicKey = (rng: Rng) => `sk-ant-api03-${rng.base64url(93)}AA`;
export const sendgridKey = (rng: Rng) => `SG.${rng.base64url(22)}.${rng.base64url(43)}`;

export function jwt(rng: Rng): string {
  const header = b64url(JSON.stringify({ alg: rng.pick(['HS256', 'RS256', 'ES256']), typ: 'JWT' }));
  const p = person(rng);
  const claims = b64url(JSON.stringify({ sub: String(rng.int(100000, 999999)), name: p.full, iat: 1767225600 + rng.int(0, 9_000_000), exp: 1767312000 + rng.int(0, 9_000_000) }));
  return `${header}.${claims}.${rng.base64url(43)}`;
}

export function password(rng: Rng): string {
  return rng.pick([
    () => `${rng.alnum(10)}${rng.pick(['!', '#', '%', '&', '*', '@'])}${rng.digits(2)}`,
    () => `${rng.pick(['Summer', 'Falcon', 'Tiger', 'Orchid', 'Copper'])}${rng.int(1990, 2026)}${rng.pick(['!', '$', '#'])}`,
    () => rng.fromAlphabet('ABCDEFGHJKLMNPQRSTUVWXYZabcdefghijkmnopqrstuvwxyz23456789-_', 20),
    () => `${rng.pick(['correct', 'purple', 'river', 'stapler'])}-${rng.pick(['horse', 'monkey', 'stone', 'battery'])}-${rng.pick(['staple', 'cloud', 'lamp'])}-${rng.int(10, 99)}`,
  ])();
}

const PEM_KINDS = [
  ['RSA PRIVATE KEY', 'MIIEowIBAAKCAQEA', 1600],
  ['PRIVATE KEY', 'MIIEvQIBADANBgkqhkiG9w0BAQEFAASCBKcwggSjAgEAAoIBAQ', 1620],
  ['EC PRIVATE KEY', 'MHcCAQEEI', 220],
  ['PRIVATE KEY', 'MIGHAgEAMBMGByqGSM49AgEGCCqGSM49AwEHBG0wawIBAQQg', 180],
  ['OPENSSH PRIVATE KEY', 'b3BlbnNzaC1rZXktdjEAAAAABG5vbmUAAAAEbm9uZQAAAAAAAAABAAAAMwAAAAtzc2gtZW', 380],
  ['DSA PRIVATE KEY', 'MIIBuwIBAAKBgQ', 640],
] as const;

export function privateKeyBlock(rng: Rng, newline = '\n'): string {
  const [label, magic, length] = rng.pick(PEM_KINDS);
  const body = (magic + rng.base64(length - magic.length)).match(/.{1,64}/g)!.join(newline);
  return `-----BEGIN ${label}-----${newline}${body}${newline}-----END ${label}-----`;
}

const HOSTS = ['db.internal', 'prod-db-1.c9xk2.eu-west-1.rds.amazonaws.com', 'localhost', 'postgres', 'pg-replica.acme.io'];

function connectionString(rng: Rng): string {
  const user = rng.pick(['app', 'admin', 'svc_billing', 'readonly', 'etl']);
  const pw = password(rng).replace(/[@/:#%]/g, 'x');
  const host = rng.pick(HOSTS);
  return rng.pick([
    `postgres://${user}:${pw}@${host}:5432/${rng.pick(['app', 'billing', 'analytics'])}`,
    `postgresql://${user}:${pw}@${host}/app?sslmode=require`,
    `mongodb+srv://${user}:${pw}@cluster0.${rng.alnum(5).toLowerCase()}.mongodb.net/app?retryWrites=true`,
    `mysql://${user}:${pw}@${host}:3306/shop`,
    `redis://default:${pw}@redis-${rng.int(10000, 19999)}.c1.us-east-1-2.ec2.cloud.redislabs.com:${rng.int(10000, 19999)}`,
    `amqp://${user}:${pw}@rabbitmq.internal:5672/jobs`,
    `Server=tcp:${rng.pick(['acme-sql', 'billing-db'])}.database.windows.net,1433;Initial Catalog=app;User ID=${user};Password=${pw};Encrypt=True;`,
    `jdbc:postgresql://${host}:5432/app?user=${user}&password=${pw}`,
    `DefaultEndpointsProtocol=https;AccountName=acme${rng.alnum(6).toLowerCase()};AccountKey=${rng.base64(86)}==;EndpointSuffix=core.windows.net`,
    `https://${user}:${pw.replace(/[^A-Za-z0-9_-]/g, '')}@git.acme.io/platform/${rng.pick(REPOS)}.git`,
  ]);
}

const tokenContexts = (rng: Rng, token: string, envName: string): [Kind, Record<string, unknown>, string] =>
  rng.pick<[Kind, Record<string, unknown>, string]>([
    ['keystroke', { app: 'Visual Studio Code', window_title: `.env — ${rng.pick(REPOS)}`, text: `${envName}=${token}` }, '.env line'],
    ['clipboard', { app: 'iTerm2', window_title: 'zsh', text: `export ${envName}="${token}"` }, 'shell export'],
    ['keystroke', { app: 'Slack', channel: '#dev-help', text: `try with this one: ${token}` }, 'pasted in work chat'],
    ['prompt', { app: 'ChatGPT', prompt: `Why does this return 401? curl -H "Authorization: Bearer ${token}" https://api.internal/v1/me` }, 'assistant prompt with a curl'],
    ['keystroke', { app: 'Visual Studio Code', window_title: `${rng.pick(CODE_FILES)} — ${rng.pick(REPOS)}`, text: `const client = new Client({ token: '${token}' });` }, 'hard-coded in code'],
    ['keystroke', { app: 'GitHub Desktop', window_title: 'config.yml', text: `  ${envName.toLowerCase()}: ${token}` }, 'YAML config'],
  ]);
type Kind = 'keystroke' | 'prompt' | 'clipboard';

const tokenGenerator =
  (what: string, make: (rng: Rng) => string, envName: string): Generator =>
  (rng) => {
    const [kind, payload, note] = tokenContexts(rng, make(rng), envName);
    return { kind, payload, expected: ['credential'], note: `${what}: ${note}` };
  };

const webhook: Generator = (rng) => {
  const url = slackWebhook(rng);
  const [kind, payload, note] = rng.pick<[Kind, Record<string, unknown>, string]>([
    ['keystroke', { app: 'Visual Studio Code', window_title: `.env — ${rng.pick(REPOS)}`, text: `SLACK_WEBHOOK_URL=${url}` }, '.env line'],
    ['clipboard', { app: 'Terminal', text: `curl -X POST -H 'Content-type: application/json' --data '{"text":"deploy finished"}' ${url}` }, 'curl'],
    ['keystroke', { app: 'Google Chrome', url: 'https://github.com/acme/infra/settings/secrets/actions/new', text: url }, 'pasted into a CI secret form'],
  ]);
  return { kind, payload, expected: ['credential'], note: `Slack webhook: ${note}` };
};

const awsPair: Generator = (rng) => {
  const id = awsAccessKeyId(rng);
  const secret = awsSecret(rng);
  const [kind, payload, note] = rng.pick<[Kind, Record<string, unknown>, string]>([
    ['keystroke', { app: 'Vim', window_title: '~/.aws/credentials', text: `[default]\naws_access_key_id = ${id}\naws_secret_access_key = ${secret}\nregion = eu-west-1` }, 'credentials file'],
    ['clipboard', { app: 'Terminal', text: `AWS_ACCESS_KEY_ID=${id} AWS_SECRET_ACCESS_KEY=${secret} aws s3 ls s3://acme-exports` }, 'inline env'],
    ['keystroke', { app: 'Visual Studio Code', window_title: 'settings.py — ingest-worker', text: `AWS_SECRET_ACCESS_KEY = "${secret}"` }, 'secret alone in code'],
    ['keystroke', { app: 'Slack', channel: '#infra', text: `use key ${id} for the backfill, I'll rotate it tomorrow` }, 'access key id alone in chat'],
  ]);
  return { kind, payload, expected: ['credential'], note: `AWS keys: ${note}` };
};

const pem: Generator = (rng) => {
  const escaped = rng.chance(0.25);
  const block = privateKeyBlock(rng, escaped ? '\\n' : '\n');
  const [kind, payload, note] = rng.pick<[Kind, Record<string, unknown>, string]>([
    ['clipboard', { app: 'Terminal', window_title: 'cat ~/.ssh/id_deploy', text: block }, 'key file contents'],
    ['keystroke', { app: 'Visual Studio Code', window_title: '.env — api-gateway', text: `SIGNING_KEY="${block}"` }, 'key in .env'],
    ['keystroke', { app: 'Google Chrome', url: 'https://console.cloud.google.com/iam-admin/serviceaccounts', text: JSON.stringify({ type: 'service_account', project_id: 'acme-data', private_key_id: rng.hex(40), private_key: block }) }, 'service account JSON'],
    ['prompt', { app: 'ChatGPT', prompt: `Why does openssl say "bad decrypt" for this key?\n${block}` }, 'assistant prompt'],
  ]);
  return { kind, payload, expected: ['credential'], note: `private key block${escaped ? ' (escaped newlines)' : ''}: ${note}` };
};

const jwtGenerator: Generator = (rng) => {
  const token = jwt(rng);
  const [kind, payload, note] = rng.pick<[Kind, Record<string, unknown>, string]>([
    ['clipboard', { app: 'Postman', text: `Authorization: Bearer ${token}` }, 'Authorization header'],
    ['keystroke', { app: 'Google Chrome', url: 'https://jwt.io/', text: token }, 'pasted into a JWT debugger'],
    ['keystroke', { app: 'Slack', channel: '#backend', text: `session cookie is session=${token}; can someone check why it's rejected` }, 'cookie in work chat'],
  ]);
  return { kind, payload, expected: ['credential'], note: `JWT: ${note}` };
};

const connection: Generator = (rng) => {
  const url = connectionString(rng);
  const [kind, payload, note] = rng.pick<[Kind, Record<string, unknown>, string]>([
    ['keystroke', { app: 'Visual Studio Code', window_title: `.env — ${rng.pick(REPOS)}`, text: `DATABASE_URL=${url}` }, '.env'],
    ['clipboard', { app: 'DBeaver', window_title: 'New connection', text: url }, 'database client'],
    ['keystroke', { app: 'Microsoft Teams', text: `prod connection string is ${url} (don't share)` }, 'work chat'],
    ['keystroke', { app: 'IntelliJ IDEA', window_title: 'application.yml', text: `spring:\n  datasource:\n    url: ${url}` }, 'YAML'],
  ]);
  return { kind, payload, expected: ['credential'], note: `connection string with password: ${note}` };
};

const passwordAssignment: Generator = (rng) => {
  const pw = password(rng);
  const p = person(rng);
  const [kind, payload, note] = rng.pick<[Kind, Record<string, unknown>, string]>([
    ['keystroke', { app: 'Google Chrome', url: `https://${rng.pick(['login.salesforce.com', 'id.atlassian.com', 'vpn.acme.io'])}/login`, form: { username: p.first.toLowerCase(), password: pw } }, 'login form, JSON key password'],
    ['keystroke', { app: 'Visual Studio Code', window_title: `docker-compose.yml — ${rng.pick(REPOS)}`, text: `    environment:\n      POSTGRES_PASSWORD: ${pw}` }, 'compose env'],
    ['clipboard', { app: 'Terminal', text: `PGPASSWORD='${pw}' psql -h db.internal -U admin billing` }, 'PGPASSWORD='],
    ['keystroke', { app: 'Notes', text: `wifi guest network password: ${pw}` }, 'note "password:"'],
    ['keystroke', { app: 'Slack', channel: '#it-help', text: `the new admin pwd is ${pw}` }, 'chat "pwd is"'],
    ['keystroke', { app: 'IntelliJ IDEA', window_title: 'application.properties', text: `spring.datasource.username=app\nspring.datasource.password=${pw}` }, 'properties file'],
    ['clipboard', { app: 'Terminal', text: `mysql -u root --password=${pw} shop` }, '--password= flag'],
    ['keystroke', { app: 'Visual Studio Code', window_title: 'settings.py', text: `DATABASES = {"default": {"USER": "app", "PASSWORD": "${pw}"}}` }, 'Python settings'],
  ]);
  return { kind, payload, expected: ['credential'], note: `password assignment: ${note}` };
};

export const CREDENTIAL: ReadonlyArray<readonly [number, Generator]> = [
  [22, awsPair],
  [20, tokenGenerator('GitHub token', githubToken, 'GITHUB_TOKEN')],
  [10, tokenGenerator('GitLab token', gitlabToken, 'GITLAB_TOKEN')],
  [14, tokenGenerator('Slack bot token', slackBotToken, 'SLACK_BOT_TOKEN')],
  [8, webhook],
  [12, tokenGenerator('Google API key', googleApiKey, 'GOOGLE_MAPS_API_KEY')],
  [12, tokenGenerator('Stripe key', stripeKey, 'STRIPE_SECRET_KEY')],
  [5, tokenGenerator('npm token', npmToken, 'NPM_TOKEN')],
  [6, tokenGenerator('OpenAI key', openAiKey, 'OPENAI_API_KEY')],
  [6, tokenGenerator('Anthropic key', anthropicKey, 'ANTHROPIC_API_KEY')],
  [4, tokenGenerator('SendGrid key', sendgridKey, 'SENDGRID_API_KEY')],
  [20, pem],
  [16, jwtGenerator],
  [22, connection],
  [24, passwordAssignment],
];
