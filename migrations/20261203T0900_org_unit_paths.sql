-- Org units may be paths of identifiers (`eng/ml/research`), as org charts are. Each path is one
-- unit, matched literally everywhere (RLS, grants, invariants); `.` and `..` are never a segment.
-- The same rule as ORG_UNIT in src/model/identifiers.ts.
ALTER TABLE employees DROP CONSTRAINT employees_org_unit_check;
ALTER TABLE employees ADD CONSTRAINT employees_org_unit_check CHECK (
  org_unit ~ '^[A-Za-z0-9._-]{1,64}(/[A-Za-z0-9._-]{1,64}){0,7}$'
  AND length(org_unit) <= 256
  AND org_unit !~ '(^|/)\.{1,2}(/|$)'
);
