/**
 * A queue emptied once per event-loop turn: what is pushed during a turn is
 * handed to the sink together, at the end of the turn (setImmediate), or
 * earlier when the owner calls flush().
 *
 * Why (nats-bus.ts): the NATS client writes its outbound buffer at the first
 * microtask checkpoint after a publish, so publishes made in several
 * microtask runs of one turn (promise continuations of different requests)
 * each cost a write system call. Handing them over together at the end of
 * the turn makes them leave in one write.
 *
 * Contract:
 *  - Order: the sink gets items in push order, and every item exactly once.
 *  - flush() hands over what is queued now, synchronously; owners call it
 *    before any operation that must not overtake earlier pushes (subscribe,
 *    unsubscribe, request, flush, close, a disconnect), or when a turn's
 *    publishing is done (Bus.handOver). It cancels the end-of-turn handover
 *    it made unnecessary: a pending setImmediate keeps the event loop from
 *    sleeping, so it would cost a loop iteration for nothing.
 *  - One setImmediate per turn at most, however many pushes; none when the
 *    queue stays empty.
 *  - The sink owns the batch it is given; a throw from the sink propagates
 *    to whoever flushed (the sink should handle its own per-item errors).
 */
export class TurnQueue<T> {
  private items: T[] = [];
  private scheduled: NodeJS.Immediate | undefined;
  private readonly atTurnEnd = (): void => {
    this.scheduled = undefined;
    this.flush();
  };

  constructor(private readonly sink: (items: T[]) => void) {}

  /** Items waiting for the end of the turn. */
  get length(): number {
    return this.items.length;
  }

  push(item: T): void {
    this.items.push(item);
    this.scheduled ??= setImmediate(this.atTurnEnd);
  }

  /** Hands what is queued to the sink now, in order (nothing if empty). */
  flush(): void {
    if (this.scheduled !== undefined) { clearImmediate(this.scheduled); this.scheduled = undefined; }
    if (this.items.length === 0) return;
    const batch = this.items;
    this.items = [];
    this.sink(batch);
  }
}
