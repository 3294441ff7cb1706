/**
 * A bounded buffer that keeps the newest `capacity` items, in arrival order:
 * once full, each push overwrites the oldest. A ring, so a push costs O(1)
 * whatever the fill (Array.shift() on a full array moves every item: a hot
 * channel's messages arriving before its first history read paid that per
 * message, channels.ts `early`). `drain` hands the items over oldest first
 * and empties the buffer.
 */
export class NewestBuffer<T> {
  private items: T[] = [];
  /** Index of the oldest item once the buffer has wrapped (0 until then). */
  private head = 0;

  constructor(readonly capacity: number) {
    if (!(Number.isInteger(capacity) && capacity > 0)) throw new RangeError(`NewestBuffer capacity must be a positive integer, got ${capacity}`);
  }

  get length(): number { return this.items.length; }

  push(item: T): void {
    if (this.items.length < this.capacity) { this.items.push(item); return; }
    this.items[this.head] = item;
    this.head = this.head + 1 === this.capacity ? 0 : this.head + 1;
  }

  /** Every item held, oldest first; the buffer is empty afterwards. */
  drain(): T[] {
    const { items, head } = this;
    this.items = [];
    this.head = 0;
    return head === 0 ? items : items.slice(head).concat(items.slice(0, head));
  }
}
