-- Appends no longer take the head's row lock. An event is written here in the action's own
-- transaction (so the action and its event still commit together or not at all), and one
-- sequencer at a time chains queued events in batches moments later: it holds the head's lock
-- for one batch, not for every action's transaction (ADR 0006). Each queued row carries a MAC
-- under the log's KEK-wrapped key, so a queued event that is edited or forged before it is
-- chained is caught by the sequencer and by verify.
CREATE TABLE audit_queue (
  queue_id        bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
  event_id        uuid NOT NULL,
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

-- A queued event is never edited; the sequencer deletes it in the transaction that chains it.
CREATE TRIGGER audit_queue_no_update BEFORE UPDATE ON audit_queue
  FOR EACH ROW EXECUTE FUNCTION vault_audit_append_only();
CREATE TRIGGER audit_queue_no_truncate BEFORE TRUNCATE ON audit_queue
  FOR EACH STATEMENT EXECUTE FUNCTION vault_audit_append_only();
REVOKE UPDATE, TRUNCATE ON audit_queue FROM PUBLIC;
REVOKE UPDATE, TRUNCATE ON audit_queue FROM CURRENT_USER;
