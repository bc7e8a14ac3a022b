-- Dataset leases: a decision's scope, frozen with its policy revision, requester, purpose and
-- expiry; and which employees each dataset reached (for their access reports).

CREATE TABLE dataset_leases (
  dataset_id      uuid PRIMARY KEY,
  decision_id     uuid NOT NULL UNIQUE,
  requester       text NOT NULL,
  teams           text[] NOT NULL,
  purpose         text NOT NULL,
  policy_revision text NOT NULL,
  org_units       text[] NOT NULL CHECK (cardinality(org_units) > 0),
  kinds           text[] NOT NULL CHECK (cardinality(kinds) > 0),
  max_sensitivity smallint NOT NULL CHECK (max_sensitivity BETWEEN 0 AND 3),
  scope_from      timestamptz NOT NULL,
  scope_to        timestamptz NOT NULL CHECK (scope_to > scope_from),
  frozen_at       timestamptz NOT NULL,
  record_count    bigint NOT NULL,
  employee_count  integer NOT NULL,
  pseudonym_key   bytea NOT NULL,
  created_at      timestamptz NOT NULL DEFAULT now(),
  expires_at      timestamptz NOT NULL CHECK (expires_at <= created_at + interval '24 hours')
);

CREATE TABLE dataset_employees (
  dataset_id   uuid NOT NULL REFERENCES dataset_leases (dataset_id),
  employee_id  text NOT NULL,
  record_count bigint NOT NULL,
  PRIMARY KEY (dataset_id, employee_id)
);
CREATE INDEX dataset_employees_employee ON dataset_employees (employee_id);

-- Keyset streaming walks one org unit at a time in (captured_at, event_id) order.
CREATE INDEX activity_records_scope ON activity_records (org_unit, captured_at, event_id);

CREATE INDEX audit_events_decision ON audit_events (decision_id) WHERE decision_id IS NOT NULL;
