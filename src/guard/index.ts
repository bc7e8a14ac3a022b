export {
  findInvariantBreach,
  assertWithinBlastRadius,
  breachError,
  employeesReached,
  exceedsScopeFraction,
  NEVER_EXPORTED_SENSITIVITY,
  type GuardSubject,
  type GuardScope,
  type RosterReach,
  type BlastRadiusLimits,
  type InvariantBreach,
  type InvariantCode,
} from './invariants.js';
export { computeAccessDiff, type AccessDiff, type AccessDiffInput, type AccessPolicy, type TeamReach } from './access-diff.js';
