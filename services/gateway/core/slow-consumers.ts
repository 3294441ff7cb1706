/**
 * Slow-consumer detection. A connection whose send buffer stays over
 * `sendBufferBound` for `writeTimeoutMs` is handed back to be closed, so one
 * stalled reader cannot pin gateway memory (the hard cap, a dropped send,
 * is the transport's). Costs: nothing while buffers stay under the bound;
 * a connection over it joins a set that each wheel tick scans, and leaves
 * it on the transport's drain event or once its buffer is back under.
 */
export interface BufferedConn {
  closed: boolean;
  /** When the buffer went over the bound (clock ms), or -1. */
  stuckSince: number;
  socket: { getBufferedAmount(): number };
}

export class SlowConsumers<C extends BufferedConn> {
  private readonly stuck = new Set<C>();

  constructor(private readonly o: { sendBufferBound: number; writeTimeoutMs: number }) {}

  /** After a send that was buffered rather than written: starts the clock if the buffer is over the bound. */
  buffered(c: C, now: number): void {
    if (c.stuckSince < 0 && c.socket.getBufferedAmount() > this.o.sendBufferBound) {
      c.stuckSince = now;
      this.stuck.add(c);
    }
  }

  /** The transport's drain event: the buffer shrank. */
  sendBufferDrained(c: C): void {
    if (!c.closed && c.stuckSince >= 0 && c.socket.getBufferedAmount() <= this.o.sendBufferBound) {
      c.stuckSince = -1;
      this.stuck.delete(c);
    }
  }

  forget(c: C): void {
    this.stuck.delete(c);
  }

  /** Every tick: connections over the bound for `writeTimeoutMs` go to `close`. */
  sweep(now: number, close: (c: C) => void): void {
    if (this.stuck.size === 0) return;
    for (const c of this.stuck) {
      if (c.closed) { this.stuck.delete(c); continue; }
      if (c.socket.getBufferedAmount() <= this.o.sendBufferBound) { c.stuckSince = -1; this.stuck.delete(c); continue; }
      if (now - c.stuckSince >= this.o.writeTimeoutMs) {
        this.stuck.delete(c);
        close(c);
      }
    }
  }
}
