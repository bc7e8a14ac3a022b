import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { sql } from 'kysely';
import { STORE } from '../support/database.js';
import { makeRecords, putRoster, startTestVault } from '../support/vault.js';

describe(`concurrent appends (${STORE})`, () => {
  it('10 writers for 10 s: the chain has no fork, verifies, and holds every event', async () => {
    const t = await startTestVault();
    try {
      await putRoster(t, [{ employee_id: 'cw-1', org_unit: 'u1' }]);
      // The employee's first record of the month creates their month key (a key.create event of its own).
      await t.vault.services.ingest.ingest(makeRecords(1, ['cw-1'], 'first'), { sub: 'warm-up', roles: ['ingest-agent'], teams: [], purpose: undefined, jti: undefined });
      await t.vault.audit.sequenced();
      const before = (await sql<{ n: number }>`select count(*)::int as n from audit_events`.execute(t.database.db)).rows[0]!.n;
      const deadline = Date.now() + 10_000;
      const writers = Array.from({ length: 10 }, async (_, w) => {
        const actor = { sub: `writer-${w}`, roles: ['ingest-agent'], teams: [], purpose: undefined, jti: undefined };
        let appended = 0;
        while (Date.now() < deadline) {
          if (appended % 10 === 0) {
            await t.vault.services.ingest.ingest(makeRecords(20, ['cw-1'], `w${w}`), actor);
          } else {
            await t.vault.audit.appendAlone({ action: 'test.concurrent', decision: 'info', actor, details: { writer: w, n: appended } });
          }
          appended++;
        }
        return appended;
      });
      const appended = (await Promise.all(writers)).reduce((a, b) => a + b, 0);
      await t.vault.audit.sequenced();
      const after = (await sql<{ n: number; max: number }>`select count(*)::int as n, max(seq)::int as max from audit_events`.execute(t.database.db)).rows[0]!;
      assert.equal(after.n, before + appended);
      assert.equal(after.max, after.n, 'sequence numbers are gapless');
      const result = await t.vault.audit.verify();
      assert.deepEqual(result, { ok: true, checked: after.n });
      assert.ok(appended > 100, `only ${appended} appends in 10 s`);
    } finally {
      await t.close();
    }
  });
});
