import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { sql } from 'kysely';
import { anyOf, arrayLiteral } from '../src/db/any-of.js';
import { freshDatabase, STORE, type FreshDatabase } from './support/database.js';

describe(`lists bound as one array literal (${STORE})`, () => {
  let fresh: FreshDatabase;
  before(async () => {
    fresh = await freshDatabase();
  });
  after(() => fresh.drop());

  const awkward = ['emp-1', 'NULL', 'null', '', ' padded ', 'a,b', '{braces}', 'quote"inside', 'back\\slash', '\\"', 'Zoë ☃ 𝔘', 'tab\there', 'line\nbreak'];

  it('reads back as the same texts, whatever they hold', async () => {
    const { rows } = await sql<{ v: string[] }>`select ${arrayLiteral(awkward)}::text[] as v`.execute(fresh.database.db);
    assert.deepEqual(rows[0]!.v, awkward);
    const plain = Array.from({ length: 1000 }, (_, i) => `emp-${i}`);
    assert.deepEqual((await sql<{ v: string[] }>`select ${arrayLiteral(plain)}::text[] as v`.execute(fresh.database.db)).rows[0]!.v, plain);
  });

  it('reads back integers, and an empty list as an empty array', async () => {
    const { rows } = await sql<{ i: number[]; e: string[]; n: string }>`
      select ${arrayLiteral([1, -2, 2147483647])}::int[] as i, ${arrayLiteral([])}::text[] as e, cardinality(${arrayLiteral([])}::int[]) as n`.execute(fresh.database.db);
    assert.deepEqual(rows[0]!.i, [1, -2, 2147483647]);
    assert.deepEqual(rows[0]!.e, []);
    assert.equal(Number(rows[0]!.n), 0);
  });

  it('refuses a list that mixes in another type, rather than widen or break the literal', () => {
    assert.throws(() => arrayLiteral([1, 'a,b'] as unknown as number[]), TypeError);
    assert.throws(() => arrayLiteral([1, null, 2] as unknown as number[]), TypeError);
    assert.throws(() => arrayLiteral([1.5]), TypeError);
    assert.throws(() => arrayLiteral(['a', 7] as unknown as string[]), TypeError);
    assert.throws(() => arrayLiteral(['a', null] as unknown as string[]), TypeError);
  });

  it('matches by any() exactly the listed values, not a NULL for "NULL" nor a split at a comma', async () => {
    const { rows } = await sql<{ v: string }>`
      select v from unnest(${arrayLiteral(['NULL', 'a', 'b', 'a,b', 'quote"inside', 'x'])}::text[]) as t(v)
       where v = ${anyOf(['NULL', 'a,b', 'quote"inside'], 'text')} order by v`.execute(fresh.database.db);
    assert.deepEqual(rows.map((r) => r.v).sort(), ['NULL', 'a,b', 'quote"inside'].sort());
  });
});
