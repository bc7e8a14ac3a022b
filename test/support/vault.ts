import { randomUUID } from 'node:crypto';
import fs from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import type { FastifyInstance } from 'fastify';
import { loadDevSigningKey, type Role } from '../../src/auth/index.js';
import { DEFAULT_RECORD_KINDS, loadConfig, type VaultConfig } from '../../src/config/index.js';
import type { VaultDatabase } from '../../src/db/index.js';
import { buildHttpServer } from '../../src/http/index.js';
import { openVault, type Vault } from '../../src/main.js';
import { freshDatabase, type FreshDatabase } from './database.js';

export interface TestVault {
  readonly config: VaultConfig;
  readonly vault: Vault;
  readonly app: FastifyInstance;
  readonly database: VaultDatabase;
  readonly fresh: FreshDatabase | undefined;
  /** Every log line the HTTP server wrote, at debug level and above. */
  readonly logs: string[];
  readonly dataDir: string;
  token(role: Role, claims?: { sub?: string; teams?: string[]; purpose?: string }): Promise<string>;
  close(): Promise<void>;
}

/**
 * The default kinds, kept ten years: tests send records at fixed dates, and the default manifest's
 * 180 days would expire them as the calendar moves on. Retention tests set their own manifest.
 */
export const TEST_RECORD_KINDS = DEFAULT_RECORD_KINDS.split(',').map((k) => `${k}:3650`).join(',');

/**
 * The key provider the environment asks for: CI runs the key-hierarchy, erasure, rotation and
 * retention suites a second time against SoftHSM2 (`VAULT_KEY_PROVIDER=pkcs11`). Each vault gets a
 * KEK label of its own (from its data directory), so vaults sharing the token never share a KEK.
 */
export function keyProviderEnv(dataDir: string): Record<string, string> {
  if (process.env.VAULT_KEY_PROVIDER !== 'pkcs11') return {};
  const passed = Object.entries(process.env).filter(([k, v]) => v !== undefined && (k === 'VAULT_KEY_PROVIDER' || k === 'SOFTHSM2_CONF' || k.startsWith('VAULT_PKCS11_')));
  return { ...(Object.fromEntries(passed) as Record<string, string>), VAULT_PKCS11_KEY_LABEL: `vault-test-${path.basename(dataDir)}` };
}

export async function tempDir(prefix = 'vault-test-'): Promise<string> {
  return fs.mkdtemp(path.join(os.tmpdir(), prefix));
}

/**
 * A vault on a fresh database (or the one given), with the development signing key for tokens.
 * A second instance of the same vault passes the first one's `database` and `dataDir` (same KEK).
 */
export async function startTestVault(
  options: { database?: VaultDatabase; env?: Record<string, string>; noDefaultBundle?: boolean; dataDir?: string; now?: () => Date } = {},
): Promise<TestVault> {
  const dataDir = options.dataDir ?? (await tempDir());
  const config = loadConfig({ VAULT_DATA_DIR: dataDir, VAULT_RECORD_KINDS: TEST_RECORD_KINDS, ...keyProviderEnv(dataDir), ...options.env });
  const fresh = options.database ? undefined : await freshDatabase();
  const database = options.database ?? fresh!.database;
  const logs: string[] = [];
  const vault = await openVault(config, {
    database,
    ...(options.noDefaultBundle ? { defaultBundleFile: null } : {}),
    ...(options.now ? { now: options.now } : {}),
    log: (event, msg) => void logs.push(JSON.stringify({ ...event, msg })),
  });
  const app = await buildHttpServer(vault.services, { logger: { level: 'debug', stream: { write: (line: string) => void logs.push(line) } } });
  const dev = await loadDevSigningKey(dataDir);
  return {
    config,
    vault,
    app,
    database,
    fresh,
    logs,
    dataDir,
    token: (role, claims = {}) =>
      dev.sign({
        sub: claims.sub ?? `${role}-1`,
        roles: [role],
        teams: claims.teams ?? [],
        ...(claims.purpose ? { purpose: claims.purpose } : {}),
        issuer: config.jwt.issuer,
        audience: config.jwt.audience,
        ttlSeconds: 600,
      }),
    async close() {
      await app.close();
      await vault.close();
      await fresh?.drop();
      if (!options.dataDir) await fs.rm(dataDir, { recursive: true, force: true });
    },
  };
}

export interface RosterMember {
  employee_id: string;
  org_unit: string;
  region?: string;
  enrolled?: boolean;
}

export async function putRoster(t: TestVault, members: RosterMember[]): Promise<void> {
  const response = await t.app.inject({
    method: 'PUT',
    url: '/v1/employees',
    headers: { authorization: `Bearer ${await t.token('privacy-officer')}` },
    payload: { employees: members.map((m) => ({ region: 'eu-west', enrolled: true, ...m })) },
  });
  if (response.statusCode !== 200) throw new Error(`roster upsert failed: ${response.statusCode} ${response.body}`);
}

export interface RecordInput {
  event_id: string;
  employee_id: string;
  captured_at: string;
  kind: string;
  payload: unknown;
  sensitivity?: number;
}

/** `count` records spread over `employeeIds`, each payload carrying `text`. */
export function makeRecords(count: number, employeeIds: string[], text: string, overrides: Partial<RecordInput> = {}): RecordInput[] {
  const base = Date.parse('2026-11-20T08:00:00Z');
  return Array.from({ length: count }, (_, i) => ({
    event_id: randomUUID(),
    employee_id: employeeIds[i % employeeIds.length]!,
    captured_at: new Date(base + i * 1000).toISOString(),
    kind: 'keystroke',
    payload: { window: 'editor', text: `${text} #${i}` },
    ...overrides,
  }));
}

export async function postRecords(t: TestVault, records: unknown, token?: string) {
  return t.app.inject({
    method: 'POST',
    url: '/v1/records',
    headers: { authorization: `Bearer ${token ?? (await t.token('ingest-agent'))}` },
    payload: { records },
  });
}

/** Listens on an ephemeral port of 127.0.0.1 and returns the base URL, for clients outside inject. */
export async function listenUrl(t: Pick<TestVault, 'app'>): Promise<string> {
  await t.app.listen({ host: '127.0.0.1', port: 0 });
  return `http://127.0.0.1:${(t.app.server.address() as { port: number }).port}`;
}
