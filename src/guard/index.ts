export {
  findInvariantBreach,
  findRecordsReachBreach,
  breachError,
  employeesReached,
  type GuardSubject,
  type GuardScope,
  type RosterReach,
  type BlastRadiusLimits,
  type InvariantBreach,
  type InvariantCode,
} from './invariants.js';
export { findGrantViolations, type GrantViolation, type GrantViolationReason } from './grants.js';
export { computeAccessDiff, grantsOf, type AccessDiff, type AccessDiffInput, type AccessPolicy, type TeamReach } from './access-diff.js';
