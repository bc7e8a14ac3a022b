-- Dataset reads run as vault_dataset_reader (src/db/datasets.ts, withDatasetReader), a role that
-- row-level security holds to the lease's scope, set per transaction in the vault.scope_* settings.
-- A read path that forgets its WHERE clause still gets only the lease's rows: the database is a
-- layer of containment of its own, not just the query text.
--
-- Roles are cluster-wide and every database of the cluster runs this migration, sometimes at the
-- same moment: the role may already exist, or appear between the check and the CREATE.
-- On PostgreSQL 16+ the creator of a role holds only ADMIN OPTION on it (createrole_self_grant),
-- not the right to SET ROLE to it, hence the explicit grant and the version-dependent check.
DO $$
DECLARE
  may_set text := CASE WHEN current_setting('server_version_num')::int >= 160000 THEN 'SET' ELSE 'MEMBER' END;
BEGIN
  IF NOT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = 'vault_dataset_reader') THEN
    BEGIN
      CREATE ROLE vault_dataset_reader NOLOGIN NOINHERIT;
    EXCEPTION WHEN duplicate_object OR unique_violation THEN
      NULL;
    END;
  END IF;
  IF NOT pg_has_role(current_user, 'vault_dataset_reader', may_set) THEN
    BEGIN
      GRANT vault_dataset_reader TO CURRENT_USER;
    EXCEPTION WHEN duplicate_object OR unique_violation THEN
      NULL;
    END;
  END IF;
  EXECUTE format('GRANT USAGE ON SCHEMA %I TO vault_dataset_reader', current_schema());
END $$;

-- The parent only: a partition read directly is refused, so every read goes through the policy.
GRANT SELECT ON activity_records TO vault_dataset_reader;

-- A partition read directly is not subject to the parent's policies. Should a grant on one ever
-- slip in (by hand, or by default privileges), row-level security enabled on it without a policy
-- still shows non-owners no row. Reads through the parent are unaffected: they use its policies.
DO $$
DECLARE
  part regclass;
BEGIN
  FOR part IN SELECT inhrelid::regclass FROM pg_inherits WHERE inhparent = 'activity_records'::regclass LOOP
    EXECUTE format('ALTER TABLE %s ENABLE ROW LEVEL SECURITY', part);
  END LOOP;
END $$;

CREATE OR REPLACE FUNCTION vault_ensure_record_partition(month text) RETURNS void
LANGUAGE plpgsql SET timezone = 'UTC' AS $$
DECLARE
  first_day timestamptz := (month || '-01 00:00:00+00')::timestamptz;
  partition_name text := 'activity_records_' || replace(month, '-', '_');
BEGIN
  IF month !~ '^[0-9]{4}-[0-9]{2}$' THEN
    RAISE EXCEPTION 'bad month %', month;
  END IF;
  IF to_regclass(partition_name) IS NOT NULL THEN
    RETURN;
  END IF;
  PERFORM pg_advisory_xact_lock(hashtext('vault_ensure_record_partition'));
  IF to_regclass(partition_name) IS NOT NULL THEN
    RETURN;
  END IF;
  EXECUTE format('CREATE TABLE %I PARTITION OF activity_records FOR VALUES FROM (%L) TO (%L)',
    partition_name, first_day, first_day + interval '1 month');
  EXECUTE format('ALTER TABLE %I ENABLE ROW LEVEL SECURITY', partition_name);
END $$;

-- Enabled, not forced: the owner (ingest, leases, key lookups) is not subject to it, and any role
-- without a policy of its own sees no row.
ALTER TABLE activity_records ENABLE ROW LEVEL SECURITY;

-- Each setting is read once per statement (the scalar subqueries become InitPlans), so the cost
-- per row is a few comparisons and the org unit and time bounds can still drive the index.
-- A setting that is unset (NULL) or was set and ended in this session ('') admits no row.
-- The lists are text[] literals produced by PostgreSQL itself (text[]::text), which round-trip
-- whatever the names contain.
CREATE POLICY activity_records_dataset_scope ON activity_records
  AS PERMISSIVE FOR SELECT TO vault_dataset_reader
  USING (
    org_unit = ANY ((SELECT nullif(current_setting('vault.scope_org_units', true), '')::text[])::text[])
    AND kind = ANY ((SELECT nullif(current_setting('vault.scope_kinds', true), '')::text[])::text[])
    AND sensitivity <= (SELECT nullif(current_setting('vault.scope_max_sensitivity', true), '')::smallint)
    AND captured_at >= (SELECT nullif(current_setting('vault.scope_from', true), '')::timestamptz)
    AND captured_at < (SELECT nullif(current_setting('vault.scope_to', true), '')::timestamptz)
    AND ingested_at <= (SELECT nullif(current_setting('vault.scope_frozen_at', true), '')::timestamptz)
  );
