import { VaultError } from '../errors/index.js';

export const ROLES = ['ingest-agent', 'training-job', 'security-admin', 'auditor', 'privacy-officer', 'employee'] as const;
export type Role = (typeof ROLES)[number];

/** The verified identity behind a request. Built only from a token whose signature checked out. */
export interface Principal {
  readonly sub: string;
  readonly roles: readonly string[];
  readonly teams: readonly string[];
  readonly purpose: string | undefined;
  readonly jti: string | undefined;
}

/** Whether the principal is the employee `employeeId` acting for themself. */
export function isEmployeeSelf(principal: Principal, employeeId: string): boolean {
  return principal.roles.includes('employee') && principal.sub === employeeId;
}

export function hasRole(principal: Principal, role: Role): boolean {
  return principal.roles.includes(role);
}

/** Throws `ERR_FORBIDDEN` unless the principal holds one of `roles`. */
export function assertRole(principal: Principal, ...roles: Role[]): void {
  if (!roles.some((role) => principal.roles.includes(role))) {
    throw new VaultError('ERR_FORBIDDEN', 'this token is not allowed to do that', { internal: { required_roles: roles } });
  }
}
