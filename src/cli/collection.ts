import fs from 'node:fs/promises';
import type { Command } from 'commander';
import type { EmployeeCaptureState, ProgramStatus } from '../client/index.js';
import { VaultError } from '../errors/index.js';
import { emit, EXIT_OK, type Run, wantsJson } from './output.js';
import { vaultClient } from './server.js';
import { registerSubjectRightsCommands } from './subject-rights.js';

const connection = (group: Command, role: string): Command =>
  group.option('--url <url>', 'vault base URL (default: VAULT_URL or http://127.0.0.1:8080)').option('--token <jwt>', `${role} token (default: VAULT_TOKEN)`);

function captureText(s: EmployeeCaptureState): string {
  if (s.opted_out) return `${s.employee_id}: opted out; nothing is captured until they opt back in`;
  if (s.paused) return `${s.employee_id}: paused until ${s.paused_until}; records captured until then are dropped whenever they arrive`;
  return `${s.employee_id}: capturing`;
}

function programText(s: ProgramStatus & { resumed?: boolean }): string {
  const line = (name: string, p: ProgramStatus['collection']) =>
    p.paused ? `${name}: PAUSED since ${p.since} by ${p.paused_by}: ${p.reason}${p.resume_requested_by ? ` (resume requested by ${p.resume_requested_by}; a second person must confirm)` : ''}` : `${name}: running`;
  return `${line('collection', s.collection)}\n${line('exports', s.exports)}`;
}

function minutesOf(text: string | undefined): number | undefined {
  if (text === undefined) return undefined;
  if (!/^\d{1,3}$/.test(text)) throw new VaultError('ERR_INVALID_REQUEST', '--minutes must be a whole number of minutes (1-120)');
  return Number(text);
}

/** `employee pause|resume|opt-out|opt-in|consent` (and the rights commands), `program pause|freeze|resume|status`, `collection manifest show|push`. */
export function registerCollectionCommands(program: Command, run: Run): void {
  const employee = connection(
    program.command('employee').description("an employee's capture (pauses, opt-out, consent) and rights (erasure, their own copy, exposure): the employee's own token, or a privacy officer's"),
    'employee or privacy-officer',
  );
  registerSubjectRightsCommands(employee, run);

  employee
    .command('pause')
    .description('stop capture for N minutes from now (default 30, at most 120); what is captured meanwhile is dropped whenever it arrives')
    .argument('<employee-id>')
    .option('--minutes <n>', 'pause length, 1-120')
    .action(
      run(async (employeeId: string, opts: { minutes?: string }, command: Command) => {
        const state = await vaultClient(command).pauseEmployee(employeeId, minutesOf(opts.minutes));
        emit(wantsJson(command), state, captureText(state));
        return EXIT_OK;
      }),
    );

  employee
    .command('resume')
    .description('end the running pause now')
    .argument('<employee-id>')
    .action(
      run(async (employeeId: string, _opts, command: Command) => {
        const state = await vaultClient(command).endEmployeePause(employeeId);
        emit(wantsJson(command), state, captureText(state));
        return EXIT_OK;
      }),
    );

  for (const [name, optedOut, description] of [
    ['opt-out', true, 'stop capture until the employee opts back in'],
    ['opt-in', false, 'end an opt-out'],
  ] as const) {
    employee
      .command(name)
      .description(description)
      .argument('<employee-id>')
      .action(
        run(async (employeeId: string, _opts, command: Command) => {
          const state = await vaultClient(command).setOptOut(employeeId, optedOut);
          emit(wantsJson(command), state, captureText(state));
          return EXIT_OK;
        }),
      );
  }

  employee
    .command('consent')
    .description('which manifest version the employee consented to, and which kinds need fresh consent')
    .argument('<employee-id>')
    .action(
      run(async (employeeId: string, _opts, command: Command) => {
        const c = await vaultClient(command).consent(employeeId);
        const text = c.consented_version === null ? `${employeeId}: no consent recorded` : `${employeeId}: consented to manifest version ${c.consented_version} at ${c.consented_at}; in force: version ${c.manifest_version}`;
        emit(wantsJson(command), c, `${text}${c.kinds_needing_consent.length ? `\nneeds fresh consent for: ${c.kinds_needing_consent.join(', ')}` : ''}`);
        return EXIT_OK;
      }),
    );

  const programGroup = connection(program.command('program').description('the kill switch and the export freeze (security-admin or privacy-officer)'), 'security-admin or privacy-officer');
  const reasonRequired = (c: Command) => c.requiredOption('--reason <text>', 'why: written to the audit log and shown in the status');

  reasonRequired(programGroup.command('pause').description('stop all collection on every instance within a second; records captured from now are dropped whenever they arrive')).action(
    run(async (opts: { reason: string }, command: Command) => {
      const status = await vaultClient(command).pauseProgram(opts.reason, 'collection');
      emit(wantsJson(command), status, programText(status));
      return EXIT_OK;
    }),
  );

  reasonRequired(programGroup.command('freeze').description('freeze exports: no dataset is granted or streamed, open streams are cut; resuming needs a second person')).action(
    run(async (opts: { reason: string }, command: Command) => {
      const status = await vaultClient(command).pauseProgram(opts.reason, 'exports');
      emit(wantsJson(command), status, programText(status));
      return EXIT_OK;
    }),
  );

  reasonRequired(programGroup.command('resume').description('resume collection; with --exports, request (or, as a second person, confirm) the end of an export freeze'))
    .option('--exports', 'resume exports instead of collection')
    .action(
      run(async (opts: { reason: string; exports?: boolean }, command: Command) => {
        const status = await vaultClient(command).resumeProgram(opts.reason, opts.exports ? 'exports' : 'collection');
        const note = status.resumed ? '' : '\nresume requested: a second person must run the same command to confirm it';
        emit(wantsJson(command), status, `${programText(status)}${note}`);
        return EXIT_OK;
      }),
    );

  programGroup
    .command('status')
    .description('paused or not, since when, why')
    .action(
      run(async (_opts, command: Command) => {
        const status = await vaultClient(command).programStatus();
        emit(wantsJson(command), status, programText(status));
        return EXIT_OK;
      }),
    );

  const manifest = connection(program.command('collection').description('what the program collects'), 'any role (privacy-officer to push)')
    .command('manifest')
    .description('the collection manifest: show the version in force, push a new one');

  manifest
    .command('show')
    .description('the manifest in force, in plain language (--json: the document)')
    .action(
      run(async (_opts, command: Command) => {
        const view = await vaultClient(command).collectionManifest();
        emit(wantsJson(command), view, view.plain_language.join('\n'));
        return EXIT_OK;
      }),
    );

  manifest
    .command('push')
    .description('store FILE (JSON) as the next manifest version; --base-version refuses it unless that version is in force')
    .argument('<file>')
    .option('--base-version <n>', 'the version this edit starts from')
    .action(
      run(async (file: string, opts: { baseVersion?: string }, command: Command) => {
        let document: unknown;
        try {
          document = JSON.parse(await fs.readFile(file, 'utf8'));
        } catch (err) {
          throw new VaultError('ERR_INVALID_REQUEST', `${file} is not a readable JSON file: ${(err as Error).message}`);
        }
        if (opts.baseVersion !== undefined) {
          if (!/^\d{1,10}$/.test(opts.baseVersion)) throw new VaultError('ERR_INVALID_REQUEST', '--base-version must be a version number');
          document = { ...(document as object), base_version: Number(opts.baseVersion) };
        }
        const result = await vaultClient(command).putCollectionManifest(document);
        const consent = result.diff?.needs_fresh_consent.length ? `\nneeds fresh consent: ${result.diff.needs_fresh_consent.join(', ')} (records of these kinds are dropped until employees consent)` : '';
        emit(wantsJson(command), result, result.unchanged ? `unchanged: version ${result.version} is in force` : `version ${result.version} in force${consent}`);
        return EXIT_OK;
      }),
    );
}
