-- A lease is frozen as a database snapshot, not a timestamp. A record whose ingest began before
-- the lease but committed after its count was invisible to the count (so missing from
-- dataset_employees and the reach limit) yet, carrying an earlier ingested_at, would have been
-- streamed. Each record now carries the id of the transaction that wrote it, and a lease admits
-- only records whose transaction had committed in the snapshot it was counted under.
-- Records written before this migration carry NULL: they were committed before any lease frozen
-- from here on, and leases frozen before it still bound them by ingested_at.
ALTER TABLE activity_records ADD COLUMN ingest_xid xid8;
ALTER TABLE activity_records ALTER COLUMN ingest_xid SET DEFAULT pg_current_xact_id();

ALTER TABLE dataset_leases ADD COLUMN frozen_snapshot pg_snapshot;
UPDATE dataset_leases SET frozen_snapshot = pg_current_snapshot();
ALTER TABLE dataset_leases ALTER COLUMN frozen_snapshot SET NOT NULL;

-- A lease the policy in force no longer grants ends for good, whatever a later revision says:
-- the job asks again and that request is decided and audited on its own.
ALTER TABLE dataset_leases ADD COLUMN revoked_at timestamptz;
ALTER TABLE dataset_leases ADD COLUMN revoked_revision text;
ALTER TABLE dataset_leases ADD CONSTRAINT dataset_leases_revocation
  CHECK ((revoked_at IS NULL) = (revoked_revision IS NULL));

-- The reader's policy gains the snapshot bound; an unset snapshot admits no record written since.
DROP POLICY activity_records_dataset_scope ON activity_records;
CREATE POLICY activity_records_dataset_scope ON activity_records
  AS PERMISSIVE FOR SELECT TO vault_dataset_reader
  USING (
    org_unit = ANY ((SELECT nullif(current_setting('vault.scope_org_units', true), '')::text[])::text[])
    AND kind = ANY ((SELECT nullif(current_setting('vault.scope_kinds', true), '')::text[])::text[])
    AND sensitivity <= (SELECT nullif(current_setting('vault.scope_max_sensitivity', true), '')::smallint)
    AND captured_at >= (SELECT nullif(current_setting('vault.scope_from', true), '')::timestamptz)
    AND captured_at < (SELECT nullif(current_setting('vault.scope_to', true), '')::timestamptz)
    AND ingested_at <= (SELECT nullif(current_setting('vault.scope_frozen_at', true), '')::timestamptz)
    AND (ingest_xid IS NULL
      OR pg_visible_in_snapshot(ingest_xid, (SELECT nullif(current_setting('vault.scope_snapshot', true), '')::pg_snapshot)))
  );
