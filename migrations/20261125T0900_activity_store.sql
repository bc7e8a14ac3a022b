-- Roster, per-employee data keys (wrapped only), and activity records partitioned by month.
-- No record column holds plaintext: payloads live only inside `envelope` (see src/crypto).

CREATE TABLE employees (
  employee_id text PRIMARY KEY CHECK (employee_id ~ '^[A-Za-z0-9._@-]{1,128}$'),
  org_unit    text NOT NULL CHECK (org_unit ~ '^[A-Za-z0-9._-]{1,64}$'),
  region      text NOT NULL CHECK (length(region) BETWEEN 1 AND 64),
  enrolled    boolean NOT NULL,
  created_at  timestamptz NOT NULL DEFAULT now(),
  updated_at  timestamptz NOT NULL DEFAULT now()
);

-- A data key is random, never derived, and stored only wrapped under the KEK named by kek_id.
-- Crypto-shredding sets wrapped_key to NULL; the CHECK keeps "destroyed" and "no key" the same fact.
CREATE TABLE employee_data_keys (
  employee_id  text NOT NULL REFERENCES employees (employee_id),
  dek_version  integer NOT NULL CHECK (dek_version > 0),
  kek_id       text NOT NULL,
  wrapped_key  bytea,
  created_at   timestamptz NOT NULL DEFAULT now(),
  destroyed_at timestamptz,
  PRIMARY KEY (employee_id, dek_version),
  CHECK ((wrapped_key IS NULL) = (destroyed_at IS NOT NULL))
);

-- No foreign key to employees: ingest validates the roster itself, and a per-row FK check would
-- cost more than the encryption (docs/adr/0003). (event_id, captured_at) makes a retry idempotent.
CREATE TABLE activity_records (
  event_id    uuid NOT NULL,
  captured_at timestamptz NOT NULL,
  employee_id text NOT NULL,
  org_unit    text NOT NULL,
  kind        text NOT NULL,
  sensitivity smallint NOT NULL CHECK (sensitivity BETWEEN 0 AND 4),
  dek_version integer NOT NULL,
  envelope    bytea NOT NULL,
  ingested_at timestamptz NOT NULL DEFAULT now(),
  PRIMARY KEY (event_id, captured_at)
) PARTITION BY RANGE (captured_at);

-- Months are created on demand by ingest; the advisory lock serialises concurrent creators.
CREATE FUNCTION vault_ensure_record_partition(month text) RETURNS void
LANGUAGE plpgsql AS $$
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
