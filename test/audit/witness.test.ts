import assert from 'node:assert/strict';
import { createPublicKey, verify } from 'node:crypto';
import fs from 'node:fs/promises';
import path from 'node:path';
import { describe, it } from 'node:test';
import { sql } from 'kysely';
import { checkpointStatement, WITNESS_FILE } from '../../src/audit/index.js';
import { isVaultError } from '../../src/errors/index.js';
import { loadConfig } from '../../src/config/index.js';
import { openVault } from '../../src/main.js';
import type { Db } from '../../src/db/index.js';
import { STORE, freshDatabase } from '../support/database.js';
import { appendSampleEvents, asSuperuser } from '../support/audit.js';
import { makeRecords, postRecords, putRoster, startTestVault, tempDir, type TestVault } from '../support/vault.js';

interface SavedHead {
  seq: number;
  hash: Uint8Array;
  mac: Uint8Array;
}

const witnessFile = (t: TestVault) => path.join(t.dataDir, 'audit-witness', WITNESS_FILE);

async function auditorGet(t: TestVault, url: string) {
  return t.app.inject({ url, headers: { authorization: `Bearer ${await t.token('auditor')}` } });
}

async function signCheckpoint(t: TestVault): Promise<number> {
  const response = await t.app.inject({ method: 'POST', url: '/v1/audit/checkpoints', headers: { authorization: `Bearer ${await t.token('auditor')}` } });
  assert.equal(response.statusCode, 201, response.body);
  return response.json().seq as number;
}

async function readHead(t: TestVault): Promise<SavedHead> {
  await t.vault.audit.sequenced();
  const db = t.database.db;
  return (await sql<SavedHead>`select seq::int as seq, hash, mac from audit_head`.execute(db)).rows[0]!;
}

async function witnessed(t: TestVault): Promise<Array<Record<string, unknown>>> {
  return (await fs.readFile(witnessFile(t), 'utf8')).trim().split('\n').map((line) => JSON.parse(line) as Record<string, unknown>);
}

/** A second start of the same vault (same database, same data directory and witness), closed after `use`. */
async function afterRestart(t: TestVault, use: (restarted: TestVault) => Promise<void>): Promise<void> {
  const restarted = await startTestVault({ database: t.database, dataDir: t.dataDir });
  try {
    await use(restarted);
  } finally {
    await restarted.close();
  }
}

/**
 * The attack from issue 11: delete the newest events and the checkpoints that cover them as a
 * database superuser, then put back a head row saved earlier (its MAC is genuine).
 */
async function rewindTo(db: Db, saved: SavedHead): Promise<void> {
  await asSuperuser(db, async (su) => {
    await sql`grant delete on audit_checkpoints to current_user`.execute(su);
    await sql`alter table audit_checkpoints disable trigger user`.execute(su);
    try {
      await sql`delete from audit_events where seq > ${saved.seq}`.execute(su);
      await sql`delete from audit_checkpoints where seq > ${saved.seq}`.execute(su);
      await sql`update audit_head set seq = ${saved.seq}, hash = ${saved.hash}, mac = ${saved.mac}`.execute(su);
    } finally {
      await sql`alter table audit_checkpoints enable trigger user`.execute(su);
      await sql`revoke delete on audit_checkpoints from current_user`.execute(su);
    }
  });
}

describe(`signed checkpoints are witnessed outside the database (${STORE})`, () => {
  it('a log rewound past a witnessed checkpoint fails verify at the first missing sequence, and readyz is not ready', async () => {
    const t = await startTestVault();
    try {
      await appendSampleEvents(t.vault, 10);
      const first = await signCheckpoint(t);
      const saved = await readHead(t);
      assert.equal(saved.seq, first + 1, 'the signing is itself an event after the checkpoint');
      await appendSampleEvents(t.vault, 5);
      const second = await signCheckpoint(t);
      assert.deepEqual((await witnessed(t)).map((line) => line.seq), [first, second]);
      assert.equal((await t.app.inject({ url: '/readyz' })).statusCode, 200);

      await t.vault.audit.sequenced();
      await rewindTo(t.database.db, saved);
      const left = (await sql<{ n: number }>`select count(*)::int as n from audit_checkpoints where seq > ${saved.seq}`.execute(t.database.db)).rows[0]!.n;
      assert.equal(left, 0, 'the covering checkpoint is gone from the database');

      const ready = await t.app.inject({ url: '/readyz' });
      assert.equal(ready.statusCode, 503);
      assert.equal(ready.json().checks.witness.ok, false);
      assert.equal(ready.json().checks.audit.ok, true, 'the restored head carries a genuine MAC');

      const result = (await auditorGet(t, '/v1/audit/verify')).json();
      assert.deepEqual([result.ok, result.broken_at], [false, saved.seq + 1], result.reason);
      assert.match(result.reason, /rewound/);
      assert.ok(t.logs.some((l) => l.includes('"alarm":"audit_witness_mismatch"')));

      const refused = await t.app.inject({ method: 'POST', url: '/v1/audit/checkpoints', headers: { authorization: `Bearer ${await t.token('auditor')}` } });
      assert.equal(refused.statusCode, 503, 'a rewound log is never signed');
      assert.equal((await witnessed(t)).length, 2);

      await afterRestart(t, async (restarted) => {
        const again = await restarted.app.inject({ url: '/readyz' });
        assert.deepEqual([again.statusCode, again.json().checks.witness.ok], [503, false], 'a restart compares with the witness too');
      });
    } finally {
      await t.close();
    }
  });

  it('a rewound log refilled past the witnessed sequence is caught where the hashes part', async () => {
    const t = await startTestVault();
    try {
      await appendSampleEvents(t.vault, 4);
      const saved = await readHead(t);
      await appendSampleEvents(t.vault, 4);
      const witnessedSeq = await signCheckpoint(t);
      await t.vault.audit.sequenced();
      await rewindTo(t.database.db, saved);
      await appendSampleEvents(t.vault, witnessedSeq - saved.seq + 3);
      assert.ok((await readHead(t)).seq > witnessedSeq);

      await afterRestart(t, async (restarted) => {
        const ready = await restarted.app.inject({ url: '/readyz' });
        assert.deepEqual([ready.statusCode, ready.json().checks.witness.ok], [503, false]);
        const result = (await auditorGet(restarted, '/v1/audit/verify')).json();
        assert.deepEqual([result.ok, result.broken_at], [false, witnessedSeq], result.reason);
        assert.match(result.reason, /differs from its witnessed checkpoint/);
      });
    } finally {
      await t.close();
    }
  });

  it('untouched, verify and readyz are clean and the witness holds signed statements only, no plaintext', async () => {
    const t = await startTestVault();
    try {
      await putRoster(t, [{ employee_id: 'witness-emp-1', org_unit: 'witness-unit' }]);
      const marker = 'witness-marker-text';
      assert.equal((await postRecords(t, makeRecords(3, ['witness-emp-1'], marker))).statusCode, 200);
      await signCheckpoint(t);
      assert.ok(await t.vault.audit.checkpoint(), 'the periodic checkpoint path witnesses too');
      await appendSampleEvents(t.vault, 2);
      await signCheckpoint(t);

      const result = (await auditorGet(t, '/v1/audit/verify')).json();
      assert.equal(result.ok, true, result.reason);
      const ready = await t.app.inject({ url: '/readyz' });
      assert.equal(ready.statusCode, 200);
      assert.deepEqual(ready.json().checks.witness, { ok: true });

      const text = await fs.readFile(witnessFile(t), 'utf8');
      for (const secret of [marker, 'witness-emp-1', 'witness-unit']) assert.equal(text.includes(secret), false, `${secret} in the witness`);
      const { public_key } = (await auditorGet(t, '/v1/audit/checkpoints')).json();
      const key = createPublicKey(public_key.pem);
      const lines = await witnessed(t);
      assert.equal(lines.length, 3);
      for (const line of lines) {
        assert.deepEqual(Object.keys(line).sort(), ['hash', 'key_id', 'seq', 'signature', 'signed_at', 'statement', 'v']);
        const statement = checkpointStatement(line.seq as number, line.hash as string, line.signed_at as string, line.key_id as string);
        assert.equal(line.statement, statement.toString('utf8'));
        assert.ok(verify(null, statement, key, Buffer.from(line.signature as string, 'base64')));
      }
      const stat = await fs.stat(witnessFile(t));
      assert.equal(stat.mode & 0o077, 0, 'the witness is readable by its owner only');
    } finally {
      await t.close();
    }
  });

  it('a witness that cannot be written refuses the checkpoint, raises the alarm and makes the vault not ready until it can', async () => {
    const t = await startTestVault();
    try {
      await appendSampleEvents(t.vault, 3);
      await signCheckpoint(t);
      const file = witnessFile(t);
      await fs.rename(file, `${file}.moved`);
      await fs.mkdir(file);
      const refused = await t.app.inject({ method: 'POST', url: '/v1/audit/checkpoints', headers: { authorization: `Bearer ${await t.token('auditor')}` } });
      assert.equal(refused.statusCode, 503);
      assert.ok(t.logs.some((l) => l.includes('"alarm":"audit_witness_unavailable"')));
      const ready = await t.app.inject({ url: '/readyz' });
      assert.deepEqual([ready.statusCode, ready.json().checks.witness.ok], [503, false]);

      await fs.rmdir(file);
      await fs.rename(`${file}.moved`, file);
      await signCheckpoint(t);
      assert.equal((await t.app.inject({ url: '/readyz' })).statusCode, 200);
      assert.equal((await auditorGet(t, '/v1/audit/verify')).json().ok, true);
    } finally {
      await t.close();
    }
  });

  it('defaults to VAULT_DATA_DIR/audit-witness, takes a .jsonl file, and a vault whose witness cannot be created does not start', async () => {
    const dir = await tempDir();
    assert.equal(loadConfig({ VAULT_DATA_DIR: dir }).auditWitness, path.join(dir, 'audit-witness'));
    const file = path.join(dir, 'elsewhere', 'witness.jsonl');
    const t = await startTestVault({ env: { VAULT_AUDIT_WITNESS: file } });
    try {
      await appendSampleEvents(t.vault, 1);
      await signCheckpoint(t);
      assert.equal((await fs.readFile(file, 'utf8')).trim().split('\n').length, 1);
    } finally {
      await t.close();
    }

    await fs.writeFile(path.join(dir, 'plain-file'), '');
    const fresh = await freshDatabase();
    try {
      const config = loadConfig({ VAULT_DATA_DIR: dir, VAULT_AUDIT_WITNESS: path.join(dir, 'plain-file', 'witness') });
      await assert.rejects(openVault(config, { database: fresh.database, log: () => {} }), (err) => isVaultError(err, 'ERR_CONFIG') && /VAULT_AUDIT_WITNESS/.test((err as Error).message));
    } finally {
      await fresh.drop();
      await fs.rm(dir, { recursive: true, force: true });
    }
  });
});
