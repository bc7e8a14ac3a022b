import os from 'node:os';
import path from 'node:path';
import { VaultError } from '../errors/index.js';
import { KIND, MAX_SENSITIVITY } from '../model/index.js';

export type VaultEnv = 'development' | 'production';

export interface VaultConfig {
  readonly env: VaultEnv;
  /** PostgreSQL connection string; undefined selects the embedded database in `dataDir`. */
  readonly databaseUrl: string | undefined;
  readonly dataDir: string;
  readonly host: string;
  readonly port: number;
  readonly kekFile: string;
  /** True when the operator named the KEK file; production refuses to create key material itself. */
  readonly kekFileConfigured: boolean;
  /** Where the KEK lives: the local file (`kekFile`), or a PKCS#11 token (an HSM, or a cloud KMS's PKCS#11 library). */
  readonly keyProvider: { readonly kind: 'local' } | Pkcs11Config;
  readonly maxScopeFraction: number;
  /** VAULT_STORE_LEVEL_4: keep level-4 records (encrypted, never exportable) instead of dropping them at ingest. */
  readonly storeLevel4: boolean;
  /** VAULT_CONSOLE_DEV_TOKEN: the console's development mint is offered (development, no JWKS, and only when asked for). */
  readonly consoleDevToken: boolean;
  readonly jwt: {
    readonly jwksFile: string | undefined;
    readonly jwksUrl: string | undefined;
    readonly issuer: string;
    readonly audience: string;
    /** VAULT_JWT_MAX_TTL: the longest `exp - iat` a token may claim, in seconds. */
    readonly maxTtlSeconds: number;
  };
  /** JWKS of the public keys allowed to sign policy bundles; production trusts only these. */
  readonly bundleKeysFile: string | undefined;
  /** The opa CLI used by `policy build` and `policy test`. */
  readonly opaBin: string | undefined;
  /** How often each instance signs a checkpoint of the audit log's newest event. */
  readonly auditCheckpointSeconds: number;
  /** VAULT_SSE_HEARTBEAT_SECONDS: the heartbeat of capture agents' event streams. */
  readonly sseHeartbeatSeconds: number;
  /** How often the background upkeep runs: deleting erased employees' rows (and retention). */
  readonly maintenanceSeconds: number;
  /** Data keys a KEK rotation rewraps per transaction (VAULT_KEY_ROTATION_BATCH). */
  readonly keyRotationBatch: number;
  /** VAULT_PAGE_WORKERS: threads that read and open dataset pages on PostgreSQL; 0 runs streams in the main thread. */
  readonly pageWorkers: number;
  /** VAULT_INGEST_WORKERS: threads that classify and seal ingest chunks; 0 does it in the main thread. */
  readonly ingestWorkers: number;
  /** VAULT_AUDIT_WITNESS: a directory or `.jsonl` file outside the database where every checkpoint is also appended. */
  readonly auditWitness: string;
  /** Declared record kinds and the lowest sensitivity each may carry. */
  readonly recordKinds: ReadonlyMap<string, number>;
  /** Each kind's retention in days until a collection manifest says otherwise (the default manifest takes it). */
  readonly recordRetentionDays: ReadonlyMap<string, number>;
  readonly ingest: { readonly maxBatchRecords: number; readonly maxBodyBytes: number };
  readonly logLevel: string;
}

export const DEFAULT_RECORD_KINDS =
  'mouse_move:0,click:0,scroll:0,window_focus:1,keystroke:2,prompt:2,clipboard:3,screenshot:3';

type Env = Readonly<Record<string, string | undefined>>;

function fail(message: string): never {
  throw new VaultError('ERR_CONFIG', message);
}

function parseBatch(raw: string): number {
  const n = Number(raw);
  if (!/^\d+$/.test(raw) || n < 1 || n > 100_000) fail(`VAULT_KEY_ROTATION_BATCH must be an integer 1-100000, got "${raw}"`);
  return n;
}

/** The most page (or seal) workers started unless VAULT_PAGE_WORKERS (VAULT_INGEST_WORKERS) asks for more: each page worker opens up to 4 database connections. */
const DEFAULT_PAGE_WORKERS_MAX = 4;

/**
 * One core is the main thread's (HTTP, keys, audit) and one the database's or the system's: on 2
 * cores the workers only contend with them (measured: bench/export, README). A large machine gets
 * a few, not one per core: each holds its own connections and heap.
 */
export const defaultPageWorkers = (cores: number): number => Math.min(DEFAULT_PAGE_WORKERS_MAX, Math.max(0, cores - 2));

function parseWorkers(name: string, raw: string | undefined): number {
  if (!raw) return defaultPageWorkers(os.availableParallelism());
  const n = Number(raw);
  if (!/^\d+$/.test(raw) || n > 64) fail(`${name} must be an integer 0-64, got "${raw}"`);
  return n;
}

function parsePort(raw: string): number {
  const port = Number(raw);
  if (!Number.isInteger(port) || port < 0 || port > 65535) fail(`VAULT_PORT must be an integer 0-65535, got "${raw}"`);
  return port;
}

function parseFraction(raw: string): number {
  const value = Number(raw);
  if (!Number.isFinite(value) || value <= 0 || value > 1) fail(`VAULT_MAX_SCOPE_FRACTION must be in (0, 1], got "${raw}"`);
  return value;
}

function parseBoolean(name: string, raw: string): boolean {
  if (raw === 'true' || raw === '1') return true;
  if (raw === 'false' || raw === '0') return false;
  fail(`${name} must be true or false (or 1 or 0), got "${raw}"`);
}

function parseSeconds(raw: string): number {
  const seconds = Number(raw);
  if (!Number.isInteger(seconds) || seconds < 1 || seconds > 86_400) fail(`VAULT_AUDIT_CHECKPOINT_SECONDS must be 1-86400, got "${raw}"`);
  return seconds;
}

const DURATION_UNITS: Readonly<Record<string, number>> = { s: 1, m: 60, h: 3600, d: 86_400 };

/** Seconds (`86400`) or a duration (`24h`, `1h30m`, `90s`), 1 s to 30 days. */
function parseDurationSeconds(name: string, raw: string): number {
  const text = raw.trim();
  let seconds = Number.NaN;
  if (/^\d+$/.test(text)) seconds = Number(text);
  else if (/^(\d+[smhd])+$/.test(text)) {
    seconds = 0;
    for (const [, amount, unit] of text.matchAll(/(\d+)([smhd])/g)) seconds += Number(amount) * DURATION_UNITS[unit!]!;
  }
  if (!Number.isSafeInteger(seconds) || seconds < 1 || seconds > 30 * 86_400) fail(`${name} must be seconds or a duration such as 24h (1 s to 30 d), got "${raw}"`);
  return seconds;
}

/** Kinds written `name[:floor[:retention_days]]`, comma-separated; retention defaults to 180 days. */
export function parseRecordKinds(raw: string): Map<string, number> {
  return new Map([...parseKindTerms(raw)].map(([kind, t]) => [kind, t.floor]));
}

export function parseKindRetention(raw: string): Map<string, number> {
  return new Map([...parseKindTerms(raw)].map(([kind, t]) => [kind, t.retentionDays]));
}

const DEFAULT_KIND_RETENTION_DAYS = 180;
const MAX_KIND_RETENTION_DAYS = 3650;

function parseKindTerms(raw: string): Map<string, { floor: number; retentionDays: number }> {
  const kinds = new Map<string, { floor: number; retentionDays: number }>();
  for (const entry of raw.split(',').map((s) => s.trim()).filter(Boolean)) {
    const [name, floor = '0', days = String(DEFAULT_KIND_RETENTION_DAYS), ...rest] = entry.split(':');
    if (!name || !KIND.test(name) || rest.length > 0) fail(`VAULT_RECORD_KINDS: "${entry}" is not name[:floor[:retention_days]] (a-z, 0-9, _)`);
    const level = Number(floor);
    if (!Number.isInteger(level) || level < 0 || level > MAX_SENSITIVITY) fail(`VAULT_RECORD_KINDS: sensitivity of "${name}" must be 0-${MAX_SENSITIVITY}`);
    const retentionDays = Number(days);
    if (!Number.isInteger(retentionDays) || retentionDays < 1 || retentionDays > MAX_KIND_RETENTION_DAYS) fail(`VAULT_RECORD_KINDS: retention of "${name}" must be 1-${MAX_KIND_RETENTION_DAYS} days`);
    kinds.set(name, { floor: level, retentionDays });
  }
  if (kinds.size === 0) fail('VAULT_RECORD_KINDS declares no kind');
  return kinds;
}

export interface Pkcs11Config {
  readonly kind: 'pkcs11';
  /** VAULT_PKCS11_MODULE: the vendor's PKCS#11 library. */
  readonly module: string;
  /** VAULT_PKCS11_SLOT and/or VAULT_PKCS11_TOKEN_LABEL: which token. */
  readonly slot: number | undefined;
  readonly tokenLabel: string | undefined;
  /** VAULT_PKCS11_PIN_FILE: the user PIN, in a file of mode 0600. */
  readonly pinFile: string;
  /** VAULT_PKCS11_KEY_LABEL: the KEK's label in the token (default `activity-vault-kek`). */
  readonly keyLabel: string;
}

function parseKeyProvider(env: Env): VaultConfig['keyProvider'] {
  const kind = env.VAULT_KEY_PROVIDER ?? 'local';
  if (kind === 'local') return { kind };
  if (kind !== 'pkcs11') fail(`VAULT_KEY_PROVIDER must be local or pkcs11, got "${kind}"`);
  const module = env.VAULT_PKCS11_MODULE;
  const pinFile = env.VAULT_PKCS11_PIN_FILE;
  if (!module) fail('VAULT_KEY_PROVIDER=pkcs11 needs VAULT_PKCS11_MODULE (the PKCS#11 library)');
  if (!pinFile) fail('VAULT_KEY_PROVIDER=pkcs11 needs VAULT_PKCS11_PIN_FILE (a file holding the user PIN)');
  const slotText = env.VAULT_PKCS11_SLOT;
  if (slotText !== undefined && !/^\d{1,10}$/.test(slotText)) fail(`VAULT_PKCS11_SLOT must be a slot number, got "${slotText}"`);
  const tokenLabel = env.VAULT_PKCS11_TOKEN_LABEL || undefined;
  if (slotText === undefined && !tokenLabel) fail('VAULT_KEY_PROVIDER=pkcs11 needs VAULT_PKCS11_SLOT or VAULT_PKCS11_TOKEN_LABEL');
  return { kind, module: path.resolve(module), slot: slotText === undefined ? undefined : Number(slotText), tokenLabel, pinFile: path.resolve(pinFile), keyLabel: env.VAULT_PKCS11_KEY_LABEL || 'activity-vault-kek' };
}

/** Reads and validates the environment once, at start. Throws `ERR_CONFIG` with the variable at fault. */
export function loadConfig(env: Env = process.env): VaultConfig {
  const vaultEnv = env.VAULT_ENV ?? 'development';
  if (vaultEnv !== 'development' && vaultEnv !== 'production') fail(`VAULT_ENV must be development or production, got "${vaultEnv}"`);
  const dataDir = path.resolve(env.VAULT_DATA_DIR ?? './.vault-data');
  const jwksFile = env.VAULT_JWKS_FILE || undefined;
  const jwksUrl = env.VAULT_JWKS_URL || undefined;
  if (jwksFile && jwksUrl) fail('set VAULT_JWKS_FILE or VAULT_JWKS_URL, not both');
  if (jwksUrl && !/^https?:\/\//.test(jwksUrl)) fail('VAULT_JWKS_URL must be an http(s) URL');
  if (vaultEnv === 'production') {
    if (!jwksFile && !jwksUrl) fail('production needs VAULT_JWKS_FILE or VAULT_JWKS_URL: development signing keys are refused');
    if (!env.VAULT_JWT_ISSUER) fail('production needs VAULT_JWT_ISSUER');
    if (!env.VAULT_KEK_FILE && (env.VAULT_KEY_PROVIDER ?? 'local') === 'local') fail('production needs VAULT_KEK_FILE (or VAULT_KEY_PROVIDER=pkcs11): key material is never created implicitly');
    if (jwksUrl && !jwksUrl.startsWith('https://')) fail('production fetches VAULT_JWKS_URL over https only: whoever can alter the key set can sign tokens');
    if (!env.VAULT_BUNDLE_KEYS_FILE) fail('production needs VAULT_BUNDLE_KEYS_FILE: the keys that may sign policy bundles');
    if (parseBoolean('VAULT_CONSOLE_DEV_TOKEN', env.VAULT_CONSOLE_DEV_TOKEN || 'false')) fail('VAULT_CONSOLE_DEV_TOKEN is for development only: production tokens come from the identity provider');
  }
  return {
    env: vaultEnv,
    databaseUrl: env.VAULT_DATABASE_URL || undefined,
    dataDir,
    host: env.VAULT_HOST ?? '127.0.0.1',
    port: parsePort(env.VAULT_PORT ?? '8080'),
    kekFile: path.resolve(env.VAULT_KEK_FILE ?? path.join(dataDir, 'kek.bin')),
    kekFileConfigured: Boolean(env.VAULT_KEK_FILE),
    keyProvider: parseKeyProvider(env),
    maxScopeFraction: parseFraction(env.VAULT_MAX_SCOPE_FRACTION ?? '0.2'),
    storeLevel4: parseBoolean('VAULT_STORE_LEVEL_4', env.VAULT_STORE_LEVEL_4 ?? 'false'),
    consoleDevToken: parseBoolean('VAULT_CONSOLE_DEV_TOKEN', env.VAULT_CONSOLE_DEV_TOKEN || 'false'),
    jwt: {
      jwksFile: jwksFile === undefined ? undefined : path.resolve(jwksFile),
      jwksUrl,
      issuer: env.VAULT_JWT_ISSUER ?? 'activity-vault',
      audience: env.VAULT_JWT_AUDIENCE ?? 'activity-vault',
      maxTtlSeconds: parseDurationSeconds('VAULT_JWT_MAX_TTL', env.VAULT_JWT_MAX_TTL ?? '24h'),
    },
    bundleKeysFile: env.VAULT_BUNDLE_KEYS_FILE ? path.resolve(env.VAULT_BUNDLE_KEYS_FILE) : undefined,
    opaBin: env.VAULT_OPA_BIN || undefined,
    auditCheckpointSeconds: parseSeconds(env.VAULT_AUDIT_CHECKPOINT_SECONDS ?? '300'),
    sseHeartbeatSeconds: parseSeconds(env.VAULT_SSE_HEARTBEAT_SECONDS ?? '15'),
    maintenanceSeconds: parseSeconds(env.VAULT_MAINTENANCE_SECONDS ?? '60'),
    keyRotationBatch: parseBatch(env.VAULT_KEY_ROTATION_BATCH ?? '1000'),
    pageWorkers: parseWorkers('VAULT_PAGE_WORKERS', env.VAULT_PAGE_WORKERS),
    ingestWorkers: parseWorkers('VAULT_INGEST_WORKERS', env.VAULT_INGEST_WORKERS),
    auditWitness: path.resolve(env.VAULT_AUDIT_WITNESS || path.join(dataDir, 'audit-witness')),
    recordKinds: parseRecordKinds(env.VAULT_RECORD_KINDS ?? DEFAULT_RECORD_KINDS),
    recordRetentionDays: parseKindRetention(env.VAULT_RECORD_KINDS ?? DEFAULT_RECORD_KINDS),
    ingest: { maxBatchRecords: 5000, maxBodyBytes: 10 * 1024 * 1024 },
    logLevel: env.VAULT_LOG_LEVEL ?? 'info',
  };
}
