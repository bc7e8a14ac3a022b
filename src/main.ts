import { AccessGate, RefusalTally } from './access/index.js';
import { AuditLog, AuditTrail, runInAuditScope } from './audit/index.js';
import { loadClassifierLists } from './classify/index.js';
import { DEV_TOKEN_ACTION, DevTokenMint } from './console/index.js';
import { CollectionControls, ControlState, defaultManifest, IngestGate, MAX_RETENTION_DAYS, PermitSigner } from './collection/index.js';
import { createTokenVerifier, loadDevSigningKey, readJwksFile, type TokenVerifier } from './auth/index.js';
import type { VaultConfig } from './config/index.js';
import { policyPaths } from './config/paths.js';
import { KeyRing, loadAead, MonthKeys, openLocalKeyProvider, openPkcs11KeyProvider, type Aead, type KeyProvider, type RatchetAnchorStore } from './crypto/index.js';
import {
  advanceRatchetAnchor,
  anyVaultSecret,
  claimRatchetAnchor,
  countEnvelopesContaining,
  migrateDatabase,
  openDatabase,
  pendingMigrations,
  readRatchetAnchor,
  recordMonth,
  replaceUnusedRatchetAnchor,
  type VaultDatabase,
} from './db/index.js';
import { AccessReports, DatasetRequests, DatasetStreams, PageWorkers, type DatasetDeps } from './datasets/index.js';
import { loggableError, VaultError } from './errors/index.js';
import { RecordIngestor, SealWorkers, upsertRoster } from './ingest/index.js';
import { loadTrustedBundleKeys, PolicyEngine } from './policy/index.js';
import { PolicyAdmin } from './policy-admin/index.js';
import type { ReadinessCheck, VaultServices } from './services/index.js';
import { Erasures, ExposureReports, OwnRecords } from './subject-rights/index.js';
import { RetentionJob } from './retention/index.js';
import { KekRotation } from './key-lifecycle/index.js';

/**
 * One vault instance: the services the HTTP API and the CLI call, and the parts under them. Only
 * the CLI entry, `src/index.ts`, tests and benchmarks hold this; the adapters get `services`.
 */
export interface Vault {
  readonly services: VaultServices;
  readonly config: VaultConfig;
  readonly database: VaultDatabase;
  readonly keyRing: KeyRing;
  readonly audit: AuditLog;
  readonly policy: PolicyEngine;
  /** What ingest asks of the collection controls (benchmarks build their own ingestors with it). */
  readonly ingestGate: IngestGate;
  /** Erasure, and the background deletion of erased rows (tests and benchmarks run it on demand). */
  readonly erasures: Erasures;
  /** The retention job (it also runs every VAULT_MAINTENANCE_SECONDS). */
  readonly retention: RetentionJob;
  close(): Promise<void>;
}

export interface OpenVaultOptions {
  /** Use this store instead of the configured one (tests); the vault does not migrate or close it. */
  readonly database?: VaultDatabase;
  readonly aead?: Aead;
  /** Bundle installed when no revision was ever activated; default: policies/build/bundle.tar.gz. `null`: none. */
  readonly defaultBundleFile?: string | null;
  /** The operator log; alarms carry an `alarm` field. Default: alarms only, one JSON line each on stderr, so none is dropped. */
  readonly log?: (event: Record<string, unknown>, message: string) => void;
  /** The clock the dataset services judge leases by; default: the system's (tests move it to expire a lease mid-stream). */
  readonly now?: () => Date;
}

function alarmsToStderr(event: Record<string, unknown>, message: string): void {
  if (event.alarm) process.stderr.write(`${JSON.stringify({ ...event, msg: message })}\n`);
}

async function openTokenVerifier(config: VaultConfig): Promise<TokenVerifier> {
  const production = config.env === 'production';
  const { issuer, audience, jwksFile, jwksUrl, maxTtlSeconds } = config.jwt;
  if (jwksFile) return createTokenVerifier({ issuer, audience, maxTtlSeconds, keys: { jwks: await readJwksFile(jwksFile, { production }) } });
  if (jwksUrl) return createTokenVerifier({ issuer, audience, maxTtlSeconds, keys: { jwksUrl } });
  if (production) throw new VaultError('ERR_CONFIG', 'production refuses development signing keys: set VAULT_JWKS_FILE or VAULT_JWKS_URL');
  const dev = await loadDevSigningKey(config.dataDir);
  return createTokenVerifier({ issuer, audience, maxTtlSeconds, keys: { jwks: dev.jwks } });
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

/** A new store's month ratchet starts at the oldest month any manifest may keep (MAX_RETENTION_DAYS back). */
const firstKeptMonth = (): string => recordMonth(new Date(Date.now() - MAX_RETENTION_DAYS * 86_400_000));

/** The month ratchet's anchor lives in the database; the ratchet itself beside the KEK. */
function ratchetAnchors(database: VaultDatabase): RatchetAnchorStore {
  return {
    read: () => readRatchetAnchor(database.db),
    claim: (anchor) => claimRatchetAnchor(database.db, anchor),
    advance: (anchor) => advanceRatchetAnchor(database.db, anchor),
    replaceIfUnused: (expected, next) => replaceUnusedRatchetAnchor(database.db, expected, next),
  };
}

/**
 * The KEK's home. Development creates key material on first run (a KEK file, or a KEK in the
 * token); production never does: the KEK must exist before the vault starts.
 */
async function openKeyProvider(config: VaultConfig, aead: Aead): Promise<KeyProvider> {
  const createIfMissing = config.env === 'development';
  const p = config.keyProvider;
  if (p.kind === 'local') return openLocalKeyProvider({ file: config.kekFile, createIfMissing, aead });
  return openPkcs11KeyProvider({ module: p.module, pinFile: p.pinFile, keyLabel: p.keyLabel, createIfMissing, ...(p.slot !== undefined ? { slot: p.slot } : {}), ...(p.tokenLabel ? { tokenLabel: p.tokenLabel } : {}) });
}

/** Fails with the provider's own words (a wrong VAULT_KEK_FILE, say) when the store's secrets are under a KEK it does not hold. */
async function assertStoreKek(database: VaultDatabase, provider: KeyProvider): Promise<void> {
  const secret = await anyVaultSecret(database.db);
  if (secret) (await provider.unwrapSecret(secret.name, secret.wrapped)).fill(0);
}

/** Builds a vault from configuration: keys, store, token verification, services. Fails closed on any of them. */
export async function openVault(config: VaultConfig, opened: OpenVaultOptions = {}): Promise<Vault> {
  const options = { ...opened, log: opened.log ?? alarmsToStderr };
  const aead = options.aead ?? (await loadAead());
  const provider = await openKeyProvider(config, aead);
  let openedKeyRing: KeyRing | undefined;
  let database: VaultDatabase | undefined;
  let auditLog: AuditLog | undefined;
  let openedControls: ControlState | undefined;
  let pageWorkers: PageWorkers | undefined;
  let sealWorkers: SealWorkers | undefined;
  try {
    const tokens = await openTokenVerifier(config);
    const builtinClassifierLists = await loadClassifierLists();
    database = options.database ?? (await openConfiguredDatabase(config));
    const ownsDatabase = options.database === undefined;
    const db = database;
    await assertStoreKek(db, provider);
    const anchors = ratchetAnchors(db);
    const months = await MonthKeys.open(aead, provider, anchors, firstKeptMonth());
    const keyRing = new KeyRing(aead, provider, { months });
    openedKeyRing = keyRing;
    const audit = await AuditLog.open(db, keyRing, { witness: config.auditWitness, log: options.log });
    auditLog = audit;
    const trustedKeys = await loadTrustedBundleKeys(config);
    const policy = new PolicyEngine({
      database: db,
      trustedKeys,
      defaultBundleFile: options.defaultBundleFile === null ? undefined : (options.defaultBundleFile ?? policyPaths().defaultBundle),
      builtinClassifierLists,
      log: options.log,
    });
    await policy.start();
    const checkpoints = setInterval(() => {
      audit.checkpoint().catch((err: unknown) => options.log({ alarm: 'audit_checkpoint_failed', error: loggableError(err) }, 'audit checkpoint not signed'));
    }, config.auditCheckpointSeconds * 1000);
    checkpoints.unref();
    const knownKinds = new Set(config.recordKinds.keys());
    const controls = new ControlState(db);
    openedControls = controls;
    await controls.start();
    const collection = new CollectionControls({ database: db, audit, state: controls, permits: await PermitSigner.open(db, keyRing, config.jwt.issuer), knownKinds });
    await collection.installDefaultManifest(defaultManifest(knownKinds, config.recordRetentionDays));
    const ingestGate = new IngestGate(controls);
    pageWorkers = db.url && config.pageWorkers > 0 ? new PageWorkers({ databaseUrl: db.url, aead: aead.name, size: config.pageWorkers, log: options.log }) : undefined;
    sealWorkers = config.ingestWorkers > 0 ? new SealWorkers({ aead: aead.name, size: config.ingestWorkers, log: options.log }) : undefined;
    const datasetDeps: DatasetDeps = {
      database: db,
      keyRing,
      audit,
      policy,
      maxScopeFraction: config.maxScopeFraction,
      exports: controls,
      pageWorkers,
      log: options.log,
      ...(options.now ? { now: options.now } : {}),
    };
    const [requests, streams, reports] = [new DatasetRequests(datasetDeps), new DatasetStreams(datasetDeps), new AccessReports(datasetDeps)];
    const access = new AccessGate(tokens, audit, { log: options.log });
    // Refused development mints are anonymous too: tallied like the gate's 401s, but each tally is an alarm.
    const mintRefusals = new RefusalTally({
      write: (events) => audit.appendManyAlone(events),
      action: DEV_TOKEN_ACTION,
      severity: 'high',
      log: options.log,
    });
    const erasures = new Erasures({ database: db, audit, forgetKeys: (employeeId) => keyRing.forgetEmployee(employeeId), log: options.log });
    const retention = new RetentionJob({ database: db, audit, keyRing, anchors, manifest: () => controls.inForce().document, log: options.log });
    const rotation = new KekRotation({ database: db, keyRing, audit, anchors, batchSize: config.keyRotationBatch });
    // What another instance did to the keys reaches this one's with the change event (NOTIFY, or
    // the 250 ms poll): an erasure zeroes the employee's cached keys, an expiry the months', a
    // rotation loads the new KEK (or lets the retired one go).
    const alarm = (name: string, message: string) => (err: unknown) => options.log({ alarm: name, error: loggableError(err) }, message);
    const unsubscribeKeys = controls.subscribe((events) => {
      for (const e of events) if (e.type === 'erased' && e.employeeId) keyRing.forgetEmployee(e.employeeId);
      if (events.some((e) => e.type === 'months_expired')) {
        months
          .reload(anchors)
          .then(() => keyRing.forgetMonthsBefore(months.base))
          .catch(alarm('month_keys_reload_failed', 'expired months not reloaded'));
      }
      if (events.some((e) => e.type === 'kek_rotation' || e.type === 'kek_retired')) keyRing.refreshKeks().catch(alarm('kek_refresh_failed', 'KEKs not reloaded after a rotation'));
    });
    const upkeep = () => {
      erasures.deleteInBackground();
      retention.run().catch(alarm('retention_failed', 'retention run failed'));
    };
    upkeep();
    const maintenance = setInterval(upkeep, config.maintenanceSeconds * 1000);
    maintenance.unref();
    const ownRecords = new OwnRecords({ database: db, keyRing, audit });
    const exposure = new ExposureReports({ database: db, audit, policy, requests, kinds: [...knownKinds] });
    const services: VaultServices = {
      settings: {
        host: config.host,
        port: config.port,
        logLevel: config.logLevel,
        maxBodyBytes: config.ingest.maxBodyBytes,
        maxBatchRecords: config.ingest.maxBatchRecords,
        recordKinds: [...knownKinds],
        sseHeartbeatMs: config.sseHeartbeatSeconds * 1000,
      },
      access,
      edgeAudit: {
        runInScope: runInAuditScope,
        record: async (event) => void (await audit.appendAlone(event)),
        employeeRef: (employeeId) => audit.employeeRef(employeeId),
      },
      ingest: new RecordIngestor({
        database: db,
        keyRing,
        audit,
        recordKinds: config.recordKinds,
        maxBatchRecords: config.ingest.maxBatchRecords,
        classifier: () => policy.classifierInForce(),
        storeLevel4: config.storeLevel4,
        collection: ingestGate,
        sealWorkers,
      }),
      collection,
      roster: { upsert: (actor, body) => upsertRoster({ database: db, audit }, actor, body) },
      datasets: {
        request: (principal, body) => requests.request(principal, body),
        openStream: (principal, datasetId, request) => streams.openStream(principal, datasetId, request),
        load: () => streams.load(),
        accessReport: (principal, employeeId) => reports.accessReport(principal, employeeId),
      },
      subjectRights: {
        erase: (principal, employeeId) => erasures.erase(principal, employeeId),
        open: (principal, employeeId, query) => ownRecords.open(principal, employeeId, query),
        exposure: (principal, employeeId) => exposure.exposure(principal, employeeId),
      },
      policyAdmin: new PolicyAdmin(db, trustedKeys, policy, audit, { kinds: [...config.recordKinds.keys()], maxScopeFraction: config.maxScopeFraction, log: options.log }),
      auditTrail: new AuditTrail(audit, { log: options.log }),
      keys: rotation,
      retention: { totals: () => retention.totals(), run: () => retention.run() },
      devTokens: new DevTokenMint({
        env: config.env,
        jwksConfigured: Boolean(config.jwt.jwksFile || config.jwt.jwksUrl),
        enabled: config.consoleDevToken,
        dataDir: config.dataDir,
        issuer: config.jwt.issuer,
        audience: config.jwt.audience,
        maxTtlSeconds: config.jwt.maxTtlSeconds,
        audit,
        refusals: mintRefusals,
      }),
      leakProbe: { rowsContaining: (bytes) => countEnvelopesContaining(db.db, bytes) },
      async readiness() {
        const checks: Record<string, ReadinessCheck> = {
          database: (await db.ping()) ? { ok: true } : { ok: false, reason: 'database does not answer' },
          keys: await keyCheck(keyRing),
          policy: policy.readiness(),
          collection: controls.readiness(),
          audit: await auditCheck(audit),
          refusal_audit: mintRefusals.healthy ? access.refusalAuditCheck() : { ok: false, reason: 'refused requests cannot be written to the audit log' },
          witness: await audit.witnessStatus(),
        };
        return { ready: Object.values(checks).every((c) => c.ok), checks };
      },
      facts: () => ({ env: config.env, store: db.kind, dataDir: config.dataDir, kekId: keyRing.kekId, aead: keyRing.aeadName, policyRevision: policy.revision }),
    };
    return {
      services,
      config,
      database: db,
      keyRing,
      audit,
      policy,
      ingestGate,
      erasures,
      retention,
      async close() {
        clearInterval(checkpoints);
        clearInterval(maintenance);
        unsubscribeKeys();
        await retention.settled();
        await erasures.settled();
        await controls.stop();
        await access.close();
        await mintRefusals.close();
        await pageWorkers?.close();
        await sealWorkers?.close();
        await policy.stop();
        await audit.close();
        keyRing.close();
        if (ownsDatabase) await db.close();
      },
    };
  } catch (err) {
    await pageWorkers?.close();
    await sealWorkers?.close();
    await openedControls?.stop();
    await auditLog?.close();
    if (openedKeyRing) openedKeyRing.close();
    else provider.close();
    if (database && !options.database) await database.close();
    throw err;
  }
}

/** `activity-vault migrate`: applies pending migrations to the configured store; returns their names. */
export async function migrateConfiguredStore(config: VaultConfig): Promise<string[]> {
  const database = await openDatabase({ url: config.databaseUrl, dataDir: config.dataDir });
  try {
    return await migrateDatabase(database);
  } finally {
    await database.close();
  }
}

async function auditCheck(audit: AuditLog): Promise<ReadinessCheck> {
  return (await audit.headIsIntact()) ? { ok: true } : { ok: false, reason: 'the audit log head cannot be read or fails its MAC' };
}

async function keyCheck(keyRing: KeyRing): Promise<ReadinessCheck> {
  return (await keyRing.providerWorks()) ? { ok: true } : { ok: false, reason: 'key-encryption key is unavailable' };
}
