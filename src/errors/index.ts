/**
 * Every failure the vault reports to a caller is a {@link VaultError} with a stable `code`.
 * Messages are written for the caller and are deliberately vague on security decisions; the
 * precise reason goes to the audit log. Programmer misuse throws `TypeError` instead.
 */
export const ERROR_CODES = [
  'ERR_INVALID_REQUEST',
  'ERR_INVALID_RECORD',
  'ERR_BATCH_TOO_LARGE',
  'ERR_BODY_TOO_LARGE',
  'ERR_UNSUPPORTED_MEDIA_TYPE',
  'ERR_UNAUTHENTICATED',
  'ERR_FORBIDDEN',
  'ERR_POLICY_DENIED',
  'ERR_SUBJECT_INCOMPLETE',
  'ERR_SCOPE_NOT_EXPLICIT',
  'ERR_SCOPE_OUTSIDE_GRANT',
  'ERR_SCOPE_TOO_WIDE',
  'ERR_SENSITIVITY_FORBIDDEN',
  'ERR_LEASE_EXPIRED',
  'ERR_LEASE_REVOKED',
  'ERR_NOT_FOUND',
  'ERR_METHOD_NOT_ALLOWED',
  'ERR_UNKNOWN_EMPLOYEE',
  'ERR_UNKNOWN_KIND',
  'ERR_DECRYPT_FAILED',
  'ERR_KEY_UNAVAILABLE',
  'ERR_UNAVAILABLE',
  'ERR_BUNDLE_REJECTED',
  'ERR_POLICY_REJECTED',
  'ERR_POLICY_UNAVAILABLE',
  'ERR_PROGRAM_PAUSED',
  'ERR_EXPORTS_FROZEN',
  'ERR_CONFLICT',
  'ERR_CONFIG',
  'ERR_INTERNAL',
] as const;

export type VaultErrorCode = (typeof ERROR_CODES)[number];

export class VaultError extends Error {
  readonly code: VaultErrorCode;
  /** Fields safe to show the caller: a decision id, violations, file names. Never plaintext, keys or tokens. */
  readonly details: Readonly<Record<string, unknown>> | undefined;
  /** The precise reason, for the audit log and the operator's log only; never sent to the caller. */
  readonly internal: Readonly<Record<string, unknown>> | undefined;

  constructor(
    code: VaultErrorCode,
    message: string,
    options?: { cause?: unknown; details?: Record<string, unknown>; internal?: Record<string, unknown> },
  ) {
    super(message, options?.cause === undefined ? undefined : { cause: options.cause });
    this.name = 'VaultError';
    this.code = code;
    this.details = options?.details;
    this.internal = options?.internal;
  }
}

export function isVaultError(err: unknown, code?: VaultErrorCode): err is VaultError {
  return err instanceof VaultError && (code === undefined || err.code === code);
}

/** The `error` field of an HTTP body: `ERR_UNKNOWN_KIND` -> `unknown_kind`. */
export function publicErrorName(code: VaultErrorCode): string {
  return code.slice(4).toLowerCase();
}

/**
 * What an operator's log says of a failure: a vault error's code and message (written by the
 * vault, never quoting a value); of any other error its name and its driver or system code (a
 * SQLSTATE or errno) only, since a driver's text may quote the values it was given.
 */
export function loggableError(err: unknown): { readonly name: string; readonly code?: string; readonly message?: string } {
  if (isVaultError(err)) return { name: err.name, code: err.code, message: err.message };
  const code = (err as { code?: unknown } | null)?.code;
  return {
    name: err instanceof Error ? err.name : typeof err,
    ...(typeof code === 'string' && /^[A-Za-z0-9_]{1,32}$/.test(code) ? { code } : {}),
  };
}
