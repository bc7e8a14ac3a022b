import { AsyncLocalStorage } from 'node:async_hooks';

/** What one request has put on the audit log so far, as its adapter needs to know before it audits an error itself. */
export interface AuditScope {
  /** A deny was durably appended (committed) while serving the request. */
  denyRecorded: boolean;
}

const scopes = new AsyncLocalStorage<AuditScope>();

/**
 * Runs `work`, and everything it awaits, in `scope`: a deny the services append for the request
 * marks it, so the adapter that maps the resulting error does not write a second event.
 *
 * @example
 * const scope = { denyRecorded: false };
 * await runInAuditScope(scope, () => services.datasets.openStream(principal, id, { after })).catch(...);
 * if (!scope.denyRecorded) await audit.appendAlone({ action: 'http.refused', ... });
 */
export function runInAuditScope<T>(scope: AuditScope, work: () => T): T {
  return scopes.run(scope, work);
}

/** Marks the current request's scope, if any: called by the log once a deny has committed. */
export function noteDurableDeny(): void {
  const scope = scopes.getStore();
  if (scope) scope.denyRecorded = true;
}
