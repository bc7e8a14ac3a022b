export { VaultClient, type VaultClientOptions } from './client.js';
export { VaultClientError } from './errors.js';
export type * from './types.js';
