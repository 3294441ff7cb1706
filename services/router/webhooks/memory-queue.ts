/**
 * The webhook queue in process memory: standalone mode (`npm start`) and unit
 * tests. Same contract as the JetStream adapter except durability: jobs,
 * retries and dead letters are lost when the process exits (documented in
 * docs/webhooks.md; cluster mode uses JetStream).
 *
 * Bounded, as the JetStream streams are: the jobs held (waiting, in flight or
 * waiting for a retry, every endpoint together) by count and body bytes, past
 * which new copies are refused (the sink drops and counts them, as JetStream's
 * DiscardNew does); and the dead letters by the same numbers of their own,
 * past which the oldest are dropped (as the dead stream's DiscardOld). A
 * replay moves only as many dead letters as the queue has room for.
 * With `share`, one key (user) holds at most its share of the jobs and
 * bytes (core/share.ts): its new jobs past it are refused, retries never.
 * Dead letters have a share of their own with the same numbers: a job dying
 * while its key holds its share of the dead letters is dropped (dead()
 * resolves false), so one user's failing events cannot push every other
 * user's dead letters out of the bound. Dead letters of replayed jobs carry
 * no key (a replay is the operator's) and are not charged.
 */
import type { LeasedJob, QueueConsumer, WebhookEvent, WebhookQueue } from './core/queue.js';
import type { DeadLetter, WebhookJob } from './core/types.js';
import { ShareLedger, type ShareLimits } from './core/share.js';

/** `key`: the share the entry is charged to (released when it leaves the queue). */
interface Entry { job: WebhookJob; attempts: number; bytes: number; key?: string }

/** Defaults: LONGLINK_WEBHOOK_MEMORY_MAX_JOBS / _BYTES. */
export interface MemoryQueueBounds { maxJobs: number; maxBytes: number; share?: ShareLimits }
const DEFAULT_BOUNDS: MemoryQueueBounds = { maxJobs: 100_000, maxBytes: 64 * 1024 ** 2 };

/** Rejected enqueue: the queue is at its bound (the sink counts the event as dropped). */
export class WebhookQueueFullError extends Error {
  constructor(held: number, bytes: number) { super(`webhook queue full (${held} jobs, ${bytes} bytes)`); this.name = 'WebhookQueueFullError'; }
}

interface Lane {
  ready: Entry[];
  /** Handed out and not settled, or waiting for a retry timer. */
  held: number;
  /** `key`: the dead-letter share it is charged to. */
  dead: Array<DeadLetter & { bytes: number; key?: string }>;
  consumer?: { concurrency: number; handle: (j: LeasedJob) => Promise<void>; active: number };
}

export class MemoryWebhookQueue implements WebhookQueue {
  private readonly lanes = new Map<string, Lane>();
  private readonly timers = new Set<NodeJS.Timeout>();
  private closed = false;
  /** Jobs held (ready, in flight, waiting for a retry) and their body bytes, all lanes. */
  private held = 0;
  private heldBytes = 0;
  /** Dead letters of all lanes and their body bytes. */
  private deadJobs = 0;
  private deadBytes = 0;
  private readonly bounds: MemoryQueueBounds;
  private readonly share: ShareLedger | undefined;
  /** The dead letters' share (the same limits, its own counts). */
  private readonly deadShare: ShareLedger | undefined;

  constructor(bounds: Partial<MemoryQueueBounds> = {}) {
    this.bounds = Object.freeze({ ...DEFAULT_BOUNDS, ...bounds });
    this.share = bounds.share ? new ShareLedger(bounds.share) : undefined;
    this.deadShare = bounds.share ? new ShareLedger(bounds.share) : undefined;
  }

  /** Jobs and bytes held, and dead letters: what the bounds apply to. */
  get usage(): { jobs: number; bytes: number; dead: number; deadBytes: number } {
    return { jobs: this.held, bytes: this.heldBytes, dead: this.deadJobs, deadBytes: this.deadBytes };
  }

  /** How many of `copies` jobs of `bytes` each fit within the bounds (jobs and bytes held, every endpoint together). */
  private roomFor(copies: number, bytes: number): number {
    const byJobs = this.bounds.maxJobs - this.held;
    const free = this.bounds.maxBytes - this.heldBytes;
    const byBytes = bytes === 0 ? (free >= 0 ? copies : 0) : Math.floor(free / bytes);
    return Math.max(0, Math.min(copies, byJobs, byBytes));
  }

  private take(bytes: number): void { this.held++; this.heldBytes += bytes; }
  private release(e: Entry): void {
    this.held--;
    this.heldBytes -= e.bytes;
    if (e.key !== undefined) this.share?.release(e.key, e.bytes);
  }

  private lane(endpoint: string): Lane {
    let l = this.lanes.get(endpoint);
    if (!l) { l = { ready: [], held: 0, dead: [] }; this.lanes.set(endpoint, l); }
    return l;
  }

  /**
   * Copy by copy, a copy is refused when the queue has no room for it (WebhookQueueFullError) or else when the
   * key's share is full (WebhookShareError); either holds for every later copy too (same size, and a refused
   * copy changes nothing), so the copies stored are a prefix, charged to the share in one step.
   */
  enqueueEvent(event: WebhookEvent, endpoints: readonly string[]): Array<Promise<void>> {
    if (this.closed) return endpoints.map(() => Promise.reject(new Error('webhook queue closed')));
    const bytes = Buffer.byteLength(event.body);
    const room = this.roomFor(endpoints.length, bytes);
    const key = this.share && event.key !== undefined ? event.key : undefined;
    const stored = key === undefined ? room : this.share!.takeCopies(key, bytes, room).taken;
    // Not stored with the job: retries and replays are never charged.
    const { key: _k, ...base } = event;
    const out: Array<Promise<void>> = [];
    for (let i = 0; i < stored; i++) {
      const endpoint = endpoints[i]!;
      this.take(bytes);
      this.lane(endpoint).ready.push({ job: { ...base, endpoint }, attempts: 0, bytes, key });
      this.pump(endpoint);
      out.push(Promise.resolve());
    }
    if (stored < endpoints.length) {
      const err = stored < room ? this.share!.refusal(key!) : new WebhookQueueFullError(this.held, this.heldBytes);
      for (let i = stored; i < endpoints.length; i++) out.push(Promise.reject(err));
    }
    return out;
  }

  async consume(endpoint: string, concurrency: number, handle: (j: LeasedJob) => Promise<void>): Promise<QueueConsumer> {
    const l = this.lane(endpoint);
    l.consumer = { concurrency, handle, active: 0 };
    queueMicrotask(() => this.pump(endpoint));
    return { stop: async () => { delete l.consumer; } };
  }

  private pump(endpoint: string): void {
    const l = this.lane(endpoint);
    const c = l.consumer;
    if (!c || this.closed) return;
    while (c.active < c.concurrency && l.ready.length > 0) {
      const e = l.ready.shift()!;
      e.attempts++;
      c.active++;
      l.held++;
      void c.handle(this.lease(endpoint, e)).catch(() => undefined).finally(() => { c.active--; this.pump(endpoint); });
    }
  }

  private lease(endpoint: string, e: Entry): LeasedJob {
    const l = this.lane(endpoint);
    let settled = false;
    const settle = (): void => {
      if (settled) throw new Error('lease already settled');
      settled = true;
      l.held--;
    };
    return {
      job: e.job, attempt: e.attempts,
      ack: async () => { settle(); this.release(e); },
      dead: async (letter) => { settle(); this.release(e); return this.addDead(l, letter, e.bytes, e.key); },
      retry: async (delayMs) => {
        if (settled) throw new Error('lease already settled');
        settled = true;
        const t = setTimeout(() => {
          this.timers.delete(t);
          l.held--;
          l.ready.push(e);
          this.pump(endpoint);
        }, delayMs);
        t.unref?.();
        this.timers.add(t);
      },
      working: () => undefined,
    };
  }

  /**
   * Keeps the dead letters within the bounds: the longest-dead (across endpoints) go first. A letter past its key's
   * dead-letter share is not kept (false).
   */
  private addDead(l: Lane, letter: DeadLetter, bytes: number, key: string | undefined): boolean {
    if (key !== undefined && this.deadShare && this.deadShare.takeCopies(key, bytes, 1).taken === 0) return false;
    l.dead.push({ ...letter, bytes, key });
    this.deadJobs++;
    this.deadBytes += bytes;
    while (this.deadJobs > this.bounds.maxJobs || this.deadBytes > this.bounds.maxBytes) {
      let oldest: Lane | undefined;
      for (const x of this.lanes.values()) if (x.dead.length > 0 && (oldest === undefined || x.dead[0]!.deadAt < oldest.dead[0]!.deadAt)) oldest = x;
      this.dropDead(oldest!.dead.shift()!);
    }
    return true;
  }

  private dropDead(d: { bytes: number; key?: string }): void {
    this.deadJobs--;
    this.deadBytes -= d.bytes;
    if (d.key !== undefined) this.deadShare?.release(d.key, d.bytes);
  }

  async depth(endpoint: string): Promise<number> {
    const l = this.lane(endpoint);
    return l.ready.length + l.held;
  }

  async deadCount(endpoint: string): Promise<number> {
    return this.lane(endpoint).dead.length;
  }

  async listDead(endpoint: string, limit: number): Promise<DeadLetter[]> {
    return this.lane(endpoint).dead.slice(0, limit).map(({ bytes: _b, key: _k, ...d }) => d);
  }

  async replayDead(endpoint: string, limit: number): Promise<number> {
    const l = this.lane(endpoint);
    // A fresh horizon, the same webhook-id; only as many as the queue has room for (the rest stay dead).
    const now = Date.now();
    let n = 0;
    while (n < limit && l.dead.length > 0 && this.roomFor(1, l.dead[0]!.bytes) === 1) {
      const d = l.dead.shift()!;
      this.dropDead(d);
      this.take(d.bytes);
      l.ready.push({ job: { ...d.job, createdAt: now }, attempts: 0, bytes: d.bytes });
      n++;
    }
    this.pump(endpoint);
    return n;
  }

  async close(): Promise<void> {
    this.closed = true;
    for (const t of this.timers) clearTimeout(t);
    this.timers.clear();
  }
}
