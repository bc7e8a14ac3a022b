import { sql, type RawBuilder } from 'kysely';

/**
 * `any($1::text[])` (or `uuid[]`) for `column = anyOf(values)`: the whole list travels as one array
 * parameter, so it has no parameter-count limit and one statement shape whatever its length.
 */
export function anyOf(values: readonly string[], type: 'text' | 'uuid'): RawBuilder<string> {
  return sql<string>`any(${[...values]}::${sql.raw(type)}[])`;
}
