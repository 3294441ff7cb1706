/**
 * The webhook queue in process memory: standalone mode (`npm start`) and unit
 * tests. Same contract as the JetStream adapter except durability: jobs,
 * retries and dead letters are lost when the process exits (documented in
 * docs/webhooks.md; cluster mode uses JetStream).
 */
import type { LeasedJob, QueueConsumer, WebhookQueue } from './core/queue.js';
import type { DeadLetter, WebhookJob } from './core/types.js';

interface Entry { job: WebhookJob; attempts: number }
interface Lane {
  ready: Entry[];
  /** Handed out and not settled, or waiting for a retry timer. */
  held: number;
  dead: DeadLetter[];
  consumer?: { concurrency: number; handle: (j: LeasedJob) => Promise<void>; active: number };
}

export class MemoryWebhookQueue implements WebhookQueue {
  private readonly lanes = new Map<string, Lane>();
  private readonly timers = new Set<NodeJS.Timeout>();
  private closed = false;

  private lane(endpoint: string): Lane {
    let l = this.lanes.get(endpoint);
    if (!l) { l = { ready: [], held: 0, dead: [] }; this.lanes.set(endpoint, l); }
    return l;
  }

  async enqueue(job: WebhookJob): Promise<void> {
    if (this.closed) throw new Error('webhook queue closed');
    this.lane(job.endpoint).ready.push({ job, attempts: 0 });
    this.pump(job.endpoint);
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
      ack: async () => { settle(); },
      dead: async (letter) => { settle(); l.dead.push(letter); },
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

  async depth(endpoint: string): Promise<number> {
    const l = this.lane(endpoint);
    return l.ready.length + l.held;
  }

  async deadCount(endpoint: string): Promise<number> {
    return this.lane(endpoint).dead.length;
  }

  async listDead(endpoint: string, limit: number): Promise<DeadLetter[]> {
    return this.lane(endpoint).dead.slice(0, limit);
  }

  async replayDead(endpoint: string, limit: number): Promise<number> {
    const l = this.lane(endpoint);
    const out = l.dead.splice(0, limit);
    // A fresh horizon, the same webhook-id.
    const now = Date.now();
    for (const d of out) l.ready.push({ job: { ...d.job, createdAt: now }, attempts: 0 });
    this.pump(endpoint);
    return out.length;
  }

  async close(): Promise<void> {
    this.closed = true;
    for (const t of this.timers) clearTimeout(t);
    this.timers.clear();
  }
}
