-- What the program collects at all, and the levers that stop it (issue 12).

-- The collection manifest: append-only versions, each the whole document as the privacy officer
-- stored it. The version in force is the highest.
CREATE TABLE collection_manifests (
  version integer PRIMARY KEY CHECK (version >= 1),
  document jsonb NOT NULL,
  sha256 text NOT NULL,
  created_by text NOT NULL,
  created_at timestamptz NOT NULL DEFAULT now()
);

-- Consent: which manifest version the employee consented to, and when.
ALTER TABLE employees ADD COLUMN consented_version integer REFERENCES collection_manifests (version);
ALTER TABLE employees ADD COLUMN consented_at timestamptz;
ALTER TABLE employees ADD CONSTRAINT employees_consent_whole
  CHECK ((consented_version IS NULL) = (consented_at IS NULL));

-- An employee's pause (a window) or opt-out (open until they opt back in). Rows are kept: whether
-- an employee was paused at 10:42 has an answer. Ending early sets ends_at, nothing else changes.
CREATE TABLE employee_pauses (
  pause_id bigserial PRIMARY KEY,
  employee_id text NOT NULL REFERENCES employees (employee_id),
  kind text NOT NULL CHECK (kind IN ('pause', 'opt_out')),
  starts_at timestamptz NOT NULL,
  ends_at timestamptz,
  requested_until timestamptz,
  started_by text NOT NULL,
  ended_by text,
  CHECK (kind = 'opt_out' OR requested_until IS NOT NULL),
  CHECK (ends_at IS NULL OR ends_at >= starts_at)
);
CREATE INDEX employee_pauses_by_employee ON employee_pauses (employee_id, starts_at);

-- The program's kill switch (scope 'collection') and export freeze (scope 'exports'). At most one
-- open row per scope. Resuming a freeze is requested by one person and done by another.
CREATE TABLE program_pauses (
  pause_id bigserial PRIMARY KEY,
  scope text NOT NULL CHECK (scope IN ('collection', 'exports')),
  starts_at timestamptz NOT NULL,
  reason text NOT NULL,
  paused_by text NOT NULL,
  resume_requested_by text,
  resume_requested_at timestamptz,
  resume_reason text,
  ends_at timestamptz,
  resumed_by text,
  CHECK (ends_at IS NULL OR ends_at >= starts_at)
);
CREATE UNIQUE INDEX program_pauses_one_open ON program_pauses (scope) WHERE ends_at IS NULL;

-- Every change an agent must learn of, in order: the id is the SSE event id (Last-Event-ID).
CREATE TABLE collection_events (
  event_id bigserial PRIMARY KEY,
  occurred_at timestamptz NOT NULL DEFAULT clock_timestamp(),
  type text NOT NULL,
  employee_id text,
  data jsonb NOT NULL
);

CREATE FUNCTION collection_append_only() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  RAISE EXCEPTION '% is append-only', TG_TABLE_NAME USING ERRCODE = 'insufficient_privilege';
END;
$$;
CREATE TRIGGER collection_manifests_append_only BEFORE UPDATE OR DELETE ON collection_manifests
  FOR EACH ROW EXECUTE FUNCTION collection_append_only();
CREATE TRIGGER collection_events_append_only BEFORE UPDATE OR DELETE ON collection_events
  FOR EACH ROW EXECUTE FUNCTION collection_append_only();
CREATE TRIGGER collection_manifests_no_truncate BEFORE TRUNCATE ON collection_manifests
  FOR EACH STATEMENT EXECUTE FUNCTION collection_append_only();
CREATE TRIGGER collection_events_no_truncate BEFORE TRUNCATE ON collection_events
  FOR EACH STATEMENT EXECUTE FUNCTION collection_append_only();

-- A window's start never moves, an end already past never moves, and an end only comes sooner:
-- the history holds.
CREATE FUNCTION pause_rows_only_end() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  IF TG_OP = 'DELETE' THEN
    RAISE EXCEPTION '% rows are kept', TG_TABLE_NAME USING ERRCODE = 'insufficient_privilege';
  END IF;
  IF NEW.starts_at IS DISTINCT FROM OLD.starts_at
     OR (OLD.ends_at IS NOT NULL AND (NEW.ends_at IS NULL OR NEW.ends_at > OLD.ends_at OR OLD.ends_at <= now()))
  THEN
    RAISE EXCEPTION 'a pause window''s start and a past end do not change, and an end only comes sooner' USING ERRCODE = 'insufficient_privilege';
  END IF;
  RETURN NEW;
END;
$$;
CREATE TRIGGER employee_pauses_only_end BEFORE UPDATE OR DELETE ON employee_pauses
  FOR EACH ROW EXECUTE FUNCTION pause_rows_only_end();
CREATE TRIGGER program_pauses_only_end BEFORE UPDATE OR DELETE ON program_pauses
  FOR EACH ROW EXECUTE FUNCTION pause_rows_only_end();
