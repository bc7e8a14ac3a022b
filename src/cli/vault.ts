import type { VaultServices } from '../services/index.js';

/** Opens the configured vault on this host, for commands that run in-process (the CLI entry builds it). */
export type OpenLocalVault = () => Promise<{ readonly services: VaultServices; close(): Promise<void> }>;

/** Runs one command against a local vault and closes it whatever happens. */
export async function withLocalVault(open: OpenLocalVault, use: (services: VaultServices) => Promise<number>): Promise<number> {
  const vault = await open();
  try {
    return await use(vault.services);
  } finally {
    await vault.close();
  }
}
