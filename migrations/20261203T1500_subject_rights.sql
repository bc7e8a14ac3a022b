-- Subject rights: an employee's own copy, erasure by crypto-shredding, and the receipt's count.

-- The employee's own copy and erasure's deletion find one employee's records without a scan.
CREATE INDEX activity_records_employee ON activity_records (employee_id, captured_at, event_id);

-- How many records each data-key version seals. Ingest appends one row per employee and batch and
-- never updates one, so concurrent batches do not wait on each other; erasure sums the rows of the
-- versions it destroys, so its receipt's count costs the same for 1,000 records as for 1,000,000.
CREATE TABLE record_tallies (
  employee_id text NOT NULL,
  dek_version integer NOT NULL,
  records bigint NOT NULL
);
CREATE INDEX record_tallies_key ON record_tallies (employee_id, dek_version);
INSERT INTO record_tallies (employee_id, dek_version, records)
  SELECT employee_id, dek_version, count(*) FROM activity_records GROUP BY employee_id, dek_version;

-- One row per erasure: what it destroyed (the receipt's facts) and how far deleting the rows got.
CREATE TABLE employee_erasures (
  erasure_id         uuid PRIMARY KEY,
  employee_id        text NOT NULL REFERENCES employees (employee_id),
  erased_at          timestamptz NOT NULL,
  erased_by          text NOT NULL,
  key_versions       integer[] NOT NULL,
  records_unreadable bigint NOT NULL,
  rows_deleted       bigint NOT NULL DEFAULT 0,
  rows_deleted_at    timestamptz
);
CREATE INDEX employee_erasures_pending ON employee_erasures (erased_at) WHERE rows_deleted_at IS NULL;

-- A destroyed data key stays destroyed and a key row is never removed: no write path can bring
-- back a key, and the versions an employee ever had stay on record (a new key takes a new version).
CREATE FUNCTION data_keys_stay_destroyed() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  IF TG_OP = 'DELETE' THEN
    RAISE EXCEPTION 'data key rows are kept' USING ERRCODE = 'insufficient_privilege';
  END IF;
  IF OLD.wrapped_key IS NULL AND NEW.wrapped_key IS NOT NULL THEN
    RAISE EXCEPTION 'a destroyed data key cannot be restored' USING ERRCODE = 'insufficient_privilege';
  END IF;
  IF NEW.employee_id <> OLD.employee_id OR NEW.dek_version <> OLD.dek_version THEN
    RAISE EXCEPTION 'a data key keeps its employee and version' USING ERRCODE = 'insufficient_privilege';
  END IF;
  RETURN NEW;
END;
$$;
CREATE TRIGGER employee_data_keys_stay_destroyed BEFORE UPDATE OR DELETE ON employee_data_keys
  FOR EACH ROW EXECUTE FUNCTION data_keys_stay_destroyed();
