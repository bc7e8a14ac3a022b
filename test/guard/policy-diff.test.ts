import assert from 'node:assert/strict';
import fs from 'node:fs/promises';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import { localOperator } from '../../src/cli/output.js';
import { loadConfig } from '../../src/config/index.js';
import { migrateDatabase, openDatabase } from '../../src/db/index.js';
import { openVault } from '../../src/main.js';
import { cli } from '../support/cli.js';
import { freshDatabase, STORE, type FreshDatabase } from '../support/database.js';
import { buildTestBundle, newSigningKey, shippedSources, trustedKeysFile } from '../support/policies.js';
import { tempDir } from '../support/vault.js';

const UNITS = ['engineering', 'design', 'support', 'sales', 'finance', 'legal', 'hr', 'marketing', 'operations', 'research'];

describe(`policy diff OLD NEW (${STORE})`, () => {
  let dataDir: string;
  let fresh: FreshDatabase | undefined;
  let env: Record<string, string | undefined>;
  const files: Record<string, string> = {};

  before(async () => {
    dataDir = await tempDir();
    fresh = STORE === 'postgres' ? await freshDatabase() : undefined;
    const key = await newSigningKey();
    env = { VAULT_DATA_DIR: dataDir, VAULT_DATABASE_URL: fresh?.url, VAULT_BUNDLE_KEYS_FILE: await trustedKeysFile(key) };
    const database = fresh?.database ?? (await openDatabase({ dataDir }));
    if (!fresh) await migrateDatabase(database);
    const vault = await openVault(loadConfig(env), { database });
    await vault.services.roster.upsert(localOperator('privacy-officer'), {
      employees: UNITS.flatMap((unit) => Array.from({ length: 10 }, (_, i) => ({ employee_id: `${unit}-${i}`, org_unit: unit, region: 'eu', enrolled: true }))),
    });
    await vault.close();
    if (!fresh) await database.close();

    const { data, rego } = await shippedSources();
    const grants = data.grants as Record<string, { org_units: string[] }>;
    const bundles = {
      old: await buildTestBundle({ key, revision: 'diff-old' }),
      grown: await buildTestBundle({ key, revision: 'diff-grown', data: { grants: { ...grants, 'team-autocomplete': { ...grants['team-autocomplete']!, org_units: ['engineering', 'sales'] } } } }),
      broken: await buildTestBundle({ key, revision: 'diff-broken', rego: rego.replace('granted_teams := {t | some t in teams; data.grants[t]}', 'granted_teams := {t | some t, _ in data.grants}') }),
    };
    for (const [name, bytes] of Object.entries(bundles)) {
      files[name] = path.join(dataDir, `${name}.tar.gz`);
      await fs.writeFile(files[name]!, bytes);
    }
  });
  after(async () => {
    await fresh?.drop();
    await fs.rm(dataDir, { recursive: true, force: true });
  });

  it('prints per team the units gained and lost and the employees reached before and after', async () => {
    const run = await cli(['policy', 'diff', files.old!, files.grown!], env);
    assert.equal(run.code, 0, run.stderr);
    assert.match(run.stdout, /access diff diff-old -> diff-grown/);
    assert.match(run.stdout, /team-autocomplete\s+engineering\s+engineering,sales\s+sales\s+-\s+10\s+20/);
    assert.match(run.stdout, /team-ux-agents\s+design,support\s+design,support\s+-\s+-\s+20\s+20/);
    assert.match(run.stdout, /GROWTH \(activation needs a second security admin\):\n  - team team-autocomplete gains org units sales \(10 -> 20 employees\)\n  - team team-autocomplete grant widens: org_units \+sales\n/);
    assert.match(run.stdout, /violations: none/);
  });

  it('--json for CI, and exit 1 when the new policy would breach an invariant', async () => {
    const same = await cli(['policy', 'diff', files.old!, files.old!, '--json'], env);
    assert.equal(same.code, 0, same.stderr);
    const diff = JSON.parse(same.stdout);
    assert.deepEqual(diff.growth, []);
    assert.deepEqual(diff.violations, []);
    assert.deepEqual(diff.teams.map((t: { team: string; gained: string[] }) => [t.team, t.gained]), [['team-autocomplete', []], ['team-ux-agents', []]]);

    const broken = await cli(['policy', 'diff', files.old!, files.broken!, '--json'], env);
    assert.equal(broken.code, 1);
    const violations: string[] = JSON.parse(broken.stdout).violations;
    assert.ok(violations.some((v) => v.startsWith('team team-autocomplete / ui-navigation-agent: scope_outside_grant')), violations.join('\n'));
    assert.ok(violations.some((v) => v.startsWith('unknown team / autocomplete-model: scope_outside_grant')), violations.join('\n'));
  });

  it('refuses a bundle that is not signed by a trusted key, and an unknown revision', async () => {
    const foreign = path.join(dataDir, 'foreign.tar.gz');
    await fs.writeFile(foreign, await buildTestBundle({ key: await newSigningKey(), revision: 'diff-foreign' }));
    const run = await cli(['policy', 'diff', files.old!, foreign], env);
    assert.equal(run.code, 1);
    assert.match(run.stderr, /bundle_rejected|ERR_BUNDLE_REJECTED/);
    const missing = await cli(['policy', 'diff', 'no-such-revision', files.old!], env);
    assert.equal(missing.code, 1);
    assert.match(missing.stderr, /not staged/);
  });
});
