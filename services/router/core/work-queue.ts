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
 * wait in a FIFO, and a task still waiting at its start deadline is dropped
 * before it touches the store: no wasted work, and no presence entry
 * registered for a connection the gateway has already closed. Its requester
 * gets the same overload answer (with a retry hint) as a task shed at
 * arrival, since the deadline leaves part of its budget.
 *
 * Shedding early, not late: the queue measures how long tasks take (smoothed
 * service time), so it knows at arrival how long a new task would wait:
 * queued × service time / concurrency. A task that could not start before
 * its deadline is refused at once, with that wait as a retry hint, instead of
 * being queued and dropped after its requester gave up (the gateway tells the
 * client when to come back; the client never sees a timeout). A full queue
 * refuses at once too. The start deadline follows the service time as well:
 * a task must start while its budget still covers twice the service time
 * (at most `startWithin` of the budget, at least a quarter of it).
 *
 * Time spent before the queue saw a task: `run`'s `ageMs` is how long the
 * request sat before it was read (request-age.ts, from the requester's stamp).
 * Its deadlines count from the requester's send, not from the read: a task
 * whose whole budget passed unread is dropped unanswered (AgedOutError with
 * `answer` false: its requester has certainly stopped waiting, as the age
 * errs low, so a reply is a message nobody reads), one that could no longer
 * start in time is refused at once with a retry hint (the requester still
 * waits). Neither touches the store (counted in `stats.agedOut`).
 *
 * Costs: O(1) per task (array queue with a moving head). Accuracy: deadlines
 * are checked when a task would start, on the injected clock; a task that
 * started in time runs to completion. The wait estimate assumes the service
 * time stays what it was; the deadline check at start catches the rest.
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
   * Only tasks run with a budget have a start deadline, so a queue whose
   * tasks have none (presence events: no requester waits for them) leaves
   * it out. Default 1: only the service-time rule (class comment) applies.
   */
  startWithin?: number;
}

export interface WorkQueueStats {
  started: number;
  /** Dropped in the queue: the requester's budget ran out first. */
  expired: number;
  /** Refused at arrival: the queue was full, or the task could not have started in time. */
  shed: number;
  /** Not started: it sat unread (ageMs) past its start deadline. Counted neither in shed nor expired. */
  agedOut: number;
}

/** Retry hints stay within these bounds (ms). */
const MIN_HINT_MS = 250;
const MAX_HINT_MS = 30_000;
const retryHint = (waitMs: number): number => Math.round(Math.min(MAX_HINT_MS, Math.max(MIN_HINT_MS, waitMs)));
/** Weight of one task's duration in the smoothed service time. */
const SMOOTHING = 0.05;

/**
 * The task waited past its start deadline and never ran. It carries a retry
 * hint: the deadline is at most `startWithin` of the requester's budget, so
 * the requester is usually still waiting and can be told when to come back
 * (a gateway then closes with 1013 and that delay instead of timing out into
 * a 1011).
 */
export class QueueExpiredError extends LonglinkError {
  constructor(retryAfterMs?: number) { super(Errors.ROUTER_OVERLOADED, 'expired in the queue', retryAfterMs); }
}

/**
 * The task sat too long before it was read to start in time (run's `ageMs`).
 * `answer` false: its requester's whole budget passed, so nobody waits for a
 * reply (the bus link sends none); true: it still waits, and is told when to
 * come back.
 */
export class AgedOutError extends LonglinkError {
  constructor(readonly answer: boolean, ageMs: number, retryAfterMs?: number) {
    super(Errors.ROUTER_OVERLOADED, `read ${Math.round(ageMs)} ms after it was sent: too late to start`, retryAfterMs);
  }
}

interface Waiting {
  run: () => void;
  expire: () => void;
  deadline: number;
}

export function validateWorkQueueOptions(o: WorkQueueOptions): WorkQueueOptions {
  if (!Number.isInteger(o.concurrency) || o.concurrency < 1) throw new RangeError(`concurrency must be an integer >= 1, got ${o.concurrency}`);
  if (!Number.isInteger(o.maxQueued) || o.maxQueued < 0) throw new RangeError(`maxQueued must be an integer >= 0, got ${o.maxQueued}`);
  if (o.startWithin !== undefined && !(o.startWithin > 0 && o.startWithin <= 1)) throw new RangeError(`startWithin must be in (0, 1], got ${o.startWithin}`);
  return o;
}

export class WorkQueue {
  readonly stats: WorkQueueStats = { started: 0, expired: 0, shed: 0, agedOut: 0 };
  private running = 0;
  private queue: Array<Waiting | undefined> = [];
  private head = 0;
  private service = 0;

  constructor(private readonly o: WorkQueueOptions, private readonly now: () => number) {
    validateWorkQueueOptions(o);
  }

  get inFlight(): number { return this.running; }
  get queued(): number { return this.queue.length - this.head; }
  /** Smoothed time from start to settle of a task (ms); 0 before the first. */
  get serviceMs(): number { return this.service; }
  /** How long a task arriving now would wait for a slot (ms), from the measured service time. */
  get expectedWaitMs(): number {
    return this.running < this.o.concurrency && this.queued === 0 ? 0 : ((this.queued + 1) * this.service) / this.o.concurrency;
  }

  /**
   * Runs `task` now or when a slot frees up. `budgetMs`: how long the
   * requester waits in all; undefined means no deadline. Rejects with
   * ROUTER_OVERLOADED (with `retryAfterMs`) when the queue is full or the
   * task could not start within its budget, or with QueueExpiredError when
   * the budget ran out in the queue anyway (the task never ran). `ageMs`:
   * how much of the budget passed before the request was read; with it, the
   * task may be refused with AgedOutError (class comment).
   */
  run<T>(task: () => Promise<T>, budgetMs?: number, ageMs = 0): Promise<T> {
    const startWithin = budgetMs === undefined ? Infinity : this.startWithinMs(budgetMs) - ageMs;
    if (startWithin < 0) {
      this.stats.agedOut++;
      return Promise.reject(new AgedOutError(ageMs < budgetMs!, ageMs, retryHint(this.expectedWaitMs)));
    }
    if (this.running < this.o.concurrency && this.queued === 0) return this.start(task);
    const wait = this.expectedWaitMs;
    if (this.queued >= this.o.maxQueued || wait > startWithin) {
      this.stats.shed++;
      const hint = retryHint(wait);
      return Promise.reject(new LonglinkError(Errors.ROUTER_OVERLOADED, this.queued >= this.o.maxQueued ? 'queue full' : 'cannot start in time', hint));
    }
    return new Promise<T>((resolve, reject) => {
      this.queue.push({
        run: () => { this.start(task).then(resolve, reject); },
        expire: () => { reject(new QueueExpiredError(retryHint(this.expectedWaitMs))); },
        deadline: this.now() + startWithin,
      });
    });
  }

  /** How long into its budget a task may still start: room for twice the service time, within [budget / 4, budget × startWithin]. */
  private startWithinMs(budgetMs: number): number {
    return Math.min(budgetMs * (this.o.startWithin ?? 1), Math.max(budgetMs / 4, budgetMs - 2 * this.service));
  }

  private start<T>(task: () => Promise<T>): Promise<T> {
    this.running++;
    this.stats.started++;
    const t0 = this.now();
    let p: Promise<T>;
    try { p = task(); } catch (err) { p = Promise.reject(err); }
    return p.finally(() => {
      const d = Math.max(0, this.now() - t0);
      this.service = this.service === 0 ? d : this.service + SMOOTHING * (d - this.service);
      this.running--;
      this.next();
    });
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
