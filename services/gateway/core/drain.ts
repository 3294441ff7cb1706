/**
 * Paced drain: on a deploy or scale-down every session is told to reconnect
 * elsewhere, spread evenly over the drain window instead of all at once (a
 * reconnect storm on the remaining gateways). The pacer is driven by the
 * wheel tick; the core supplies how to tell one session to go.
 *
 * Each session gets a random delay in [0, jitter) in its reconnect frame, so
 * even one batch does not come back in the same instant.
 */
export interface DrainOptions {
  windowMs: number;
  tickMs: number;
  reconnectJitterMs: number;
}

export class DrainPacer<C> {
  private startedAt = 0;
  private queue: C[] = [];
  private waiters: Array<() => void> = [];
  active = false;
  total = 0;
  sent = 0;

  constructor(private readonly o: DrainOptions, private readonly random: () => number, private readonly tell: (c: C, delayMs: number) => void) {}

  /**
   * Starts (once) and resolves when `finish()` reports that no session is
   * left. The waiter is registered before the first step: that step may close
   * the last session (one connection, or a zero window), and its `finish()`
   * must find someone to wake. `remaining()` covers the already-empty case.
   */
  start(sessions: C[], now: number, remaining: () => number): Promise<void> {
    const done = new Promise<void>((resolve) => this.waiters.push(resolve));
    if (!this.active) {
      this.active = true;
      this.startedAt = now;
      this.queue = sessions;
      this.total = sessions.length;
      this.step(now);
    }
    if (remaining() === 0) this.finish();
    return done;
  }

  /** Tells as many sessions to go as the elapsed part of the window calls for (one tick ahead). */
  step(now: number): void {
    if (!this.active) return;
    const w = this.o.windowMs;
    const due = w <= 0 ? this.total : Math.min(this.total, Math.ceil((this.total * (now - this.startedAt + this.o.tickMs)) / w));
    while (this.sent < due && this.queue.length > 0) {
      const c = this.queue.pop()!;
      this.sent++;
      this.tell(c, Math.floor(this.random() * this.o.reconnectJitterMs));
    }
  }

  /** The last session closed. */
  finish(): void {
    const w = this.waiters;
    this.waiters = [];
    for (const f of w) f();
  }
}
