-- Appends no longer take the head's row lock. An event is written here in the action's own
-- transaction (so the action and its event still commit together or not at all), and one
-- sequencer at a time chains queued events in batches moments later: it holds the head's lock
-- for one batch, not for every action's transaction (ADR 0006). Each queued row carries a MAC
-- under the log's KEK-wrapped key, so a queued event that is edited or forged before it is
-- chained is caught by the sequencer and by verify.
CREATE TABLE audit_queue (
  queue_id        bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
  event_id        uuid NOT NULL UNIQUE,
  occurred_at     timestamptz NOT NULL,
  action          text NOT NULL,
  decision        text NOT NULL CHECK (decision IN ('allow', 'deny', 'info', 'error')),
  severity        text NOT NULL CHECK (severity IN ('info', 'high')),
  actor           text,
  actor_roles     text[] NOT NULL,
  teams           text[] NOT NULL,
  purpose         text,
  employee_ref    text,
  policy_revision text,
  record_count    bigint,
  decision_id     uuid,
  details         text NOT NULL,
  mac             bytea NOT NULL
);

-- A queued event is never edited, and leaves the queue only once it is in the chain: the
-- sequencer deletes it in the transaction that chains it. Deleting an unchained event (to erase
-- an acknowledged action) is refused whatever the role's privileges; only a superuser disabling
-- triggers gets past it.
CREATE TRIGGER audit_queue_no_update BEFORE UPDATE ON audit_queue
  FOR EACH ROW EXECUTE FUNCTION vault_audit_append_only();

CREATE FUNCTION vault_audit_queue_leaves_chained() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
  IF NOT EXISTS (SELECT 1 FROM audit_events WHERE event_id = OLD.event_id) THEN
    RAISE EXCEPTION 'audit event % is not chained yet and cannot leave the queue', OLD.event_id USING ERRCODE = 'insufficient_privilege';
  END IF;
  RETURN OLD;
END $$;

CREATE TRIGGER audit_queue_leaves_chained BEFORE DELETE ON audit_queue
  FOR EACH ROW EXECUTE FUNCTION vault_audit_queue_leaves_chained();
CREATE TRIGGER audit_queue_no_truncate BEFORE TRUNCATE ON audit_queue
  FOR EACH STATEMENT EXECUTE FUNCTION vault_audit_append_only();
REVOKE UPDATE, TRUNCATE ON audit_queue FROM PUBLIC;
REVOKE UPDATE, TRUNCATE ON audit_queue FROM CURRENT_USER;

-- Rows come and go all day: vacuum it by row count, not by a fraction of a table that is nearly empty.
ALTER TABLE audit_queue SET (autovacuum_vacuum_scale_factor = 0, autovacuum_vacuum_threshold = 1000);
