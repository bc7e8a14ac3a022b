import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { sql } from 'kysely';
import { loggableError, VaultError } from '../src/errors/index.js';
import { freshDatabase, STORE, type FreshDatabase } from './support/database.js';

describe(`what an operator's log says of a failure (${STORE})`, () => {
  let fresh: FreshDatabase;
  before(async () => {
    fresh = await freshDatabase();
  });
  after(() => fresh.drop());

  it("keeps a driver's code and drops its text, which quotes the value it was given", async () => {
    const err = await sql`select ${'payload: my tax id 123-45-6789'}::int`.execute(fresh.database.db).then(
      () => assert.fail('the cast succeeded'),
      (e: unknown) => e,
    );
    assert.match(String((err as Error).message), /123-45-6789/, 'the driver quotes the value');
    const logged = loggableError(err);
    assert.equal(logged.code, '22P02');
    assert.ok(!JSON.stringify(logged).includes('123-45-6789'), JSON.stringify(logged));
  });

  it("keeps a vault error's code and message, and of anything else its name only", () => {
    assert.deepEqual(loggableError(new VaultError('ERR_UNAVAILABLE', 'the audit log cannot record this action')), {
      name: 'VaultError',
      code: 'ERR_UNAVAILABLE',
      message: 'the audit log cannot record this action',
    });
    assert.deepEqual(loggableError(new TypeError('bad value "x"')), { name: 'TypeError' });
    assert.deepEqual(loggableError(Object.assign(new Error('connect ECONNREFUSED 10.0.0.1:5432'), { code: 'ECONNREFUSED' })), { name: 'Error', code: 'ECONNREFUSED' });
    assert.deepEqual(loggableError(Object.assign(new Error('x'), { code: 'a code with spaces "quoted"' })), { name: 'Error' });
    assert.deepEqual(loggableError('a thrown string'), { name: 'string' });
  });
});
