-- Month partitions are UTC months whatever the session's TimeZone: computed in a session set to
-- Europe/Berlin, "first_day + 1 month" left the last hour of March without a partition and made
-- November's bounds overlap October's.
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
END $$;
