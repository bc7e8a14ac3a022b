import os from 'node:os';
import type { Principal, Role } from '../auth/index.js';
import { VaultClientError } from '../client/index.js';
import { isVaultError, publicErrorName, type VaultErrorCode } from '../errors/index.js';

/** How a command group wraps its actions so every outcome becomes an exit code. */
export type Run = (action: (...args: any[]) => Promise<number>) => (...args: unknown[]) => Promise<void>;

/** Whether `--json` was given anywhere on the command line. */
export function wantsJson(command: { optsWithGlobals(): Record<string, unknown> }): boolean {
  return Boolean(command.optsWithGlobals().json);
}

export const EXIT_OK = 0;
/** Refused or failed: a policy or role said no, nothing to act on, or the vault broke. */
export const EXIT_REFUSED = 1;
export const EXIT_USAGE = 2;
/** The token is missing, malformed, expired or not trusted: get a new one. */
export const EXIT_UNAUTHENTICATED = 3;
/** The vault, its database, keys, audit log or policy cannot serve now, or cannot be reached: retry. */
export const EXIT_UNAVAILABLE = 4;

/** The one table from error code to exit code; every code not named here is {@link EXIT_REFUSED}. README mirrors it. */
const EXIT_CODES: Partial<Readonly<Record<VaultErrorCode, number>>> = {
  ERR_INVALID_REQUEST: EXIT_USAGE,
  ERR_UNAUTHENTICATED: EXIT_UNAUTHENTICATED,
  ERR_UNAVAILABLE: EXIT_UNAVAILABLE,
  ERR_POLICY_UNAVAILABLE: EXIT_UNAVAILABLE,
  ERR_PROGRAM_PAUSED: EXIT_UNAVAILABLE,
  ERR_EXPORTS_FROZEN: EXIT_UNAVAILABLE,
};
const EXIT_BY_PUBLIC_CODE = new Map(Object.entries(EXIT_CODES).map(([code, exit]) => [publicErrorName(code as VaultErrorCode), exit]));

/** The exit code for an error code as the vault sends it (`unauthenticated`, `policy_rejected`, ...). */
export function exitCodeOf(publicCode: string): number {
  return EXIT_BY_PUBLIC_CODE.get(publicCode) ?? EXIT_REFUSED;
}

/** Prints a result as JSON (`--json`) or as the human text. */
export function emit(json: boolean, data: unknown, text: string): void {
  process.stdout.write(json ? `${JSON.stringify(data, null, 2)}\n` : `${text}\n`);
}

/** Left-aligned columns for a terminal; the first row is the header. */
export function table(rows: ReadonlyArray<ReadonlyArray<string>>): string {
  const widths = rows[0]!.map((_, c) => Math.max(...rows.map((r) => (r[c] ?? '').length)));
  return rows.map((r) => r.map((cell, c) => (c === r.length - 1 ? cell : cell.padEnd(widths[c]!))).join('  ')).join('\n');
}

/** A failure as the vault would answer it: its public error code, message and safe fields. */
function refusalOf(err: unknown): { error: string; message: string; fields: Record<string, unknown> } {
  const message = err instanceof Error ? err.message : String(err);
  const [error, given]: [string, Readonly<Record<string, unknown>> | undefined] =
    err instanceof VaultClientError ? [err.error, err.body] : isVaultError(err) ? [publicErrorName(err.code), err.details] : [publicErrorName('ERR_INTERNAL'), undefined];
  const { error: _error, message: _message, ...fields } = given ?? {};
  return { error, message, fields };
}

/**
 * Reports a failure on stderr, `activity-vault: MESSAGE (CODE)` with the violations below it, or
 * `{"error","message",...}` with `--json`, and returns the exit code of its error code.
 */
export function fail(json: boolean, err: unknown): number {
  const { error, message, fields } = refusalOf(err);
  const listed = [fields.violations, fields.reasons].flatMap((list) => (Array.isArray(list) ? list.map((item) => `  - ${String(item)}\n`) : []));
  process.stderr.write(json ? `${JSON.stringify({ error, message, ...fields })}\n` : `activity-vault: ${message} (${error})\n${listed.join('')}`);
  return exitCodeOf(error);
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
