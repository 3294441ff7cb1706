/**
 * A minimal typed event emitter that works the same in browsers and Node (no
 * `node:events`). Listeners run synchronously in registration order; one that
 * throws does not stop the others: the error goes to `onListenerError`.
 */
export type Listener<T> = (payload: T) => void;

export class Emitter<Events extends object> {
  private readonly map = new Map<keyof Events, Set<Listener<never>>>();

  constructor(private readonly onListenerError: (err: unknown, event: keyof Events) => void = () => {}) {}

  /** Adds a listener; returns a function that removes it. */
  on<K extends keyof Events>(event: K, fn: Listener<Events[K]>): () => void {
    let set = this.map.get(event);
    if (set === undefined) {
      set = new Set();
      this.map.set(event, set);
    }
    set.add(fn as Listener<never>);
    return () => this.off(event, fn);
  }

  /** Adds a listener that runs at most once. */
  once<K extends keyof Events>(event: K, fn: Listener<Events[K]>): () => void {
    const off = this.on(event, (p) => {
      off();
      fn(p);
    });
    return off;
  }

  off<K extends keyof Events>(event: K, fn: Listener<Events[K]>): void {
    this.map.get(event)?.delete(fn as Listener<never>);
  }

  emit<K extends keyof Events>(event: K, payload: Events[K]): void {
    const set = this.map.get(event);
    if (set === undefined || set.size === 0) return;
    for (const fn of [...set] as Listener<Events[K]>[]) {
      try {
        fn(payload);
      } catch (err) {
        this.onListenerError(err, event);
      }
    }
  }

  listenerCount(event: keyof Events): number {
    return this.map.get(event)?.size ?? 0;
  }

  removeAll(): void {
    this.map.clear();
  }
}
