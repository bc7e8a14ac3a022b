-- Signed policy bundles as uploaded, and every activation (the newest one is in force).
-- Rolling back is activating an earlier revision: a new row, never an edit.

CREATE TABLE policy_bundles (
  revision   text PRIMARY KEY CHECK (revision ~ '^[A-Za-z0-9._:+-]{1,128}$'),
  sha256     text NOT NULL CHECK (sha256 ~ '^[0-9a-f]{64}$'),
  archive    bytea NOT NULL,
  signed_by  text NOT NULL,
  files      text[] NOT NULL,
  staged_by  text NOT NULL,
  staged_at  timestamptz NOT NULL DEFAULT now()
);

CREATE TABLE policy_activations (
  activation_id bigserial PRIMARY KEY,
  revision      text NOT NULL REFERENCES policy_bundles (revision),
  activated_by  text NOT NULL,
  activated_at  timestamptz NOT NULL DEFAULT now()
);

-- Every running instance swaps its evaluator on this notification (and polls as a backstop).
-- A trigger, so an activation written by any path, even by hand, is announced.
CREATE FUNCTION vault_announce_policy_activation() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
  PERFORM pg_notify('vault_policy', NEW.revision);
  RETURN NEW;
END $$;

CREATE TRIGGER policy_activation_announce AFTER INSERT ON policy_activations
  FOR EACH ROW EXECUTE FUNCTION vault_announce_policy_activation();
