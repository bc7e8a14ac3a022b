import { sql, type RawBuilder } from 'kysely';

const NEEDS_ESCAPE = /["\\]/;

/**
 * `values` as one PostgreSQL array literal, every element quoted, to bind as the parameter of a
 * `$1::text[]` (or `uuid[]`, `int[]`) cast. The driver's own array encoding builds the literal by
 * concatenation, element by element: on ingest's per-employee lists, 5% of all it allocated.
 */
export function arrayLiteral(values: readonly string[] | readonly number[]): string {
  if (values.length === 0) return '{}';
  if (typeof values[0] === 'number') {
    if (!values.every((v) => Number.isSafeInteger(v))) throw new TypeError('an integer list holds something other than integers');
    return `{${values.join(',')}}`;
  }
  const texts = values as readonly string[];
  let escape = false;
  for (const v of texts) {
    if (typeof v !== 'string') throw new TypeError('a text list holds something other than text');
    if (!escape && NEEDS_ESCAPE.test(v)) escape = true;
  }
  if (!escape) return `{"${texts.join('","')}"}`;
  return `{${texts.map((v) => `"${v.replace(/["\\]/g, '\\$&')}"`).join(',')}}`;
}

/**
 * `any($1::text[])` (or `uuid[]`) for `column = anyOf(values)`: the whole list travels as one array
 * parameter, so it has no parameter-count limit and one statement shape whatever its length.
 */
export function anyOf(values: readonly string[], type: 'text' | 'uuid'): RawBuilder<string> {
  return sql<string>`any(${arrayLiteral(values)}::${sql.raw(type)}[])`;
}
