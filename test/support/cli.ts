import { spawn } from 'node:child_process';
import path from 'node:path';

const BIN = path.resolve('src/cli/bin.ts');

/** Runs the activity-vault CLI from source in a child process with exactly `env` (plus PATH/HOME). */
export function cli(args: string[], env: Record<string, string | undefined>): Promise<{ code: number; stdout: string; stderr: string }> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, ['--import', 'tsx', BIN, ...args], {
      env: { PATH: process.env.PATH, HOME: process.env.HOME, GOPATH: process.env.GOPATH, ...env },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d) => (stdout += d));
    child.stderr.on('data', (d) => (stderr += d));
    child.on('error', reject);
    child.on('close', (code) => resolve({ code: code ?? -1, stdout, stderr }));
  });
}
