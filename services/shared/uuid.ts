/**
 * Random (version 4) UUIDs for message ids, with one string allocated per
 * id. `crypto.randomUUID()` builds its text from 20 concatenated pieces:
 * ~650 bytes of short-lived strings per id (measured with --trace-gc-nvp),
 * on every push without an id of its own, where the standalone process's
 * young-generation collections are what sets the push tail
 * (docs/benchmarks.md). Same source of randomness (the CSPRNG, drawn 256 ids
 * at a time, as Node caches entropy for randomUUID itself), same format.
 *
 * The pool and the 36-byte text buffer are reused: each id is copied out of
 * the buffer into its own string before the call returns, and each pool
 * slice is used for one id only.
 */
import { randomFillSync } from 'node:crypto';

const IDS_PER_FILL = 256;
const pool = Buffer.alloc(16 * IDS_PER_FILL);
let next = pool.length;
const text = Buffer.alloc(36);
/** ASCII codes of the two hex digits of each byte value. */
const HEX = new Uint8Array(512);
for (let b = 0; b < 256; b++) {
  const h = b.toString(16).padStart(2, '0');
  HEX[2 * b] = h.charCodeAt(0);
  HEX[2 * b + 1] = h.charCodeAt(1);
}
const DASH = 0x2d;

/** A random UUID (RFC 9562 version 4, lower-case hex), as `crypto.randomUUID()` gives. */
export function randomUuid(): string {
  if (next === pool.length) {
    randomFillSync(pool);
    next = 0;
  }
  let o = 0;
  for (let i = 0; i < 16; i++) {
    let b = pool[next + i]!;
    if (i === 6) b = (b & 0x0f) | 0x40; // version 4
    else if (i === 8) b = (b & 0x3f) | 0x80; // variant 10xx
    if (i === 4 || i === 6 || i === 8 || i === 10) text[o++] = DASH;
    text[o++] = HEX[2 * b]!;
    text[o++] = HEX[2 * b + 1]!;
  }
  next += 16;
  return text.toString('latin1', 0, 36);
}
