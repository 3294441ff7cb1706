/**
 * Publishes held while the NATS connection is down (nats-bus.ts says why the
 * client cannot hold them itself), replayed in order once it is back. Bounded
 * by count and bytes: beyond either, the oldest is dropped (O(1): no
 * Array.shift on a big array) and reported through `dropped`.
 */
import type { Headers } from './bus.js';

export interface Held { subject: string; data: Uint8Array; headers: Headers | undefined; size: number }

export class HeldPublishes {
  /** Held publishes are items[head..]. */
  private items: Array<Held | undefined> = [];
  private head = 0;
  private bytes = 0;

  constructor(private readonly maxItems: number, private readonly maxBytes: number, private readonly dropped: () => void) {}

  get messages(): number { return this.items.length - this.head; }
  get byteCount(): number { return this.bytes; }

  push(h: Held): void {
    this.items.push(h);
    this.bytes += h.size;
    while (this.head < this.items.length && (this.items.length - this.head > this.maxItems || this.bytes > this.maxBytes)) {
      this.bytes -= this.items[this.head]?.size ?? 0;
      this.items[this.head++] = undefined; // let the payload be collected
      this.dropped();
    }
    if (this.head > 1024 && this.head * 2 > this.items.length) {
      this.items = this.items.slice(this.head);
      this.head = 0;
    }
  }

  /** Everything held, oldest first; the queue is empty afterwards. */
  take(): Held[] {
    const out = this.items.slice(this.head).filter((h): h is Held => h !== undefined);
    this.items = [];
    this.head = 0;
    this.bytes = 0;
    return out;
  }
}
