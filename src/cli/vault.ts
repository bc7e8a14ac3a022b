import { loadConfig } from '../config/index.js';
import { openVault, type Vault } from '../main.js';

/** Opens the configured vault for one command and closes it whatever happens. */
export async function withVault(use: (vault: Vault) => Promise<number>): Promise<number> {
  const vault = await openVault(loadConfig());
  try {
    return await use(vault);
  } finally {
    await vault.close();
  }
}
