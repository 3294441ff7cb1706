/**
 * mulberry32: a tiny, fast, seeded 32-bit PRNG, so benches, fuzz cases and
 * randomized tests reproduce from a seed on any machine. Not for secrets.
 */
export class Rand {
  private state: number;
  constructor(seed: number) { this.state = seed >>> 0; }
  /** Uniform in [0, 1). */
  next(): number {
    this.state = (this.state + 0x6d2b79f5) >>> 0;
    let t = this.state;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  }
  /** Integer in [0, n). */
  int(n: number): number { return Math.floor(this.next() * n); }
  /** Integer in [lo, hi]. */
  range(lo: number, hi: number): number { return lo + this.int(hi - lo + 1); }
  chance(p: number): boolean { return this.next() < p; }
  pick<T>(xs: readonly T[]): T { return xs[this.int(xs.length)]!; }
}

/** The same sequence as a plain `() => number`, where a Math.random stand-in is wanted. */
export function rng(seed: number): () => number {
  const r = new Rand(seed);
  return () => r.next();
}
