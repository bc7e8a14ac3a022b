import { AuditLog } from './audit/index.js';
import { createTokenVerifier, loadDevSigningKey, readJwksFile, type Principal, type TokenVerifier } from './auth/index.js';
import type { VaultConfig } from './config/index.js';
import { KeyRing, loadAead, openLocalKeyProvider, type Aead } from './crypto/index.js';
import { migrateDatabase, openDatabase, pendingMigrations, type VaultDatabase } from './db/index.js';
import { VaultError } from './errors/index.js';
import { DatasetService } from './datasets/index.js';
import { RecordIngestor, upsertRoster, type RosterResult } from './ingest/index.js';
import { loadTrustedBundleKeys, PolicyAdmin, PolicyEngine, policyPaths } from './policy/index.js';

export interface ReadinessCheck {
  readonly ok: boolean;
  readonly reason?: string;
}

/** The object graph of one vault instance, shared by the HTTP server and the CLI. */
export interface Vault {
  readonly config: VaultConfig;
  readonly database: VaultDatabase;
  readonly keyRing: KeyRing;
  readonly tokens: TokenVerifier;
  readonly ingestor: RecordIngestor;
  readonly policy: PolicyEngine;
  readonly policyAdmin: PolicyAdmin;
  readonly audit: AuditLog;
  readonly datasets: DatasetService;
  upsertRoster(actor: Principal, body: unknown): Promise<RosterResult>;
  readiness(): Promise<{ ready: boolean; checks: Record<string, ReadinessCheck> }>;
  close(): Promise<void>;
}

export interface OpenVaultOptions {
  /** Use this store instead of the configured one (tests); the vault does not migrate or close it. */
  readonly database?: VaultDatabase;
  readonly aead?: Aead;
  /** Bundle installed when no revision was ever activated; default: policies/build/bundle.tar.gz. `null`: none. */
  readonly defaultBundleFile?: string | null;
  readonly log?: (event: Record<string, unknown>, message: string) => void;
}

async function openTokenVerifier(config: VaultConfig): Promise<TokenVerifier> {
  const production = config.env === 'production';
  const { issuer, audience, jwksFile, jwksUrl } = config.jwt;
  if (jwksFile) return createTokenVerifier({ issuer, audience, keys: { jwks: await readJwksFile(jwksFile, { production }) } });
  if (jwksUrl) return createTokenVerifier({ issuer, audience, keys: { jwksUrl } });
  if (production) throw new VaultError('ERR_CONFIG', 'production refuses development signing keys: set VAULT_JWKS_FILE or VAULT_JWKS_URL');
  const dev = await loadDevSigningKey(config.dataDir);
  return createTokenVerifier({ issuer, audience, keys: { jwks: dev.jwks } });
}

async function openConfiguredDatabase(config: VaultConfig): Promise<VaultDatabase> {
  const database = await openDatabase({ url: config.databaseUrl, dataDir: config.dataDir });
  try {
    if (database.kind === 'embedded') {
      await migrateDatabase(database);
    } else {
      await assertMigrated(database);
    }
    return database;
  } catch (err) {
    await database.close();
    throw err;
  }
}

/** A server on PostgreSQL never changes the schema itself: `activity-vault migrate` does, once, on purpose. */
async function assertMigrated(database: VaultDatabase): Promise<void> {
  const pending = await pendingMigrations(database.db);
  if (pending.length > 0) {
    throw new VaultError('ERR_CONFIG', `the database schema is behind (${pending.join(', ')}); run: activity-vault migrate`);
  }
}

/** Builds a vault from configuration: keys, store, token verification, services. Fails closed on any of them. */
export async function openVault(config: VaultConfig, options: OpenVaultOptions = {}): Promise<Vault> {
  const aead = options.aead ?? (await loadAead());
  const provider = await openLocalKeyProvider({ file: config.kekFile, createIfMissing: config.env === 'development', aead });
  const keyRing = new KeyRing(aead, provider);
  let database: VaultDatabase | undefined;
  try {
    const tokens = await openTokenVerifier(config);
    database = options.database ?? (await openConfiguredDatabase(config));
    const ownsDatabase = options.database === undefined;
    const db = database;
    const audit = await AuditLog.open(db, keyRing);
    const trustedKeys = await loadTrustedBundleKeys(config);
    const policy = new PolicyEngine({
      database: db,
      trustedKeys,
      defaultBundleFile: options.defaultBundleFile === null ? undefined : (options.defaultBundleFile ?? policyPaths().defaultBundle),
      log: options.log,
    });
    await policy.start();
    const policyAdmin = new PolicyAdmin(db, trustedKeys, policy, audit, { kinds: [...config.recordKinds.keys()], maxScopeFraction: config.maxScopeFraction, log: options.log });
    const checkpoints = setInterval(() => {
      audit.checkpoint().catch((err: unknown) => options.log?.({ alarm: 'audit_checkpoint_failed', error: (err as Error).message }, 'audit checkpoint not signed'));
    }, config.auditCheckpointSeconds * 1000);
    checkpoints.unref();
    const ingestor = new RecordIngestor({
      database: db,
      keyRing,
      audit,
      recordKinds: config.recordKinds,
      maxBatchRecords: config.ingest.maxBatchRecords,
    });
    return {
      config,
      database: db,
      keyRing,
      tokens,
      ingestor,
      policy,
      policyAdmin,
      audit,
      datasets: new DatasetService({ database: db, keyRing, audit, policy, maxScopeFraction: config.maxScopeFraction, log: options.log }),
      upsertRoster: (actor, body) => upsertRoster({ database: db, keyRing, audit }, actor, body),
      async readiness() {
        const checks: Record<string, ReadinessCheck> = {
          database: (await db.ping()) ? { ok: true } : { ok: false, reason: 'database does not answer' },
          keys: await keyCheck(keyRing),
          policy: policy.readiness(),
          audit: await auditCheck(audit),
        };
        return { ready: Object.values(checks).every((c) => c.ok), checks };
      },
      async close() {
        clearInterval(checkpoints);
        await policy.stop();
        keyRing.close();
        if (ownsDatabase) await db.close();
      },
    };
  } catch (err) {
    keyRing.close();
    if (database && !options.database) await database.close();
    throw err;
  }
}

async function auditCheck(audit: AuditLog): Promise<ReadinessCheck> {
  return (await audit.headIsIntact()) ? { ok: true } : { ok: false, reason: 'the audit log head cannot be read or fails its MAC' };
}

async function keyCheck(keyRing: KeyRing): Promise<ReadinessCheck> {
  return (await keyRing.providerWorks()) ? { ok: true } : { ok: false, reason: 'key-encryption key is unavailable' };
}
