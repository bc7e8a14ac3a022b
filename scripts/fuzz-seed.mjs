// Seeds a running vault for scripts/fuzz.sh, so the fuzzer meets real data and not only 404s: a
// roster, records, one dataset granted to the fuzzing training job, a cursor into its stream, and
// the policy revision in force. Prints {dataset_id, cursor, employee_ids, revisions} as JSON.
// Tokens come from the environment.
import { randomUUID } from 'node:crypto';

const url = process.env.FUZZ_URL;
const tokens = {
  officer: process.env.FUZZ_TOKEN_PRIVACY_OFFICER,
  agent: process.env.FUZZ_TOKEN_INGEST_AGENT,
  job: process.env.FUZZ_TOKEN_TRAINING_JOB,
  admin: process.env.FUZZ_TOKEN_SECURITY_ADMIN,
};
if (!url || !Object.values(tokens).every(Boolean)) throw new Error('FUZZ_URL and the FUZZ_TOKEN_* variables are required');

async function call(method, path, token, body) {
  const response = await fetch(`${url}${path}`, {
    method,
    headers: { authorization: `Bearer ${token}`, ...(body === undefined ? {} : { 'content-type': 'application/json' }) },
    ...(body === undefined ? {} : { body: JSON.stringify(body) }),
  });
  const text = await response.text();
  if (!response.ok) throw new Error(`seeding: ${method} ${path} answered ${response.status}: ${text.slice(0, 300)}`);
  return text;
}

// The grant of team-autocomplete (policies/data.json) covers `engineering`; the other units keep its
// reach under VAULT_MAX_SCOPE_FRACTION (0.2), so the dataset is granted.
const engineers = Array.from({ length: 8 }, (_, i) => `fuzz-eng-${i}`);
const others = Array.from({ length: 40 }, (_, i) => ({ employee_id: `fuzz-emp-${i}`, org_unit: ['sales', 'design', 'support', 'finance'][i % 4] }));
const employees = [...engineers.map((employee_id) => ({ employee_id, org_unit: 'engineering' })), ...others].map((e) => ({ ...e, region: 'eu-west', enrolled: true }));
await call('PUT', '/v1/employees', tokens.officer, { employees });

const base = Date.parse('2026-11-02T09:00:00Z');
const records = employees.flatMap((e, n) =>
  Array.from({ length: 6 }, (_, k) => ({
    event_id: randomUUID(),
    employee_id: e.employee_id,
    captured_at: new Date(base + (n * 6 + k) * 60_000).toISOString(),
    kind: k % 2 ? 'keystroke' : 'click',
    payload: { window: 'editor', text: `refactor step ${n}.${k}` },
  })),
);
const ingested = JSON.parse(await call('POST', '/v1/records', tokens.agent, { records }));
if (ingested.accepted + ingested.duplicates < records.length / 2) throw new Error(`seeding: too few records accepted: ${JSON.stringify(ingested)}`);

const dataset = JSON.parse(
  await call('POST', '/v1/datasets', tokens.job, {
    purpose: 'autocomplete-model',
    kinds: ['keystroke'],
    org_units: ['engineering'],
    from: '2026-11-01T00:00:00Z',
    to: '2026-11-30T00:00:00Z',
  }),
);
const lines = (await call('GET', `/v1/datasets/${dataset.dataset_id}/records`, tokens.job)).split('\n').filter(Boolean);
if (lines.length === 0) throw new Error('seeding: the dataset streamed no record');
const cursor = JSON.parse(lines[Math.floor(lines.length / 2)]).cursor;

const { bundles } = JSON.parse(await call('GET', '/v1/policy/bundles', tokens.admin));
const revisions = bundles.map((b) => b.revision);
if (revisions.length === 0) throw new Error('seeding: no policy revision is staged');

process.stdout.write(`${JSON.stringify({ dataset_id: dataset.dataset_id, cursor, employee_ids: [engineers[0], others[0].employee_id], revisions })}\n`);
