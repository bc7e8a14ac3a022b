/**
 * Most bytes a record's payload may take as JSON text in UTF-8. Ingest refuses larger ones, and a
 * page of stored records is bounded knowing that no record is larger (plus its envelope).
 */
export const MAX_PAYLOAD_BYTES = 4 * 1024 * 1024;
