-- Org units may be paths of identifiers (`eng/ml/research`), as org charts are. Each path is one
-- unit, matched literally everywhere (RLS, grants, invariants); `.` and `..` are never a segment.
-- The same rule as ORG_UNIT in src/model/identifiers.ts.
DO $$
BEGIN
  -- The old rule let a unit be named "." or "..": say so plainly rather than fail on the constraint.
  IF EXISTS (SELECT 1 FROM employees WHERE org_unit IN ('.', '..')) THEN
    RAISE EXCEPTION 'employees in an org unit named "." or "..": rename the unit on the roster before upgrading (org units are paths now, where these mean something else)';
  END IF;
END $$;
ALTER TABLE employees DROP CONSTRAINT employees_org_unit_check;
ALTER TABLE employees ADD CONSTRAINT employees_org_unit_check CHECK (
  org_unit ~ '^[A-Za-z0-9._-]{1,64}(/[A-Za-z0-9._-]{1,64}){0,7}$'
  AND length(org_unit) <= 256
  AND org_unit !~ '(^|/)\.{1,2}(/|$)'
);
