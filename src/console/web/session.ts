import type { Session } from './view.js';

// sessionStorage: the token lives as long as the tab, never in localStorage or a cookie.
const KEY = 'activity-vault.console.token';

export class TokenError extends Error {
  readonly code = 'invalid_token';
}

function base64UrlDecode(part: string): string {
  const b64 = part.replace(/-/g, '+').replace(/_/g, '/').padEnd(Math.ceil(part.length / 4) * 4, '=');
  const bytes = Uint8Array.from(atob(b64), (c) => c.charCodeAt(0));
  return new TextDecoder().decode(bytes);
}

function strings(v: unknown): string[] {
  return Array.isArray(v) ? v.filter((x): x is string => typeof x === 'string') : [];
}

/**
 * Reads sub, roles and teams from a JWT's payload to decide which views to offer. Not verified
 * here: the vault verifies the signature on every call, so a forged payload only shows empty views.
 */
export function decodeSession(token: string): Session {
  const trimmed = token.trim().replace(/^Bearer\s+/i, '');
  const parts = trimmed.split('.');
  if (parts.length !== 3 || !parts[1]) throw new TokenError('that is not a JWT (three dot-separated parts)');
  let payload: Record<string, unknown>;
  try {
    payload = JSON.parse(base64UrlDecode(parts[1])) as Record<string, unknown>;
  } catch {
    throw new TokenError('the token payload is not base64url JSON');
  }
  if (typeof payload.sub !== 'string' || payload.sub === '') throw new TokenError('the token has no sub');
  if (typeof payload.exp === 'number' && payload.exp * 1000 < Date.now()) throw new TokenError('the token has expired');
  return { token: trimmed, sub: payload.sub, roles: strings(payload.roles), teams: strings(payload.teams) };
}

export function loadSession(): Session | undefined {
  const token = sessionStorage.getItem(KEY);
  if (!token) return undefined;
  try {
    return decodeSession(token);
  } catch {
    sessionStorage.removeItem(KEY);
    return undefined;
  }
}

export function saveSession(session: Session): void {
  sessionStorage.setItem(KEY, session.token);
}

export function forgetSession(): void {
  sessionStorage.removeItem(KEY);
}
