import type { Command } from 'commander';
import type { AccessReport, AuditEventsQuery, AuditPage } from '../client/index.js';
import { emit, EXIT_OK, EXIT_REFUSED, EXIT_USAGE, type Run, table, wantsJson } from './output.js';
import { vaultClient } from './server.js';

interface QueryOptions {
  actor?: string;
  team?: string;
  employeeId?: string;
  action?: string;
  decision?: string;
  from?: string;
  to?: string;
  limit: string;
  cursor?: string;
  all?: boolean;
  format: string;
}

const CSV_COLUMNS: ReadonlyArray<keyof AuditPage['events'][number]> = ['seq', 'occurred_at', 'action', 'decision', 'severity', 'actor', 'teams', 'purpose', 'employee_ref', 'policy_revision', 'record_count', 'decision_id', 'details', 'hash'];

function csvCell(value: unknown): string {
  const text = value === null || value === undefined ? '' : typeof value === 'object' ? JSON.stringify(value) : String(value);
  return /[",\n\r]/.test(text) ? `"${text.replaceAll('"', '""')}"` : text;
}

export function registerAuditCommands(program: Command, run: Run): void {
  const audit = program
    .command('audit')
    .description('the access log, for auditors')
    .option('--url <url>', 'vault base URL (default: VAULT_URL or http://127.0.0.1:8080)')
    .option('--token <jwt>', 'auditor token (default: VAULT_TOKEN)');

  audit
    .command('query')
    .description('events, newest first, filtered; --all follows the cursor to the end')
    .option('--actor <sub>')
    .option('--team <team>')
    .option('--employee-id <id>')
    .option('--action <action>')
    .option('--decision <decision>', 'allow | deny | info | error')
    .option('--from <time>', 'RFC 3339')
    .option('--to <time>', 'RFC 3339')
    .option('--limit <n>', 'events per page (1-1000)', '100')
    .option('--cursor <cursor>', 'continue after a previous page')
    .option('--all', 'fetch every page')
    .option('--format <format>', 'json | csv', 'json')
    .action(
      run(async (opts: QueryOptions, command: Command) => {
        if (opts.format !== 'json' && opts.format !== 'csv') {
          process.stderr.write('activity-vault: --format must be json or csv\n');
          return EXIT_USAGE;
        }
        // The vault checks every filter: a bad --limit or --decision comes back as invalid_request (exit 2).
        const query: AuditEventsQuery = {
          actor: opts.actor,
          team: opts.team,
          employee_id: opts.employeeId,
          action: opts.action,
          decision: opts.decision as AuditEventsQuery['decision'],
          from: opts.from,
          to: opts.to,
          limit: Number(opts.limit),
        };
        const vault = vaultClient(command);
        let cursor = opts.cursor;
        const events: AuditPage['events'] = [];
        let next: string | null = null;
        do {
          const page = await vault.auditEvents({ ...query, cursor });
          events.push(...page.events);
          next = page.next_cursor;
          cursor = next ?? undefined;
        } while (opts.all && next);
        if (opts.format === 'csv') {
          process.stdout.write(`${CSV_COLUMNS.join(',')}\n${events.map((e) => CSV_COLUMNS.map((c) => csvCell(e[c])).join(',')).join('\n')}${events.length ? '\n' : ''}`);
          if (next) process.stderr.write(`more: --cursor ${next}\n`);
        } else {
          emit(true, { events, next_cursor: next }, '');
        }
        return EXIT_OK;
      }),
    );

  audit
    .command('verify')
    .description('check the hash chain end to end; exit 1 and the first broken sequence when it is broken')
    .action(
      run(async (_opts, command: Command) => {
        const result = await vaultClient(command).verifyAudit();
        emit(
          wantsJson(command),
          result,
          result.ok ? `audit log intact: ${result.checked} events checked` : `audit log BROKEN at sequence ${result.broken_at}: ${result.reason} (${result.checked} events intact before it)`,
        );
        return result.ok ? EXIT_OK : EXIT_REFUSED;
      }),
    );

  audit
    .command('checkpoint')
    .description('sign a checkpoint of the newest event now, and print the public key to check it with')
    .action(
      run(async (_opts, command: Command) => {
        const vault = vaultClient(command);
        const created = await vault.signCheckpoint();
        const { public_key } = await vault.auditCheckpoints();
        emit(wantsJson(command), { checkpoint: created ?? {}, public_key }, `checkpoint at sequence ${created?.seq ?? '(log empty)'} signed by ${public_key.key_id}\n${public_key.pem}`);
        return EXIT_OK;
      }),
    );

  audit
    .command('report')
    .description("every dataset and decision that reached one employee's records: when, by whom, for which purpose")
    .argument('<employee-id>')
    .action(
      run(async (employeeId: string, _opts, command: Command) => {
        const report = await vaultClient(command).accessReport(employeeId);
        emit(wantsJson(command), report, accessReportText(report));
        return EXIT_OK;
      }),
    );
}

export function accessReportText(report: AccessReport): string {
  if (report.datasets.length === 0) return `no dataset has reached the records of ${report.employee_id}`;
  const rows = [
    ['granted at', 'requested by', 'teams', 'purpose', 'records', 'streamed', 'policy', 'dataset'],
    ...report.datasets.map((d) => [
      d.granted_at,
      d.requested_by,
      d.teams.join(','),
      d.purpose,
      String(d.records_of_employee),
      d.streamed.pages ? `${d.streamed.records_served} in ${d.streamed.pages} page(s), last ${d.streamed.last_at}` : 'not streamed',
      d.policy_revision,
      d.dataset_id,
    ]),
  ];
  return `${report.datasets.length} dataset(s) reached the records of ${report.employee_id}:\n${table(rows)}`;
}
