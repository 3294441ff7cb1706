/**
 * Per-user share of the webhook queue: how many jobs (and body bytes) one
 * key (the user an event is about) may hold in the queue at once. Both queue
 * adapters keep one ledger and consult it on enqueue: a new job over its
 * key's share is refused (WebhookShareError, counted by the sink as
 * dropped with reason `user_share`), while other keys' jobs still enqueue.
 *
 * Only new events are charged. A job already queued is never refused again:
 * its retries (and, with JetStream, a retry re-published out of a batch)
 * stay charged to the key until the job leaves the queue (delivered or
 * dead-lettered), and a dead letter replayed by an operator is not charged.
 *
 * With `lapse` (the JetStream adapter, whose releases are reports that may
 * never come: a message expired by the stream's max_age or purged, acked by
 * a router of an earlier release, a report lost), a charge lapses once no
 * job of it can still be in the queue: charges are kept by generation (an
 * eighth of `lapse.ms`), a release names the generation it was charged in,
 * and generations older than `lapse.ms` are forgotten. A lost report then
 * holds a charge for at most 9/8 of `lapse.ms` instead of until a restart.
 */

export interface ShareLimits {
  /** Jobs one key may hold (waiting, in flight, waiting for a retry). */
  readonly maxJobs: number;
  /** Body bytes (UTF-8) one key may hold. */
  readonly maxBytes: number;
}

/** Charges older than `ms` are forgotten (`now`: a monotonic clock in ms). */
export interface ShareLapse { readonly ms: number; readonly now?: () => number }

/** Rejected enqueue: the event's key already holds its share of the queue. Other keys still enqueue. */
export class WebhookShareError extends Error {
  constructor(jobs: number, bytes: number, limits: ShareLimits) {
    super(`webhook queue share of this user full (${jobs}/${limits.maxJobs} jobs, ${bytes}/${limits.maxBytes} bytes)`);
    this.name = 'WebhookShareError';
  }
}

export interface Held { jobs: number; bytes: number }

/** Generations a charge lives through before it lapses. */
const GENERATIONS = 8;

export class ShareLedger {
  private readonly held = new Map<string, Held>();
  /** With lapse: the charges of each generation (inserted oldest first). */
  private readonly gens = new Map<number, Map<string, Held>>();
  private readonly slice: number;
  private readonly now: () => number;
  /** When the oldest generation lapses (Infinity: none held). */
  private nextLapse = Infinity;

  constructor(readonly limits: ShareLimits, private readonly lapse?: ShareLapse) {
    this.slice = lapse ? Math.max(1, Math.ceil(lapse.ms / GENERATIONS)) : 0;
    this.now = lapse?.now ?? (() => performance.now());
  }

  /**
   * Charges an event's `copies` (one job of `bytes` per endpoint) to `key` at
   * once: as many as fit the share charged one after another (a copy that
   * does not fit changes nothing, so every later copy does not fit either),
   * with one ledger update. Returns the generation charged (0 without
   * lapse: the release names it) and how many copies were; the others pass
   * the share (refusal() says by how much). `elsewhere`: what the key holds
   * outside this ledger (other routers' charges, as they announce them),
   * counted against the share but not kept here.
   */
  takeCopies(key: string, bytes: number, copies: number, elsewhere?: Held): { gen: number; taken: number } {
    const gen = this.lapse ? this.expire() : 0;
    const h = this.held.get(key);
    let jobs = (h?.jobs ?? 0) + (elsewhere?.jobs ?? 0), b = (h?.bytes ?? 0) + (elsewhere?.bytes ?? 0), taken = 0;
    // A key holding nothing may always enqueue one event, however large: a
    // byte share below one event's size would otherwise refuse that user forever.
    while (taken < copies && !(jobs + 1 > this.limits.maxJobs || (jobs > 0 && b + bytes > this.limits.maxBytes))) { jobs++; b += bytes; taken++; }
    if (taken === 0) return { gen, taken };
    add(this.held, key, bytes * taken, taken);
    if (this.lapse) {
      let g = this.gens.get(gen);
      if (!g) {
        this.gens.set(gen, (g = new Map()));
        if (this.nextLapse === Infinity) this.nextLapse = (gen + GENERATIONS + 1) * this.slice;
      }
      add(g, key, bytes * taken, taken);
    }
    return { gen, taken };
  }

  /** The error refusing `key`'s next job, with what it holds. */
  refusal(key: string, elsewhere?: Held): WebhookShareError {
    const h = this.held.get(key);
    return new WebhookShareError((h?.jobs ?? 0) + (elsewhere?.jobs ?? 0), (h?.bytes ?? 0) + (elsewhere?.bytes ?? 0), this.limits);
  }

  /**
   * The job left the queue (or was never stored). `gen`: the generation it was
   * charged in (with lapse; none: the oldest holding the key). A charge that
   * lapsed, was cleared or never made releases nothing: never below zero.
   */
  release(key: string, bytes: number, gen?: number): void {
    if (this.lapse) {
      this.expire();
      const g = gen !== undefined ? this.gens.get(gen) : this.oldestWith(key);
      if (g === undefined || !g.has(key)) return;
      sub(g, key, bytes);
    }
    sub(this.held, key, bytes);
  }

  /** What `key` holds now. */
  of(key: string): Held {
    if (this.lapse) this.expire();
    const h = this.held.get(key);
    return { jobs: h?.jobs ?? 0, bytes: h?.bytes ?? 0 };
  }

  /** Keys holding anything. */
  get keys(): number { return this.held.size; }

  /** Forgets every charge (the JetStream adapter, after missing settle notices: fail open). */
  clear(): void { this.held.clear(); this.gens.clear(); this.nextLapse = Infinity; }

  /** Forgets the generations that lapsed; returns the current one. */
  private expire(): number {
    const now = this.now();
    const cur = Math.floor(now / this.slice);
    if (now < this.nextLapse) return cur;
    for (const [gen, g] of this.gens) {
      if (gen >= cur - GENERATIONS) { this.nextLapse = (gen + GENERATIONS + 1) * this.slice; return cur; }
      for (const [key, h] of g) sub(this.held, key, h.bytes, h.jobs);
      this.gens.delete(gen);
    }
    this.nextLapse = Infinity;
    return cur;
  }

  private oldestWith(key: string): Map<string, Held> | undefined {
    for (const g of this.gens.values()) if (g.has(key)) return g;
    return undefined;
  }
}

function add(m: Map<string, Held>, key: string, bytes: number, jobs = 1): void {
  const h = m.get(key);
  if (h) { h.jobs += jobs; h.bytes += bytes; } else m.set(key, { jobs, bytes });
}

function sub(m: Map<string, Held>, key: string, bytes: number, jobs = 1): void {
  const h = m.get(key);
  if (!h) return;
  h.jobs -= jobs;
  h.bytes -= bytes;
  if (h.jobs <= 0 || h.bytes < 0) m.delete(key);
}
