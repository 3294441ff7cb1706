/**
 * Admission control, decided before auth and before the upgrade, so an
 * overloaded or draining gateway spends nothing on a connection it will not
 * keep: refuse while draining, at the connection limit, while too many
 * sessions are still starting (waiting for the router's resume answer: the
 * router is the bottleneck of a reconnect storm, and work it cannot finish
 * before the gateway's resume timeout is wasted), or over the connect rate
 * (token bucket). Refusals carry a Retry-After; the rate one is jittered
 * so rejected clients don't all return in the same second. Existing sessions
 * are never affected.
 */
import { Errors, type ErrorSpec } from '../../shared/errors.js';
import { newBucket, take, waitMs, type BucketState } from './token-bucket.js';

export type Admission = { ok: true } | { ok: false; error: ErrorSpec; retryAfterS: number };

export interface AdmissionOptions {
  maxConnections: number;
  connectRate: number;
  connectBurst: number;
  /** Connections allowed to be waiting for their session start at once. */
  maxStarting: number;
}

export class AdmissionControl {
  private readonly bucket: BucketState;

  constructor(private readonly o: AdmissionOptions, now: number, private readonly random: () => number) {
    this.bucket = newBucket(o.connectBurst, now);
  }

  decide(state: { draining: boolean; connections: number; starting: number }, now: number): Admission {
    if (state.draining) return { ok: false, error: Errors.DRAINING, retryAfterS: 5 };
    if (state.connections >= this.o.maxConnections) return { ok: false, error: Errors.ADMISSION_MAX_CONNECTIONS, retryAfterS: 10 };
    // Before the bucket: a refused connect should not also spend a token.
    if (state.starting >= this.o.maxStarting) return { ok: false, error: Errors.ADMISSION_STARTING, retryAfterS: 1 + Math.floor(this.random() * 3) };
    if (!take(this.bucket, this.o.connectRate, this.o.connectBurst, now)) {
      const wait = waitMs(this.bucket, this.o.connectRate, now);
      return { ok: false, error: Errors.ADMISSION_RATE, retryAfterS: Math.max(1, Math.ceil(wait / 1000)) + Math.floor(this.random() * 3) };
    }
    return { ok: true };
  }
}
