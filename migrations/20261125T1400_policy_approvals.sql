-- The two-person rule: a revision that grows a team's reach is activated only with an approval by
-- another security admin, given for exactly these bytes against exactly the activation then in
-- force, and used once.

CREATE TABLE policy_approvals (
  approval_id        bigserial PRIMARY KEY,
  revision           text NOT NULL REFERENCES policy_bundles (revision),
  sha256             text NOT NULL CHECK (sha256 ~ '^[0-9a-f]{64}$'),
  against_activation bigint REFERENCES policy_activations (activation_id),
  approved_by        text NOT NULL,
  approved_at        timestamptz NOT NULL DEFAULT now(),
  used_by_activation bigint UNIQUE REFERENCES policy_activations (activation_id)
);
CREATE INDEX policy_approvals_revision ON policy_approvals (revision) WHERE used_by_activation IS NULL;
