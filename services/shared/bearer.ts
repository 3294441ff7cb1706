/**
 * Bearer credentials (push API keys, the console token): parsing the
 * Authorization header and comparing in constant time.
 */
import { hash, timingSafeEqual } from 'node:crypto';

/**
 * Digests first, so comparison time depends on neither the key's content nor its length.
 * One-shot `hash` (no Hash object): this runs once per push API request.
 */
export function keyMatcher(keys: readonly string[]): (presented: string) => boolean {
  const digests = keys.map((k) => hash('sha256', k, 'buffer'));
  return (presented) => {
    const d = hash('sha256', presented, 'buffer');
    let ok = false;
    for (const k of digests) ok = timingSafeEqual(k, d) || ok;
    return ok;
  };
}

/** The credential of an `Authorization: Bearer <credential>` header, or undefined. */
export function bearerOf(header: string | undefined): string | undefined {
  const h = header ?? '';
  const sp = h.indexOf(' ');
  if (sp < 0 || h.slice(0, sp).toLowerCase() !== 'bearer') return undefined;
  const t = h.slice(sp + 1).trim();
  return t === '' ? undefined : t;
}
