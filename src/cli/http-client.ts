import type { Command } from 'commander';
import { VaultError } from '../errors/index.js';

export interface ServerOptions {
  readonly url: string;
  readonly token: string | undefined;
}

/** `--url`/`--token` of a command group, else VAULT_URL/VAULT_TOKEN. */
export function serverOptions(command: Command): ServerOptions {
  const opts = command.optsWithGlobals() as { url?: string; token?: string };
  return { url: opts.url ?? process.env.VAULT_URL ?? 'http://127.0.0.1:8080', token: opts.token ?? process.env.VAULT_TOKEN };
}

/** Calls the vault's HTTP API as the security team's tools do; a non-2xx answer becomes a VaultError. */
export async function callVault(server: ServerOptions, method: string, route: string, body?: { type: string; data: Buffer | string }): Promise<any> {
  if (!server.token) throw new VaultError('ERR_UNAUTHENTICATED', 'a token is required: --token or VAULT_TOKEN');
  let response: Response;
  try {
    response = await fetch(new URL(route, server.url), {
      method,
      headers: { authorization: `Bearer ${server.token}`, ...(body ? { 'content-type': body.type } : {}) },
      ...(body ? { body: body.data } : {}),
    });
  } catch (err) {
    throw new VaultError('ERR_UNAVAILABLE', `cannot reach the vault at ${server.url}`, { cause: err });
  }
  const text = await response.text();
  const parsed = text ? JSON.parse(text) : {};
  if (!response.ok) {
    const violations: string[] = Array.isArray(parsed.violations) ? parsed.violations : [];
    const message = [`${response.status} ${parsed.error ?? ''}: ${parsed.message ?? text}`, ...violations.map((v) => `  - ${v}`)].join('\n');
    throw new VaultError(response.status === 409 ? 'ERR_POLICY_REJECTED' : 'ERR_INVALID_REQUEST', message, { details: parsed });
  }
  return parsed;
}
