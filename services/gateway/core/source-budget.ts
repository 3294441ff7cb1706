/**
 * Per-source-address connect budget: a token bucket per client address (an
 * IPv6 client's /64),
 * spent by every upgrade attempt from it (valid or not) before the token is
 * verified. One source flooding upgrades (garbage tokens, or a valid token
 * opened in a loop) runs out of its own budget and gets 429s, while every
 * other source keeps its own: the gateway-wide admission budget is only ever
 * spent by verified upgrades within their source's budget.
 *
 * Many users can share one address (carrier-grade NAT, an office proxy), so
 * the default is generous and operators behind a proxy that hides client
 * addresses should raise it or turn it off (LONGLINK_SOURCE_CONNECT_RATE=0).
 *
 * Memory is bounded: at most `maxSources` buckets; a bucket idle long enough
 * to be full again is forgotten by `sweep` (it would behave the same as a new
 * one), and when the map is full the oldest entry is evicted. O(1) per call,
 * sweep O(sources) and meant to run on a timer tick.
 */
import { newBucket, take, waitMs, type BucketState } from '../../shared/token-bucket.js';
import { sourceKey } from './source-key.js';

export interface SourceBudgetOptions {
  /** Upgrades per second per source (0 turns the budget off). */
  ratePerSec: number;
  burst: number;
  maxSources: number;
}

export class SourceBudget {
  private readonly buckets = new Map<string, BucketState>();
  /** Upgrades refused for being over their source's budget. */
  refused = 0;

  constructor(private readonly o: SourceBudgetOptions) {}

  get enabled(): boolean { return this.o.ratePerSec > 0; }
  get sources(): number { return this.buckets.size; }

  /** Spends one token of `source` (an IPv6 address counts for its /64: source-key.ts); returns 0 if allowed, else the seconds until one is available (≥ 1). */
  take(source: string, now: number): number {
    if (!this.enabled) return 0;
    const key = sourceKey(source);
    let b = this.buckets.get(key);
    if (b === undefined) {
      if (this.buckets.size >= this.o.maxSources) this.buckets.delete(this.buckets.keys().next().value!);
      b = newBucket(this.o.burst, now);
      this.buckets.set(key, b);
    }
    if (take(b, this.o.ratePerSec, this.o.burst, now)) return 0;
    this.refused++;
    return Math.max(1, Math.ceil(waitMs(b, this.o.ratePerSec, now) / 1000));
  }

  /** Forgets buckets that have refilled completely. */
  sweep(now: number): void {
    if (!this.enabled) return;
    const fullAfterMs = (this.o.burst * 1000) / this.o.ratePerSec;
    for (const [k, b] of this.buckets) if (now - b.last >= fullAfterMs) this.buckets.delete(k);
  }
}
