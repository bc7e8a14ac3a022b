#!/usr/bin/env node
import { Command, CommanderError, Option } from 'commander';
import { loadDevSigningKey, ROLES } from '../auth/index.js';
import { loadConfig } from '../config/index.js';
import { VaultError } from '../errors/index.js';
import { buildHttpServer } from '../http/index.js';
import { migrateConfiguredStore, openVault } from '../main.js';
import { withLocalVault, type OpenLocalVault } from './vault.js';
import { ingestNdjsonFile } from './ingest-file.js';
import { localOperator, emit, EXIT_OK, EXIT_REFUSED, EXIT_USAGE, fail, wantsJson } from './output.js';
import { registerPolicyCommands } from './policy.js';
import { registerAuditCommands } from './audit.js';
import { registerCollectionCommands } from './collection.js';
import { runDemo } from './demo.js';
import { boundServerHeap } from './heap.js';

type Action = (...args: any[]) => Promise<number>;

/** Wraps a command so that every outcome becomes an exit code: 0 done, else the error code's (see `fail`). */
function run(action: Action) {
  return async (...args: unknown[]): Promise<void> => {
    const command = args[args.length - 1] as Command;
    const json = wantsJson(command);
    try {
      process.exitCode = await action(...args);
    } catch (err) {
      process.exitCode = fail(json, err);
    }
  };
}

const openLocalVault: OpenLocalVault = () => openVault(loadConfig());

const program = new Command('activity-vault')
  .description('Encrypted, policy-gated, audited vault for employee activity telemetry')
  .option('--json', 'machine-readable output')
  .showHelpAfterError()
  .exitOverride();

program
  .command('serve')
  .description('run the HTTP API (migrates the embedded database; PostgreSQL needs `migrate` first)')
  .action(
    run(async () => {
      const config = loadConfig();
      boundServerHeap();
      // The vault's own events (policy swaps, alarms) go to the server's log once it exists.
      let log = (event: Record<string, unknown>, message: string): void => void process.stderr.write(`${JSON.stringify({ ...event, msg: message })}\n`);
      const vault = await openVault(config, { log: (event, message) => log(event, message) });
      const app = await buildHttpServer(vault.services);
      log = (event, message) => (event.alarm ? app.log.warn(event, message) : app.log.info(event, message));
      const stop = async (): Promise<void> => {
        await app.close();
        await vault.close();
      };
      process.once('SIGINT', () => void stop());
      process.once('SIGTERM', () => void stop());
      try {
        await app.listen({ host: config.host, port: config.port });
      } catch (err) {
        await stop();
        throw err;
      }
      const facts = vault.services.facts();
      const store = facts.store === 'embedded' ? `embedded database in ${facts.dataDir}` : 'PostgreSQL';
      app.log.info({ store, env: facts.env, kek: facts.kekId, aead: facts.aead }, 'activity-vault ready');
      await new Promise<void>((resolve) => app.server.once('close', resolve));
      return EXIT_OK;
    }),
  );

program
  .command('migrate')
  .description('apply pending schema migrations to VAULT_DATABASE_URL (or the embedded database)')
  .action(
    run(async (_opts, command: Command) => {
      const applied = await migrateConfiguredStore(loadConfig());
      emit(wantsJson(command), { applied }, applied.length ? `applied: ${applied.join(', ')}` : 'schema is up to date');
      return EXIT_OK;
    }),
  );

program
  .command('ingest')
  .description('bulk-load an NDJSON file of records (one record object per line) through the same checks as POST /v1/records')
  .argument('<file>', 'NDJSON file')
  .action(
    run(async (file: string, _opts, command: Command) => {
      const json = wantsJson(command);
      return withLocalVault(openLocalVault, async (services) => {
        const s = await ingestNdjsonFile(services, file, { showProgress: !json });
        const rate = Math.round(s.lines / Math.max(s.seconds, 1e-9));
        const text = [
          `${s.accepted} accepted, ${s.duplicates} duplicates, ${s.dropped} dropped, ${s.rejected.length} rejected of ${s.lines} lines in ${s.seconds.toFixed(1)} s (${rate} lines/s)`,
          ...s.rejected.slice(0, 20).map((r) => `  line ${r.line}: ${r.error}: ${r.message}`),
          ...(s.rejected.length > 20 ? [`  ... and ${s.rejected.length - 20} more`] : []),
        ].join('\n');
        emit(json, s, text);
        return s.rejected.length === 0 ? EXIT_OK : EXIT_REFUSED;
      });
    }),
  );

const keys = program.command('keys').description('key hierarchy: KEKs, data keys, rotation');
keys
  .command('status')
  .description('KEKs held and active, data keys live and destroyed per KEK, month keys kept, the rotation running or last run')
  .action(
    run(async (_opts, command: Command) =>
      withLocalVault(openLocalVault, async (services) => {
        const s = await services.keys.status(localOperator('security-admin'));
        const rotation = s.rotation
          ? s.rotation.finished_at
            ? `last rotation ${s.rotation.rotation_id} to ${s.rotation.to_kek} finished ${s.rotation.finished_at} (${s.rotation.keys_rewrapped} keys, ${s.rotation.secrets_rewrapped} secrets rewrapped)`
            : `ROTATION RUNNING ${s.rotation.rotation_id} since ${s.rotation.started_at} to ${s.rotation.to_kek}: ${s.rotation.keys_rewrapped} keys rewrapped, ${s.rotation.keys_remaining} to go; run \`activity-vault keys rotate\` to resume it`
          : 'no rotation yet';
        const perKek = Object.entries(s.live_keys_by_kek).map(([kek, n]) => `  ${kek}: ${n} live data keys`);
        emit(
          wantsJson(command),
          s,
          [
            `KEK ${s.kek_id} (${s.aead} libsodium)${s.keks_held.length > 1 ? `; also held: ${s.keks_held.slice(1).join(', ')}` : ''}`,
            `employees ${s.employees}, data keys live ${s.live_keys}, destroyed ${s.destroyed_keys}`,
            ...perKek,
            `month keys from ${s.month_keys_from} (earlier months expired)`,
            rotation,
          ].join('\n'),
        );
        return EXIT_OK;
      }),
    ),
  );
keys
  .command('rotate')
  .description('create a new KEK and rewrap every data key and vault secret under it while the vault serves; resumes a rotation that was cut; the old KEK is retired at the end')
  .action(
    run(async (_opts, command: Command) =>
      withLocalVault(openLocalVault, async (services) => {
        const r = await services.keys.rotate(localOperator('security-admin'), (n) => process.stderr.write(`rewrapped ${n} data keys\n`));
        emit(
          wantsJson(command),
          r,
          `rotated to ${r.to_kek} in ${(r.duration_ms / 1000).toFixed(1)} s: ${r.keys_rewrapped} data keys, ${r.secrets_rewrapped} vault secrets, ${r.leases_rewrapped} dataset secrets rewrapped; retired ${r.from_keks.join(', ') || 'none'}`,
        );
        return EXIT_OK;
      }),
    ),
  );

program
  .command('demo')
  .description('the whole story in under a minute on a throwaway embedded vault: encrypted ingest, a permitted dataset streamed, a denied request, the audit trail')
  .option('--data-dir <dir>', 'keep the demo vault in this directory instead of a temporary one')
  .option('--records-per-employee <n>', 'records per employee (100 employees)', '40')
  .action(
    run(async (opts: { dataDir?: string; recordsPerEmployee: string }, command: Command) => {
      const perEmployee = Number(opts.recordsPerEmployee);
      if (!Number.isInteger(perEmployee) || perEmployee < 1 || perEmployee > 1000) {
        process.stderr.write('activity-vault: --records-per-employee must be 1-1000\n');
        return EXIT_USAGE;
      }
      const json = wantsJson(command);
      const summary = await runDemo(openVault, { dataDir: opts.dataDir, recordsPerEmployee: perEmployee, write: json ? () => {} : undefined });
      if (json) emit(true, summary, '');
      return summary.streamedOutsideGrant === 0 && summary.markerFoundInStore === 0 && summary.auditIntact ? EXIT_OK : EXIT_REFUSED;
    }),
  );

registerPolicyCommands(program, run, openLocalVault);
registerAuditCommands(program, run);
registerCollectionCommands(program, run);

const token = program.command('token').description('development tokens');
token
  .command('mint')
  .description('sign a token with the development key in VAULT_DATA_DIR (refused in production)')
  .requiredOption('--sub <id>', 'subject (an employee id for the employee role)')
  .addOption(new Option('--role <role...>', 'role(s)').choices([...ROLES]).makeOptionMandatory())
  .option('--team <team...>', 'research team id(s)')
  .option('--purpose <purpose>', 'purpose (required for training-job)')
  .option('--ttl <seconds>', 'lifetime in seconds', '3600')
  .action(
    run(async (opts: { sub: string; role: string[]; team?: string[]; purpose?: string; ttl: string }, command: Command) => {
      const config = loadConfig();
      if (config.env === 'production') throw new VaultError('ERR_FORBIDDEN', 'token mint uses the development key and is refused in production');
      const ttlSeconds = Number(opts.ttl);
      if (!Number.isInteger(ttlSeconds) || ttlSeconds <= 0 || ttlSeconds > 86_400) {
        process.stderr.write('activity-vault: --ttl must be 1-86400 seconds\n');
        return EXIT_USAGE;
      }
      const key = await loadDevSigningKey(config.dataDir);
      const jwt = await key.sign({
        sub: opts.sub,
        roles: opts.role,
        teams: opts.team ?? [],
        ...(opts.purpose ? { purpose: opts.purpose } : {}),
        issuer: config.jwt.issuer,
        audience: config.jwt.audience,
        ttlSeconds,
      });
      emit(wantsJson(command), { token: jwt, kid: key.kid, expires_in: ttlSeconds }, jwt);
      return EXIT_OK;
    }),
  );

try {
  await program.parseAsync(process.argv);
} catch (err) {
  if (err instanceof CommanderError) {
    process.exitCode = err.code === 'commander.helpDisplayed' || err.code === 'commander.version' || err.code === 'commander.help' ? EXIT_OK : EXIT_USAGE;
  } else {
    process.exitCode = fail(false, err);
  }
}
