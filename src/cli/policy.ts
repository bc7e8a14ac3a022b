import fs from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import type { Command } from 'commander';
import { loadConfig } from '../config/index.js';
import { policyPaths } from '../config/paths.js';
import { devBundleKeysFile, loadDevBundleSigningKey, readTarGz, verifyBundle } from '../policy/index.js';
import type { AccessDiff } from '../guard/index.js';
import type { BundleDiff } from '../policy-admin/index.js';
import { buildBundle, findOpa, testPolicies } from './bundle-tooling/index.js';
import { emit, EXIT_OK, EXIT_REFUSED, localOperator, type Run, table, wantsJson } from './output.js';
import { vaultClient } from './server.js';
import { withLocalVault, type OpenLocalVault } from './vault.js';

/** Adds the dev key's public half to the committed list, so the default bundle verifies anywhere. */
async function publishDevKey(publicJwk: object & { kid?: string }): Promise<void> {
  const file = devBundleKeysFile();
  const set = JSON.parse(await fs.readFile(file, 'utf8').catch(() => '{"keys":[]}')) as { keys: Array<{ kid?: string }> };
  if (set.keys.some((k) => k.kid === publicJwk.kid)) return;
  set.keys.push(publicJwk);
  await fs.writeFile(file, `${JSON.stringify(set, null, 2)}\n`);
}

async function signingKey(dataDir: string, given: string | undefined): Promise<{ file: string; dev: boolean; publicJwk?: object }> {
  if (given) return { file: path.resolve(given), dev: false };
  const dev = await loadDevBundleSigningKey(dataDir);
  return { file: dev.file, dev: true, publicJwk: dev.publicJwk };
}

/** The committed bundle is stale when a rebuild of the sources differs in anything but its signature. */
async function staleFiles(committed: Buffer, rebuilt: Buffer): Promise<string[]> {
  const a = readTarGz(committed);
  const b = readTarGz(rebuilt);
  const names = new Set([...a.keys(), ...b.keys()]);
  names.delete('.signatures.json');
  return [...names].filter((n) => !a.get(n) || !b.get(n) || !a.get(n)!.equals(b.get(n)!)).sort();
}

/** The per-team table of a pre-activation access diff, then its violations and growth. */
export function accessDiffText(diff: AccessDiff): string {
  const rows = [
    ['team', 'org units before', 'org units after', 'gained', 'lost', 'employees before', 'employees after'],
    ...diff.teams.map((t) => [t.team, t.units_before.join(',') || '-', t.units_after.join(',') || '-', t.gained.join(',') || '-', t.lost.join(',') || '-', String(t.employees_before), String(t.employees_after)]),
  ];
  return [
    `access diff ${diff.against ?? '(nothing active)'} -> ${diff.revision}: ${diff.subjects} subjects, ${diff.evaluations} evaluations`,
    table(rows),
    diff.violations.length ? `VIOLATIONS (activation will be refused):\n${diff.violations.map((v) => `  - ${v}`).join('\n')}` : 'violations: none',
    diff.growth.length ? `GROWTH (activation needs a second security admin):\n${diff.growth.map((g) => `  - ${g}`).join('\n')}` : 'growth: none',
  ].join('\n');
}

/** A bundle file when the path exists, else a staged revision. */
async function bundleRef(ref: string): Promise<string | Buffer> {
  return fs.readFile(ref).catch((err: NodeJS.ErrnoException) => {
    if (err.code === 'ENOENT' || err.code === 'ENAMETOOLONG') return ref;
    throw err;
  });
}

export function registerPolicyCommands(program: Command, run: Run, openLocalVault: OpenLocalVault): void {
  const policy = program
    .command('policy')
    .description('the security team’s policy workflow')
    .option('--url <url>', 'vault base URL for push, activate, list (default: VAULT_URL or http://127.0.0.1:8080)')
    .option('--token <jwt>', 'security-admin token (default: VAULT_TOKEN)');

  policy
    .command('test')
    .description('opa test on the Rego interpreter and on the WebAssembly target, with coverage')
    .option('--min-coverage <percent>', 'fail below this line coverage', '90')
    .action(
      run(async (opts: { minCoverage: string }, command: Command) => {
        const config = loadConfig();
        const report = await testPolicies(findOpa(config.opaBin), policyPaths().sources);
        const ok = report.coverage >= Number(opts.minCoverage);
        emit(
          wantsJson(command),
          { ...report, output: undefined, min_coverage: Number(opts.minCoverage), ok },
          `${report.output.trim()}\n\nrego: ${report.passed.rego} passed, wasm: ${report.passed.wasm} passed, coverage ${report.coverage.toFixed(1)}% (minimum ${opts.minCoverage}%)`,
        );
        return ok ? EXIT_OK : EXIT_REFUSED;
      }),
    );

  policy
    .command('build')
    .description('compile policies/ to a signed wasm bundle (opa build -t wasm, pinned capabilities)')
    .option('-o, --output <file>', 'bundle file', policyPaths().defaultBundle)
    .option('--signing-key <pem>', 'EC P-256 private key (default: the development key in VAULT_DATA_DIR)')
    .option('--revision <rev>', 'bundle revision (default: derived from the sources)')
    .option('--check', 'rebuild and fail if the committed bundle differs from the sources')
    .action(
      run(async (opts: { output: string; signingKey?: string; revision?: string; check?: boolean }, command: Command) => {
        const config = loadConfig();
        const paths = policyPaths();
        const opaBin = findOpa(config.opaBin);
        if (opts.check) {
          const scratch = await fs.mkdtemp(path.join(os.tmpdir(), 'vault-policy-check-'));
          try {
            const key = await loadDevBundleSigningKey(scratch);
            const output = path.join(scratch, 'bundle.tar.gz');
            await buildBundle({ opaBin, sourceDir: paths.sources, capabilitiesFile: paths.capabilities, signingKeyFile: key.file, output, revision: opts.revision });
            const stale = await staleFiles(await fs.readFile(opts.output), await fs.readFile(output));
            emit(wantsJson(command), { stale }, stale.length ? `bundle ${opts.output} is stale (${stale.join(', ')}): run activity-vault policy build` : `bundle ${opts.output} matches the sources`);
            return stale.length ? EXIT_REFUSED : EXIT_OK;
          } finally {
            await fs.rm(scratch, { recursive: true, force: true });
          }
        }
        const key = await signingKey(config.dataDir, opts.signingKey);
        const built = await buildBundle({ opaBin, sourceDir: paths.sources, capabilitiesFile: paths.capabilities, signingKeyFile: key.file, output: opts.output, revision: opts.revision });
        if (key.dev && key.publicJwk && path.resolve(opts.output) === paths.defaultBundle) await publishDevKey(key.publicJwk);
        if (key.publicJwk) {
          const kid = (key.publicJwk as { kid: string }).kid;
          await verifyBundle(await fs.readFile(built.output), [{ kid, jwk: key.publicJwk }]);
        }
        emit(wantsJson(command), built, `built ${built.output} (revision ${built.revision})${key.dev ? ', signed with the development key' : ''}`);
        return EXIT_OK;
      }),
    );

  policy
    .command('push')
    .description('stage a bundle on the vault (POST /v1/policy/bundles)')
    .argument('[file]', 'bundle file', policyPaths().defaultBundle)
    .action(
      run(async (file: string, _opts, command: Command) => {
        const result = await vaultClient(command).stagePolicyBundle(await fs.readFile(file));
        const g = result.diff.grants;
        emit(
          wantsJson(command),
          result,
          `staged ${result.revision} (against ${result.diff.against ?? 'nothing active'}): policy module ${result.diff.policy_module_changed ? 'changed' : 'unchanged'}; grants added [${g.added}] removed [${g.removed}] changed [${g.changed}]\n${classificationText(result.diff.classification)}${accessDiffText(result.diff.access)}`,
        );
        return EXIT_OK;
      }),
    );

  policy
    .command('activate')
    .description('activate a staged revision in every instance (rolling back = activating an earlier one)')
    .argument('<revision>')
    .action(
      run(async (revision: string, _opts, command: Command) => {
        const result = await vaultClient(command).activatePolicy(revision);
        emit(wantsJson(command), result, `active: ${result.revision} (was ${result.previous ?? 'none'})${result.approved_by ? `; growth approved by ${result.approved_by}` : ''}`);
        return EXIT_OK;
      }),
    );

  policy
    .command('approve')
    .description('as a second security admin, approve a staged revision that grows access (then someone else activates it)')
    .argument('<revision>')
    .action(
      run(async (revision: string, _opts, command: Command) => {
        const result = await vaultClient(command).approvePolicy(revision);
        const growth = result.growth.map((g) => `  - ${g}`).join('\n');
        emit(wantsJson(command), result, `approved ${result.revision} against ${result.against ?? 'nothing active'} as ${result.approved_by}${growth ? `:\n${growth}` : ' (it grows nothing)'}`);
        return EXIT_OK;
      }),
    );

  policy
    .command('diff')
    .description('who would reach what under NEW compared with OLD, per team, on this vault\'s roster; exit 1 on an invariant violation')
    .argument('<old>', 'bundle file or staged revision')
    .argument('<new>', 'bundle file or staged revision')
    .action(
      run(async (before: string, after: string, _opts, command: Command) =>
        withLocalVault(openLocalVault, async (services) => {
          const diff = await services.policyAdmin.diff(localOperator('security-admin'), await bundleRef(before), await bundleRef(after));
          emit(wantsJson(command), diff, accessDiffText(diff));
          return diff.violations.length ? EXIT_REFUSED : EXIT_OK;
        }),
      ),
    );

  policy
    .command('list')
    .description('staged revisions and which is active')
    .action(
      run(async (_opts, command: Command) => {
        const result = await vaultClient(command).policyBundles();
        const lines = result.bundles.map(
          (b) => `${b.active ? '*' : ' '} ${b.revision}  staged by ${b.staged_by} ${b.staged_at}${b.activated_by ? `, last activated by ${b.activated_by} ${b.activated_at}` : ''}`,
        );
        emit(wantsJson(command), result, lines.length ? lines.join('\n') : 'no bundles staged');
        return EXIT_OK;
      }),
    );

}

function classificationText(diff: BundleDiff['classification']): string {
  const source = diff.lists === 'bundle' ? 'its own' : 'the shipped ones (the bundle carries none)';
  const changes = diff.changed.map((c) => `\n  ${c.list}: +${c.added.length} -${c.removed.length}${c.removed.length ? ` (${c.removed.slice(0, 5).join(', ')}${c.removed.length > 5 ? ', ...' : ''})` : ''}`);
  return `classifier lists: ${source}${changes.length ? changes.join('') : '; unchanged'}\n`;
}
