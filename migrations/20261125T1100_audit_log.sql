-- The tamper-evident access log. Each event's hash covers the previous hash and the canonical
-- encoding of the event (src/audit/chain.ts); appends are serialised on the single head row, whose
-- MAC (keyed by a KEK-wrapped secret) also covers the newest (seq, hash), so deleting or forging
-- the newest events is caught too. Signed checkpoints let auditors verify with their own tools.

CREATE TABLE vault_secrets (
  name        text PRIMARY KEY,
  kek_id      text NOT NULL,
  wrapped     bytea NOT NULL,
  created_at  timestamptz NOT NULL DEFAULT now()
);

CREATE TABLE audit_events (
  seq             bigint PRIMARY KEY CHECK (seq > 0),
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
  prev_hash       bytea NOT NULL,
  hash            bytea NOT NULL
);
CREATE INDEX audit_events_actor ON audit_events (actor, seq);
CREATE INDEX audit_events_action ON audit_events (action, seq);
CREATE INDEX audit_events_employee ON audit_events (employee_ref, seq) WHERE employee_ref IS NOT NULL;
CREATE INDEX audit_events_time ON audit_events (occurred_at);
CREATE INDEX audit_events_teams ON audit_events USING gin (teams);

CREATE TABLE audit_head (
  singleton boolean PRIMARY KEY DEFAULT true CHECK (singleton),
  seq       bigint NOT NULL,
  hash      bytea NOT NULL,
  mac       bytea NOT NULL
);

CREATE TABLE audit_checkpoints (
  seq        bigint PRIMARY KEY,
  hash       bytea NOT NULL,
  signed_at  timestamptz NOT NULL,
  key_id     text NOT NULL,
  signature  bytea NOT NULL
);

-- The log is append-only: no edit, no delete, no truncate, for the owner too (privileges revoked
-- below) and whatever the privileges (these triggers). Only a superuser disabling triggers gets
-- past both, and verification catches what it does.
CREATE FUNCTION vault_audit_append_only() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
  RAISE EXCEPTION 'the audit log is append-only (% refused)', TG_OP USING ERRCODE = 'insufficient_privilege';
END $$;

CREATE TRIGGER audit_events_append_only BEFORE UPDATE OR DELETE ON audit_events
  FOR EACH ROW EXECUTE FUNCTION vault_audit_append_only();
CREATE TRIGGER audit_events_no_truncate BEFORE TRUNCATE ON audit_events
  FOR EACH STATEMENT EXECUTE FUNCTION vault_audit_append_only();
CREATE TRIGGER audit_checkpoints_append_only BEFORE UPDATE OR DELETE ON audit_checkpoints
  FOR EACH ROW EXECUTE FUNCTION vault_audit_append_only();
CREATE TRIGGER audit_checkpoints_no_truncate BEFORE TRUNCATE ON audit_checkpoints
  FOR EACH STATEMENT EXECUTE FUNCTION vault_audit_append_only();

REVOKE UPDATE, DELETE, TRUNCATE ON audit_events, audit_checkpoints FROM PUBLIC;
REVOKE UPDATE, DELETE, TRUNCATE ON audit_events, audit_checkpoints FROM CURRENT_USER;
