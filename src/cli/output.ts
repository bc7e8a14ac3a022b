import os from 'node:os';
import type { Principal, Role } from '../auth/index.js';
import { isVaultError } from '../errors/index.js';

/** How a command group wraps its actions so every outcome becomes an exit code. */
export type Run = (action: (...args: any[]) => Promise<number>) => (...args: unknown[]) => Promise<void>;

/** Whether `--json` was given anywhere on the command line. */
export function wantsJson(command: { optsWithGlobals(): Record<string, unknown> }): boolean {
  return Boolean(command.optsWithGlobals().json);
}

export const EXIT_OK = 0;
export const EXIT_REFUSED = 1;
export const EXIT_USAGE = 2;

/** Prints a result as JSON (`--json`) or as the human text. */
export function emit(json: boolean, data: unknown, text: string): void {
  process.stdout.write(json ? `${JSON.stringify(data, null, 2)}\n` : `${text}\n`);
}

/** Left-aligned columns for a terminal; the first row is the header. */
export function table(rows: ReadonlyArray<ReadonlyArray<string>>): string {
  const widths = rows[0]!.map((_, c) => Math.max(...rows.map((r) => (r[c] ?? '').length)));
  return rows.map((r) => r.map((cell, c) => (c === r.length - 1 ? cell : cell.padEnd(widths[c]!))).join('  ')).join('\n');
}

/** Reports a failure on stderr (as JSON with `--json`) and returns exit code 1. */
export function fail(json: boolean, err: unknown): number {
  const code = isVaultError(err) ? err.code : 'ERR_INTERNAL';
  const message = err instanceof Error ? err.message : String(err);
  process.stderr.write(json ? `${JSON.stringify({ error: code, message })}\n` : `activity-vault: ${message} (${code})\n`);
  return EXIT_REFUSED;
}

/** A one-line progress display on a terminal; silent when stderr is not a TTY. */
export function progress(enabled: boolean): { update(line: string): void; done(): void } {
  const tty = enabled && process.stderr.isTTY;
  let last = 0;
  return {
    update(line) {
      const now = Date.now();
      if (!tty || now - last < 100) return;
      last = now;
      process.stderr.write(`\r\x1b[2K${line}`);
    },
    done() {
      if (tty) process.stderr.write('\r\x1b[2K');
    },
  };
}

/** The audit identity of a command run on the vault's host, where no token is involved. */
export function localOperator(role: Role): Principal {
  return { sub: `cli:${os.userInfo().username}@${os.hostname()}`, roles: [role], teams: [], purpose: undefined, jti: undefined };
}
