-- Two ingests creating the same month partition at once: the second waits on the advisory lock,
-- but its function body still looks the table up in the catalog snapshot taken before the wait, so
-- it misses the partition the first one committed and CREATE TABLE fails with duplicate_table
-- (seen in CI as "relation activity_records_2026_11 already exists"). The partition existing is
-- the outcome both wanted. Each partition still gets its own row-level security, enabled with no
-- policy, as in 20261125T1300_dataset_rls.
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
EXCEPTION WHEN duplicate_table OR unique_violation THEN
  RETURN;
END $$;
