/**
 * `process_open_fds` without stalling the event loop.
 *
 * prom-client's collector lists /proc/self/fd with readdirSync on every
 * scrape. The kernel walks every descriptor, so the cost grows with the
 * connections a gateway holds: 19–60 ms per scrape at 19,000 descriptors on
 * the 2-core test VM (roughly linear: 100–300 ms at 100,000), on the event
 * loop that answers heartbeats and delivers pushes. A 4 Hz scraper (the
 * storm bench) spent about a tenth of a gateway's CPU there.
 *
 * This count lists the directory on libuv's thread pool instead, and at most
 * once per `minIntervalMs`: a scrape within the interval gets the last count
 * (Prometheus scrapes every 15–30 s, so it normally sees a fresh one).
 * Concurrent scrapes share one listing. A failed listing keeps the last value.
 */
import { readdir } from 'node:fs/promises';
import type { Clock } from './clock.js';

export interface OpenFdOptions {
  clock: Clock;
  /** Minimum time between two listings (ms); > 0. */
  minIntervalMs: number;
  /** Lists the descriptors; the default reads /proc/self/fd. */
  read?: () => Promise<number>;
}

/** Descriptors open in this process, from /proc/self/fd (less the one the listing itself holds open). */
export async function procOpenFds(): Promise<number> {
  return (await readdir('/proc/self/fd')).length - 1;
}

export class OpenFdCount {
  private last: number | undefined;
  private at = -Infinity;
  private inFlight: Promise<number | undefined> | undefined;
  private readonly read: () => Promise<number>;

  constructor(private readonly o: OpenFdOptions) {
    if (!(o.minIntervalMs > 0)) throw new RangeError(`OpenFdCount: minIntervalMs must be > 0 (got ${o.minIntervalMs})`);
    this.read = o.read ?? procOpenFds;
  }

  /** The count, listed now or within the last minIntervalMs; undefined until a listing has succeeded. */
  value(): Promise<number | undefined> {
    if (this.last !== undefined && this.o.clock.now() - this.at < this.o.minIntervalMs) return Promise.resolve(this.last);
    this.inFlight ??= this.read().then(
      (n) => { this.last = n; this.at = this.o.clock.now(); return n; },
      () => this.last,
    ).finally(() => { this.inFlight = undefined; });
    return this.inFlight;
  }
}
