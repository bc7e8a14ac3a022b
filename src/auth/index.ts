export { ROLES, hasRole, assertRole, isEmployeeSelf, type Role, type Principal } from './principal.js';
export {
  createTokenVerifier,
  readJwksFile,
  tokenFailureReason,
  ACCEPTED_ALGORITHMS,
  CLOCK_SKEW_SECONDS,
  DEFAULT_MAX_TOKEN_TTL_SECONDS,
  type TokenVerifier,
  type TokenVerifierOptions,
} from './tokens.js';
export { loadDevSigningKey, devKeyFile, type DevSigningKey, type MintClaims } from './dev-keys.js';
