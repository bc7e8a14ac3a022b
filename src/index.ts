export { openVault, type Vault, type OpenVaultOptions } from './main.js';
export type { VaultServices } from './services/index.js';
export { loadConfig, type VaultConfig } from './config/index.js';
export { VaultError, isVaultError, ERROR_CODES, type VaultErrorCode } from './errors/index.js';
export { buildHttpServer } from './http/index.js';
export type { Principal, Role } from './auth/index.js';
export type { IngestResult, RosterResult } from './ingest/index.js';
export { VaultClient, VaultClientError, type VaultClientOptions, type DatasetRequestBody, type DatasetLease, type DatasetRecord } from './client/index.js';
