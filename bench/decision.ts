/*
 * One full read decision: verify the bearer token (jose, EdDSA) and evaluate the policy in force
 * (opa-wasm) on the committed default bundle. Prints p50/p99 latency and decisions/s.
 *   BENCH_DECISIONS (default 100000)
 */
import fs from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { createTokenVerifier, loadDevSigningKey } from '../src/auth/index.js';
import { loadConfig } from '../src/config/index.js';
import { policyPaths } from '../src/config/paths.js';
import { loadTrustedBundleKeys, PolicyEvaluator, verifyBundle } from '../src/policy/index.js';
import { fmt, printTable } from './support.js';

const N = Number(process.env.BENCH_DECISIONS ?? 100_000);
const dataDir = await fs.mkdtemp(path.join(os.tmpdir(), 'vault-bench-decision-'));
const config = loadConfig({ VAULT_DATA_DIR: dataDir });
const dev = await loadDevSigningKey(dataDir);
const tokens = createTokenVerifier({ issuer: config.jwt.issuer, audience: config.jwt.audience, keys: { jwks: dev.jwks } });
const bundle = await verifyBundle(await fs.readFile(policyPaths().defaultBundle), await loadTrustedBundleKeys(config));
const policy = await PolicyEvaluator.load(bundle);
const signed = await Promise.all(
  ['team-autocomplete', 'team-ux-agents', 'team-unknown'].map((team) =>
    dev.sign({ sub: `job-${team}`, roles: ['training-job'], teams: [team], purpose: 'autocomplete-model', issuer: config.jwt.issuer, audience: config.jwt.audience, ttlSeconds: 3600 }),
  ),
);
const request = { purpose: 'autocomplete-model', org_units: [], kinds: [], from: '2026-11-01T00:00:00.000Z', to: '2026-11-08T00:00:00.000Z' };

async function decide(token: string): Promise<boolean> {
  const p = await tokens.verify(token);
  const { allow } = await policy.evaluate({
    subject: { sub: p.sub, roles: p.roles, teams: p.teams, purpose: p.purpose },
    action: 'dataset.request',
    request,
    now: new Date().toISOString(),
  });
  return allow;
}

for (let i = 0; i < 2000; i++) await decide(signed[i % signed.length]!);
const verifyOnly: number[] = [];
const evalOnly: number[] = [];
const full = new Float64Array(N);
let allowed = 0;
const started = performance.now();
for (let i = 0; i < N; i++) {
  const t0 = performance.now();
  if (await decide(signed[i % signed.length]!)) allowed++;
  full[i] = performance.now() - t0;
}
const seconds = (performance.now() - started) / 1000;
for (let i = 0; i < 5000; i++) {
  let t0 = performance.now();
  const p = await tokens.verify(signed[i % signed.length]!);
  verifyOnly.push(performance.now() - t0);
  t0 = performance.now();
  await policy.evaluate({ subject: { sub: p.sub, roles: p.roles, teams: p.teams, purpose: p.purpose }, action: 'dataset.request', request, now: new Date().toISOString() });
  evalOnly.push(performance.now() - t0);
}
const pct = (xs: ArrayLike<number>, q: number) => {
  const sorted = Float64Array.from(xs).sort();
  return sorted[Math.min(sorted.length - 1, Math.floor(q * sorted.length))]!;
};
const us = (ms: number) => `${(ms * 1000).toFixed(0)} us`;
console.log(`\ndecision: ${fmt(N)} decisions (${fmt(allowed)} allowed), policy ${bundle.revision}, ${os.cpus().length} cores, one at a time\n`);
printTable(
  ['step', 'p50', 'p99', 'per second'],
  [
    ['token verify + policy evaluation', us(pct(full, 0.5)), us(pct(full, 0.99)), fmt(N / seconds)],
    ['token verify (jose, EdDSA) alone', us(pct(verifyOnly, 0.5)), us(pct(verifyOnly, 0.99)), ''],
    ['policy evaluation (opa-wasm) alone', us(pct(evalOnly, 0.5)), us(pct(evalOnly, 0.99)), ''],
  ],
);
await fs.rm(dataDir, { recursive: true, force: true });
