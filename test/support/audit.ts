import { sql } from 'kysely';
import type { AuditEventInput } from '../../src/audit/index.js';
import type { Db } from '../../src/db/index.js';
import type { Vault } from '../../src/main.js';
import type { TestVault } from './vault.js';

/**
 * Runs `tamper` as a database superuser would: the append-only triggers disabled and the revoked
 * privileges granted back, then both restored.
 */
export async function asSuperuser(db: Db, tamper: (db: Db) => Promise<void>): Promise<void> {
  await sql`grant update, delete on audit_events to current_user`.execute(db);
  await sql`alter table audit_events disable trigger user`.execute(db);
  try {
    await tamper(db);
  } finally {
    await sql`alter table audit_events enable trigger user`.execute(db);
    await sql`revoke update, delete on audit_events from current_user`.execute(db);
  }
}

export const SAMPLE_ACTORS = ['alice', 'bob', 'carol'].map((sub, i) => ({ sub, roles: ['auditor'], teams: [`team-${i}`], purpose: undefined }));

/** `count` varied events appended one by one through the real log. */
export async function appendSampleEvents(vault: Vault, count: number): Promise<void> {
  for (let i = 0; i < count; i++) {
    const input: AuditEventInput = {
      action: ['records.ingest', 'roster.upsert', 'policy.stage'][i % 3]!,
      decision: i % 4 === 0 ? 'deny' : 'allow',
      actor: SAMPLE_ACTORS[i % SAMPLE_ACTORS.length]!,
      employeeId: `emp-${i % 5}`,
      recordCount: i,
      details: { note: `event ${i}`, nested: { n: i } },
    };
    await vault.audit.appendAlone(input);
  }
}

/**
 * Makes every audit append fail (a trigger refusing inserts into the queue appends write to), or
 * undoes it: the log is "unavailable". With `table: 'audit_events'` appends still queue but the
 * sequencer cannot chain them.
 */
export async function refuseAuditInserts(t: Pick<TestVault, 'database'>, refuse: boolean, table: 'audit_queue' | 'audit_events' = 'audit_queue'): Promise<void> {
  if (refuse) {
    await sql`create trigger audit_refuses_inserts before insert on ${sql.table(table)} for each row execute function vault_audit_append_only()`.execute(t.database.db);
  } else {
    await sql`drop trigger audit_refuses_inserts on ${sql.table(table)}`.execute(t.database.db);
  }
}
