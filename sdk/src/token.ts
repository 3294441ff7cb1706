/**
 * Reads `exp` from a compact JWT without verifying it (the gateway verifies).
 * Used only to avoid connecting with a token that is already expired: a
 * browser cannot see the gateway's 401 (it reports 1006), so without this
 * check it would back off forever with a stale token.
 */
export function jwtExpiresAtMs(token: string): number | undefined {
  const part = token.split('.')[1];
  if (part === undefined || part.length === 0 || part.length > 8192) return undefined;
  try {
    const b64 = part.replace(/-/g, '+').replace(/_/g, '/').padEnd(Math.ceil(part.length / 4) * 4, '=');
    const payload: unknown = JSON.parse(atob(b64));
    if (typeof payload !== 'object' || payload === null) return undefined;
    const exp = (payload as { exp?: unknown }).exp;
    return typeof exp === 'number' && Number.isFinite(exp) ? exp * 1000 : undefined;
  } catch {
    return undefined;
  }
}

/** True when `token` is a JWT whose `exp` is at or before `wallNowMs` plus `skewMs`. Opaque tokens: false. */
export function tokenExpired(token: string, wallNowMs: number, skewMs = 1_000): boolean {
  const exp = jwtExpiresAtMs(token);
  return exp !== undefined && exp <= wallNowMs + skewMs;
}
