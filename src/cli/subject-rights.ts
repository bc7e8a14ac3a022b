import fs from 'node:fs/promises';
import type { Command } from 'commander';
import type { ErasureReceipt, Exposure } from '../client/index.js';
import { emit, EXIT_OK, type Run, wantsJson } from './output.js';
import { vaultClient } from './server.js';

/** Opens `file` for writing, readable by its owner only: also a file that existed with a looser mode. */
async function openPrivate(file: string): Promise<fs.FileHandle> {
  const handle = await fs.open(file, 'w', 0o600);
  await handle.chmod(0o600);
  return handle;
}

async function writePrivate(file: string, text: string): Promise<void> {
  const handle = await openPrivate(file);
  try {
    await handle.writeFile(text);
  } finally {
    await handle.close();
  }
}

function receiptText(r: ErasureReceipt, savedTo: string | undefined): string {
  const destroyed = r.receipt.key_versions_destroyed;
  const lines = [
    destroyed.length > 0
      ? `${r.employee_id}: erased at ${r.receipt.erased_at}; key versions ${destroyed.join(', ')} destroyed, ${r.receipt.records_unreadable} ${r.receipt.records_unreadable === 1 ? 'record' : 'records'} can never be opened again`
      : `${r.employee_id}: already erased (key versions ${r.receipt.key_versions_destroyed_before.join(', ') || 'none'}); nothing new to destroy`,
    `receipt ${r.receipt.erasure_id}, audit event ${r.receipt.audit_event_id}, signed by ${r.key_id}`,
  ];
  if (savedTo) lines.push(`receipt saved to ${savedTo} (the README shows how to check it with openssl)`);
  return lines.join('\n');
}

function exposureText(e: Exposure): string {
  const lines = [`${e.employee_id} (records in ${e.org_units.join(', ')}), under policy ${e.policy_revision}:`];
  if (e.teams.length === 0) lines.push('  no team could be granted their records now');
  for (const t of e.teams) {
    for (const p of t.paths) lines.push(`  ${t.team} for ${p.purpose}: ${p.kinds.join(', ')} up to level ${p.max_sensitivity} in ${p.org_units.join(', ')}`);
  }
  lines.push(e.open_leases.length === 0 ? 'no open lease holds their records' : `open leases holding their records: ${e.open_leases.length}`);
  for (const l of e.open_leases) lines.push(`  ${l.dataset_id} (${l.teams.join(', ')}, ${l.purpose}) until ${l.expires_at}: ${l.records_of_employee} of their records`);
  return lines.join('\n');
}

/** `employee erase|export|exposure`: the employee's rights. */
export function registerSubjectRightsCommands(employee: Command, run: Run): void {
  employee
    .command('erase')
    .description('crypto-shred an employee (privacy officer): every data key is destroyed now, the records can never be opened again, the rows go later; prints the signed receipt')
    .argument('<employee-id>')
    .option('--receipt <file>', 'also write the receipt (JSON) to this file')
    .action(
      run(async (employeeId: string, opts: { receipt?: string }, command: Command) => {
        const receipt = await vaultClient(command).eraseEmployee(employeeId);
        if (opts.receipt) await writePrivate(opts.receipt, `${JSON.stringify(receipt, null, 2)}\n`);
        emit(wantsJson(command), receipt, receiptText(receipt, opts.receipt));
        return EXIT_OK;
      }),
    );

  employee
    .command('export')
    .description("the employee's own records, decrypted, as NDJSON (the employee, or a privacy officer acting for them)")
    .argument('<employee-id>')
    .option('--from <time>', 'records captured at or after this RFC 3339 time')
    .option('--to <time>', 'records captured before this RFC 3339 time')
    .option('--out <file>', 'write to this file (mode 0600) instead of stdout')
    .action(
      run(async (employeeId: string, opts: { from?: string; to?: string; out?: string }, command: Command) => {
        const records = vaultClient(command).ownRecords(employeeId, { from: opts.from, to: opts.to });
        const out = opts.out ? await openPrivate(opts.out) : undefined;
        let count = 0;
        try {
          for await (const record of records) {
            const line = `${JSON.stringify(record)}\n`;
            if (out) await out.write(line);
            else process.stdout.write(line);
            count++;
          }
        } finally {
          await out?.close();
        }
        if (out) process.stderr.write(`${count} records written to ${opts.out}\n`);
        return EXIT_OK;
      }),
    );

  employee
    .command('exposure')
    .description('which teams could be granted the employee\'s records under the policy in force, and which open leases hold them')
    .argument('<employee-id>')
    .action(
      run(async (employeeId: string, _opts, command: Command) => {
        const exposure = await vaultClient(command).exposure(employeeId);
        emit(wantsJson(command), exposure, exposureText(exposure));
        return EXIT_OK;
      }),
    );
}
