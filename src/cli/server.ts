import type { Command } from 'commander';
import { VaultClient } from '../client/index.js';
import { VaultError } from '../errors/index.js';

/**
 * A client of the vault named by `--url`/`--token` of a command group, else VAULT_URL/VAULT_TOKEN.
 * Without a token nothing is sent: the answer would only be `unauthenticated`.
 */
export function vaultClient(command: Command): VaultClient {
  const opts = command.optsWithGlobals() as { url?: string; token?: string };
  const url = opts.url ?? process.env.VAULT_URL ?? 'http://127.0.0.1:8080';
  const token = opts.token ?? process.env.VAULT_TOKEN;
  if (!URL.canParse(url)) throw new VaultError('ERR_INVALID_REQUEST', `the vault URL ${JSON.stringify(url)} is not a URL: --url or VAULT_URL`);
  if (!token) throw new VaultError('ERR_UNAUTHENTICATED', 'a token is required: --token or VAULT_TOKEN');
  return new VaultClient({ url, token, maxRetries: 0 });
}
