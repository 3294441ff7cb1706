/**
 * Bounded concurrency with deadlines, for work whose requester gives up.
 *
 * Why: a gateway waits `timeoutMs` for a resume reply and then closes the
 * connection. In a reconnect storm the router receives resumes faster than
 * the store answers them. Started all at once, they queue inside the Redis
 * pipeline where nothing can be dropped: every request finishes after its
 * gateway gave up, the clients retry, and the router spends all its time on
 * answers nobody reads (congestion collapse; `npm run bench:storm` with fixed
 * 1 s retries reproduced it). Here at most `concurrency` tasks run; the rest
 * wait in a FIFO, and a task whose requester's budget ran out while it waited
 * is dropped before it touches the store: no wasted work, and no presence
 * entry registered for a connection the gateway has already closed. A full
 * queue rejects at once.
 *
 * Costs: O(1) per task (array queue with a moving head). Accuracy: deadlines
 * are checked when a task would start, on the injected clock; a task that
 * started in time runs to completion.
 */
import { Errors, LonglinkError } from '../../shared/errors.js';

export interface WorkQueueOptions {
  /** Tasks running at once (≥ 1). */
  concurrency: number;
  /** Tasks waiting at most (≥ 0); one more is rejected with ROUTER_OVERLOADED. */
  maxQueued: number;
  /**
   * Fraction of a task's budget that may pass in the queue before it is
   * dropped (0 < f ≤ 1): the rest is left for the work and the reply's trip.
   */
  startWithin: number;
}

export interface WorkQueueStats {
  started: number;
  /** Dropped in the queue: the requester's budget ran out first. */
  expired: number;
  /** Rejected because the queue was full. */
  shed: number;
}

/** The task waited past its requester's budget and never ran. */
export class QueueExpiredError extends LonglinkError {
  constructor() { super(Errors.ROUTER_OVERLOADED, 'expired in the queue'); }
}

interface Waiting {
  run: () => void;
  expire: () => void;
  deadline: number;
}

export function validateWorkQueueOptions(o: WorkQueueOptions): WorkQueueOptions {
  if (!Number.isInteger(o.concurrency) || o.concurrency < 1) throw new RangeError(`concurrency must be an integer >= 1, got ${o.concurrency}`);
  if (!Number.isInteger(o.maxQueued) || o.maxQueued < 0) throw new RangeError(`maxQueued must be an integer >= 0, got ${o.maxQueued}`);
  if (!(o.startWithin > 0 && o.startWithin <= 1)) throw new RangeError(`startWithin must be in (0, 1], got ${o.startWithin}`);
  return o;
}

export class WorkQueue {
  readonly stats: WorkQueueStats = { started: 0, expired: 0, shed: 0 };
  private running = 0;
  private queue: Array<Waiting | undefined> = [];
  private head = 0;

  constructor(private readonly o: WorkQueueOptions, private readonly now: () => number) {
    validateWorkQueueOptions(o);
  }

  get inFlight(): number { return this.running; }
  get queued(): number { return this.queue.length - this.head; }

  /**
   * Runs `task` now or when a slot frees up. `budgetMs`: how long the
   * requester waits in all; undefined means no deadline. Rejects with
   * ROUTER_OVERLOADED when the queue is full, or with QueueExpiredError when
   * the budget ran out in the queue (the task never ran).
   */
  run<T>(task: () => Promise<T>, budgetMs?: number): Promise<T> {
    if (this.running < this.o.concurrency && this.queued === 0) return this.start(task);
    if (this.queued >= this.o.maxQueued) {
      this.stats.shed++;
      return Promise.reject(new LonglinkError(Errors.ROUTER_OVERLOADED, 'queue full'));
    }
    return new Promise<T>((resolve, reject) => {
      this.queue.push({
        run: () => { this.start(task).then(resolve, reject); },
        expire: () => { reject(new QueueExpiredError()); },
        deadline: budgetMs === undefined ? Infinity : this.now() + budgetMs * this.o.startWithin,
      });
    });
  }

  private start<T>(task: () => Promise<T>): Promise<T> {
    this.running++;
    this.stats.started++;
    let p: Promise<T>;
    try { p = task(); } catch (err) { p = Promise.reject(err); }
    return p.finally(() => { this.running--; this.next(); });
  }

  private next(): void {
    const now = this.now();
    while (this.running < this.o.concurrency && this.head < this.queue.length) {
      const w = this.queue[this.head]!;
      this.queue[this.head++] = undefined;
      if (now > w.deadline) { this.stats.expired++; w.expire(); continue; }
      w.run();
    }
    if (this.head > 1024 && this.head * 2 > this.queue.length) {
      this.queue = this.queue.slice(this.head);
      this.head = 0;
    }
  }
}
