import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import fs from 'node:fs/promises';
import path from 'node:path';
import { describe, it } from 'node:test';
import { sql } from 'kysely';
import { canonicalEvent, chainHash, checkpointStatement } from '../../src/audit/index.js';
import { auditEventsAfter } from '../../src/db/index.js';
import { STORE } from '../support/database.js';
import { appendSampleEvents, asSuperuser } from '../support/audit.js';
import { cli } from '../support/cli.js';
import { listenUrl, startTestVault, tempDir, type TestVault } from '../support/vault.js';

async function verifyOverHttp(t: TestVault) {
  const response = await t.app.inject({ url: '/v1/audit/verify', headers: { authorization: `Bearer ${await t.token('auditor')}` } });
  assert.equal(response.statusCode, 200);
  return response.json() as { ok: boolean; checked: number; broken_at?: number; reason?: string };
}

/** A fresh vault whose log holds exactly 20 events, seq 1..20 (the default bundle's two come first). */
async function vaultWithLog(): Promise<TestVault> {
  const t = await startTestVault();
  await t.vault.audit.sequenced();
  const head = (await sql<{ seq: number }>`select seq::int as seq from audit_head`.execute(t.database.db)).rows[0]!.seq;
  await appendSampleEvents(t.vault, 20 - head);
  assert.deepEqual(await t.vault.audit.verify(), { ok: true, checked: 20 });
  return t;
}

describe(`the audit log catches tampering by a database superuser (${STORE})`, () => {
  it('refuses UPDATE, DELETE and TRUNCATE outright', async () => {
    const t = await vaultWithLog();
    try {
      for (const statement of [sql`update audit_events set actor = 'x' where seq = 3`, sql`delete from audit_events where seq = 3`, sql`truncate audit_events`]) {
        await assert.rejects(statement.execute(t.database.db), /append-only|permission denied/);
      }
      assert.deepEqual(await verifyOverHttp(t), { ok: true, checked: 20 });
      const [recorded] = (await t.vault.audit.query({ action: 'audit.verify' })).events;
      assert.deepEqual([recorded?.seq, recorded?.details.ok], [21, true], 'the verification itself is on the record');
    } finally {
      await t.close();
    }
  });

  const cases: Array<[string, number, (db: TestVault['database']['db']) => Promise<void>]> = [
    ['an edited event', 7, async (db) => void (await sql`update audit_events set details = '{"note":"nothing to see"}' where seq = 7`.execute(db))],
    ['an edited actor column', 9, async (db) => void (await sql`update audit_events set actor = 'someone-else' where seq = 9`.execute(db))],
    ['an event deleted from the middle', 11, async (db) => void (await sql`delete from audit_events where seq = 11`.execute(db))],
    ['the newest events deleted', 18, async (db) => void (await sql`delete from audit_events where seq >= 18`.execute(db))],
    [
      'two events reordered',
      5,
      async (db) => {
        await sql`update audit_events set seq = 1000 where seq = 5`.execute(db);
        await sql`update audit_events set seq = 5 where seq = 6`.execute(db);
        await sql`update audit_events set seq = 6 where seq = 1000`.execute(db);
      },
    ],
    [
      'a forged event appended with a correctly computed hash',
      21,
      async (db) => {
        const [last] = await auditEventsAfter(db, 19, 1);
        const forged = { ...last!, seq: 21, event_id: '00000000-0000-4000-8000-000000000021', actor: 'mallory', details: '{"note":"forged"}' };
        const hash = chainHash(last!.hash, canonicalEvent(forged));
        await sql`insert into audit_events select 21, ${forged.event_id}::uuid, occurred_at, action, decision, severity, 'mallory', actor_roles, teams, purpose,
          employee_ref, policy_revision, record_count, decision_id, ${forged.details}, hash, ${hash} from audit_events where seq = 20`.execute(db);
      },
    ],
  ];

  for (const [name, brokenAt, tamper] of cases) {
    it(`${name}: verify names sequence ${brokenAt}`, async () => {
      const t = await vaultWithLog();
      try {
        await asSuperuser(t.database.db, tamper);
        const result = await verifyOverHttp(t);
        assert.equal(result.ok, false);
        assert.equal(result.broken_at, brokenAt, result.reason);
      } finally {
        await t.close();
      }
    });
  }

  it('a rewound head with the newest events deleted is caught by a signed checkpoint', async () => {
    const t = await vaultWithLog();
    try {
      await t.vault.audit.sequenced();
      const saved = (await sql<{ seq: number; hash: Uint8Array; mac: Uint8Array }>`select seq, hash, mac from audit_head`.execute(t.database.db)).rows[0]!;
      await appendSampleEvents(t.vault, 5);
      await t.vault.audit.checkpoint();
      await asSuperuser(t.database.db, async (db) => {
        await sql`delete from audit_events where seq > 20`.execute(db);
        await sql`update audit_head set seq = ${saved.seq}, hash = ${saved.hash}, mac = ${saved.mac}`.execute(db);
      });
      const result = await verifyOverHttp(t);
      assert.deepEqual([result.ok, result.broken_at], [false, 21], result.reason);
    } finally {
      await t.close();
    }
  });

  it('audit verify on the command line exits 1 and names the first broken sequence', async () => {
    const t = await vaultWithLog();
    try {
      const env = { VAULT_URL: await listenUrl(t), VAULT_TOKEN: await t.token('auditor') };
      const intact = await cli(['audit', 'verify'], env);
      assert.equal(intact.code, 0, intact.stderr);
      assert.match(intact.stdout, /intact: 20 events/);
      await asSuperuser(t.database.db, async (db) => void (await sql`update audit_events set record_count = 999 where seq = 13`.execute(db)));
      const broken = await cli(['audit', 'verify', '--json'], env);
      assert.equal(broken.code, 1);
      assert.equal(JSON.parse(broken.stdout).broken_at, 13);
    } finally {
      await t.close();
    }
  });

  it('a checkpoint verifies with the exported public key and openssl', async () => {
    const t = await vaultWithLog();
    try {
      const created = await t.app.inject({ method: 'POST', url: '/v1/audit/checkpoints', headers: { authorization: `Bearer ${await t.token('auditor')}` } });
      assert.equal(created.statusCode, 201);
      const { public_key, checkpoints } = (await t.app.inject({ url: '/v1/audit/checkpoints', headers: { authorization: `Bearer ${await t.token('auditor')}` } })).json();
      const cp = checkpoints[0];
      assert.equal(cp.seq, 20);
      const dir = await tempDir();
      await fs.writeFile(path.join(dir, 'pub.pem'), public_key.pem);
      await fs.writeFile(path.join(dir, 'statement'), checkpointStatement(cp.seq, cp.hash, cp.signed_at, cp.key_id));
      await fs.writeFile(path.join(dir, 'sig'), Buffer.from(cp.signature, 'base64'));
      const out = execFileSync('openssl', ['pkeyutl', '-verify', '-pubin', '-inkey', 'pub.pem', '-rawin', '-in', 'statement', '-sigfile', 'sig'], { cwd: dir, encoding: 'utf8' });
      assert.match(out, /Signature Verified Successfully/);
    } finally {
      await t.close();
    }
  });
});
