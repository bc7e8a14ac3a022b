import assert from 'node:assert/strict';
import fs from 'node:fs/promises';
import { after, before, describe, it } from 'node:test';
import { importJWK, SignJWT, type JWK, type JWTPayload } from 'jose';
import { devKeyFile } from '../../src/auth/index.js';
import { loadConfig } from '../../src/config/index.js';
import { isVaultError } from '../../src/errors/index.js';
import { STORE } from '../support/database.js';
import { startTestVault, type TestVault } from '../support/vault.js';
import { refusalsAudited } from '../access/support.js';

const HOUR = 3600;
const now = () => Math.floor(Date.now() / 1000);

/** Signs exactly `claims` (nothing added) with the test vault's development key. */
async function signExactly(t: TestVault, claims: JWTPayload): Promise<string> {
  const jwk = JSON.parse(await fs.readFile(devKeyFile(t.dataDir), 'utf8')) as JWK;
  return new SignJWT(claims).setProtectedHeader({ alg: 'EdDSA', kid: jwk.kid! }).sign(await importJWK(jwk, 'EdDSA'));
}

function agentClaims(t: TestVault, overrides: JWTPayload = {}): JWTPayload {
  return { iss: t.config.jwt.issuer, aud: t.config.jwt.audience, sub: 'agent-1', roles: ['ingest-agent'], iat: now(), exp: now() + 600, ...overrides };
}

async function ingestWith(t: TestVault, token: string) {
  return t.app.inject({ method: 'POST', url: '/v1/records', headers: { authorization: `Bearer ${token}` }, payload: { records: [] } });
}

// Each a code point that makes text display or compare as something it is not.
const DECEPTIVE = {
  'LEFT-TO-RIGHT EMBEDDING': '\u202a',
  'RIGHT-TO-LEFT OVERRIDE': '\u202e',
  'LEFT-TO-RIGHT ISOLATE': '\u2066',
  'POP DIRECTIONAL ISOLATE': '\u2069',
  'ZERO WIDTH SPACE': '\u200b',
  'ZERO WIDTH NON-JOINER': '\u200c',
  'ZERO WIDTH JOINER': '\u200d',
  'WORD JOINER': '\u2060',
  'BYTE ORDER MARK': '\ufeff',
  'SOFT HYPHEN': '\u00ad',
  'LINE SEPARATOR': '\u2028',
} as const;

describe(`token lifetime and claim text (${STORE})`, () => {
  let t: TestVault;
  let short: TestVault;
  before(async () => {
    t = await startTestVault();
    short = await startTestVault({ env: { VAULT_JWT_MAX_TTL: '1h' } });
  });
  after(async () => {
    await t?.close();
    await short?.close();
  });

  it('refuses a token that lives longer than the 24 h default, and accepts one of exactly 24 h', async () => {
    const iat = now() - 60;
    const tooLong = await ingestWith(t, await signExactly(t, agentClaims(t, { iat, exp: iat + 24 * HOUR + 1 })));
    assert.equal(tooLong.statusCode, 401, tooLong.body);
    assert.equal(tooLong.json().error, 'unauthenticated');
    const year = await ingestWith(t, await signExactly(t, agentClaims(t, { iat, exp: iat + 365 * 24 * HOUR })));
    assert.equal(year.statusCode, 401);
    const exact = await ingestWith(t, await signExactly(t, agentClaims(t, { iat, exp: iat + 24 * HOUR })));
    assert.equal(exact.statusCode, 200, exact.body);
  });

  it('refuses a token without iat', async () => {
    const { iat: _iat, ...claims } = agentClaims(t);
    const response = await ingestWith(t, await signExactly(t, claims));
    assert.equal(response.statusCode, 401, response.body);
  });

  it('refuses a token issued in the future beyond the 60 s clock skew, and accepts one within it', async () => {
    const future = await ingestWith(t, await signExactly(t, agentClaims(t, { iat: now() + 300, exp: now() + 900 })));
    assert.equal(future.statusCode, 401, future.body);
    const skewed = await ingestWith(t, await signExactly(t, agentClaims(t, { iat: now() + 30, exp: now() + 600 })));
    assert.equal(skewed.statusCode, 200, skewed.body);
  });

  it('VAULT_JWT_MAX_TTL lowers the limit: 1h refuses a 2 h token and accepts a 1 h one', async () => {
    const iat = now();
    assert.equal((await ingestWith(short, await signExactly(short, agentClaims(short, { iat, exp: iat + 2 * HOUR })))).statusCode, 401);
    assert.equal((await ingestWith(short, await signExactly(short, agentClaims(short, { iat, exp: iat + HOUR })))).statusCode, 200);
  });

  for (const [name, char] of Object.entries(DECEPTIVE)) {
    it(`refuses a ${name} in sub, teams or purpose`, async () => {
      for (const claims of [{ sub: `agent${char}-1` }, { teams: ['team-a', `team${char}-b`] }, { purpose: `auto${char}complete` }]) {
        const response = await ingestWith(t, await signExactly(t, agentClaims(t, claims)));
        assert.equal(response.statusCode, 401, `${JSON.stringify(claims)}: ${response.body}`);
      }
    });
  }

  it('audits each refusal with a stable reason, and no token text', async () => {
    const iat = now() - 60;
    const { iat: _iat, ...withoutIat } = agentClaims(t);
    const tokens = [
      await signExactly(t, agentClaims(t, { iat, exp: iat + 48 * HOUR })),
      await signExactly(t, withoutIat),
      await signExactly(t, agentClaims(t, { iat: now() + 600, exp: now() + 1200 })),
      await signExactly(t, agentClaims(t, { sub: 'admin\u202e1-tnega' })),
      await signExactly(t, agentClaims(t, { teams: ['team\u200b-a'] })),
      await signExactly(t, agentClaims(t, { purpose: 'train\u2066ing' })),
    ];
    for (const token of tokens) assert.equal((await ingestWith(t, token)).statusCode, 401);
    const events = await refusalsAudited(t, (reasons) =>
      ['lifetime_exceeds_max', 'iat_missing', 'iat_in_future', 'claim_invalid:sub', 'claim_invalid:teams', 'claim_invalid:purpose'].every((r) => reasons.has(r)),
    );
    const dump = JSON.stringify(events);
    for (const token of tokens) assert.ok(!dump.includes(token.split('.')[1]!), 'a token reached the audit log');
  });
});

describe('VAULT_JWT_MAX_TTL', () => {
  it('takes seconds or a duration, default 24 h', () => {
    assert.equal(loadConfig({}).jwt.maxTtlSeconds, 86_400);
    assert.equal(loadConfig({ VAULT_JWT_MAX_TTL: '3600' }).jwt.maxTtlSeconds, 3600);
    assert.equal(loadConfig({ VAULT_JWT_MAX_TTL: '24h' }).jwt.maxTtlSeconds, 86_400);
    assert.equal(loadConfig({ VAULT_JWT_MAX_TTL: '1h30m' }).jwt.maxTtlSeconds, 5400);
    assert.equal(loadConfig({ VAULT_JWT_MAX_TTL: '90s' }).jwt.maxTtlSeconds, 90);
    assert.equal(loadConfig({ VAULT_JWT_MAX_TTL: '7d' }).jwt.maxTtlSeconds, 7 * 86_400);
  });

  it('refuses anything else at start with ERR_CONFIG naming the variable', () => {
    for (const value of ['forever', '0', '-1', '24 h', '1.5h', '24H', '31d', '', 'h', '99999999999999999999']) {
      assert.throws(
        () => loadConfig({ VAULT_JWT_MAX_TTL: value }),
        (err) => isVaultError(err, 'ERR_CONFIG') && (err as Error).message.includes('VAULT_JWT_MAX_TTL'),
        `"${value}" was accepted`,
      );
    }
  });
});
