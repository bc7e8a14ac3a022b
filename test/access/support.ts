import type { AuditEventView } from '../../src/audit/index.js';
import type { TestVault } from '../support/vault.js';

/** `auth.refused` events, polled until `done` holds for the reasons seen (tallies are written each second). */
export async function refusalsAudited(t: Pick<TestVault, 'vault'>, done: (reasons: Set<string>, events: AuditEventView[]) => boolean, timeoutMs = 6000): Promise<AuditEventView[]> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const { events } = await t.vault.audit.query({ action: 'auth.refused', limit: 1000 });
    if (done(new Set(events.map((e) => String(e.details.reason))), events)) return events;
    if (Date.now() > deadline) throw new Error(`refusals not audited in time: ${JSON.stringify(events.map((e) => e.details))}`);
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
}

/** A validly signed token whose payload was edited afterwards: its signature no longer matches. */
export function tampered(token: string): string {
  const [header, payload, signature] = token.split('.');
  const claims = JSON.parse(Buffer.from(payload!, 'base64url').toString()) as Record<string, unknown>;
  claims.roles = ['security-admin'];
  return `${header}.${Buffer.from(JSON.stringify(claims)).toString('base64url')}.${signature}`;
}

/** Resolves early in a wall-clock second, so a burst sent now falls within one second. */
export async function startOfSecond(): Promise<void> {
  await new Promise((resolve) => setTimeout(resolve, 1000 - (Date.now() % 1000) + 5));
}
