import { execFile } from 'node:child_process';
import { createHash } from 'node:crypto';
import { existsSync } from 'node:fs';
import fs from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';
import { VaultError } from '../../errors/index.js';
import { ENTRYPOINT } from '../../policy/index.js';

const run = promisify(execFile);

/** Files in the policy folder that are not policy: never part of a bundle or a test run. */
const IGNORED = ['build', '*.md'];
const ignoreFlags = (...more: string[]) => [...IGNORED, ...more].flatMap((pattern) => ['--ignore', pattern]);

/** The opa CLI: VAULT_OPA_BIN, else `opa` on PATH, else GOPATH/bin (where scripts/opa-up.sh installs it). */
export function findOpa(configured?: string): string {
  const candidates = [
    configured,
    ...(process.env.PATH ?? '').split(path.delimiter).map((dir) => path.join(dir, 'opa')),
    path.join(process.env.GOPATH ?? path.join(os.homedir(), 'go'), 'bin', 'opa'),
  ];
  const found = candidates.find((c): c is string => Boolean(c) && existsSync(c!));
  if (!found) throw new VaultError('ERR_CONFIG', 'the opa CLI was not found: run bash scripts/opa-up.sh, or set VAULT_OPA_BIN');
  return found;
}

async function opa(bin: string, args: string[], cwd: string): Promise<{ stdout: string; stderr: string }> {
  try {
    return await run(bin, args, { cwd, maxBuffer: 64 * 1024 * 1024 });
  } catch (err) {
    const e = err as { stdout?: string; stderr?: string; message: string };
    throw new VaultError('ERR_POLICY_REJECTED', `opa ${args[0]} failed:\n${(e.stderr || e.stdout || e.message).trim()}`, { cause: err });
  }
}

/** A revision derived from the sources, so rebuilding unchanged sources gives the same one. */
export async function sourceRevision(sourceDir: string): Promise<string> {
  const hash = createHash('sha256');
  const files = (await fs.readdir(sourceDir, { recursive: true }))
    .map((f) => f.split(path.sep).join('/'))
    .filter((f) => /\.(rego|json)$/.test(f) && !f.endsWith('_test.rego') && !f.startsWith('build/'))
    .sort();
  for (const file of files) {
    hash.update(`${file}\0`).update(await fs.readFile(path.join(sourceDir, file))).update('\0');
  }
  return `src-${hash.digest('hex').slice(0, 12)}`;
}

export interface BuildOptions {
  readonly opaBin: string;
  readonly sourceDir: string;
  readonly capabilitiesFile: string;
  readonly signingKeyFile: string;
  readonly output: string;
  readonly revision?: string | undefined;
}

/** `opa build -t wasm` of the sources with the pinned capabilities, signed (ES256) by `signingKeyFile`. */
export async function buildBundle(options: BuildOptions): Promise<{ revision: string; output: string }> {
  const revision = options.revision ?? (await sourceRevision(options.sourceDir));
  await fs.mkdir(path.dirname(options.output), { recursive: true });
  await opa(
    options.opaBin,
    [
      'build', '--bundle', '.', '--target', 'wasm', '--entrypoint', ENTRYPOINT,
      '--capabilities', options.capabilitiesFile, '--revision', revision,
      '--signing-key', options.signingKeyFile, '--signing-alg', 'ES256',
      ...ignoreFlags('*_test.rego'), '--output', path.resolve(options.output),
    ],
    options.sourceDir,
  );
  return { revision, output: path.resolve(options.output) };
}

export interface PolicyTestReport {
  readonly passed: { readonly rego: number; readonly wasm: number };
  readonly coverage: number;
  readonly output: string;
}

/** `opa test` on the Rego interpreter and on the WebAssembly target, with line coverage. */
export async function testPolicies(opaBin: string, sourceDir: string): Promise<PolicyTestReport> {
  const rego = await opa(opaBin, ['test', '.', '--verbose', ...ignoreFlags()], sourceDir);
  const wasm = await opa(opaBin, ['test', '.', '--target', 'wasm', ...ignoreFlags()], sourceDir);
  const coverage = await opa(opaBin, ['test', '.', '--coverage', '--format', 'json', ...ignoreFlags()], sourceDir);
  const passed = (text: string) => Number(/PASS: (\d+)\/\1/.exec(text)?.[1] ?? 0);
  return {
    passed: { rego: passed(rego.stdout), wasm: passed(wasm.stdout) },
    coverage: Number((JSON.parse(coverage.stdout) as { coverage?: number }).coverage ?? 0),
    output: `${rego.stdout}\n--- wasm target ---\n${wasm.stdout}`,
  };
}
