/**
 * Bearer credentials (push API keys, the console token): parsing the
 * Authorization header and comparing in constant time.
 */
import { timingSafeEqual } from 'node:crypto';

/**
 * Compares in constant time, over a fixed width: every configured key is
 * zero-padded to the longest one's length in bytes, the presented key is
 * written into a scratch buffer of that width (zero-padded too, truncated
 * if longer) and compared with each key by timingSafeEqual; a match also
 * needs the presented key's exact byte length to be the key's. So the
 * comparison's time depends on neither the key's content nor its length,
 * as with comparing SHA-256 digests (what this did before), without a
 * digest per request: this runs once per push API request, and the
 * one-shot hash was a few per cent of a standalone push's CPU
 * (docs/benchmarks.md).
 */
export function keyMatcher(keys: readonly string[]): (presented: string) => boolean {
  const encoded = keys.map((k) => Buffer.from(k, 'utf8'));
  const width = Math.max(1, ...encoded.map((b) => b.length));
  const padded = encoded.map((b) => { const p = Buffer.alloc(width); b.copy(p); return { p, n: b.length }; });
  const scratch = Buffer.alloc(width);
  return (presented) => {
    const bytes = Buffer.byteLength(presented, 'utf8');
    const n = scratch.write(presented, 0, 'utf8');
    scratch.fill(0, n);
    let ok = false;
    for (const k of padded) {
      const same = timingSafeEqual(k.p, scratch);
      ok = (same && bytes === k.n) || ok;
    }
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
