/**
 * Coalesced deliveries: everything the router routes to one gateway within
 * one event-loop turn leaves as one bus message (split only past `maxBytes`,
 * so a huge fan-out stays under the bus's payload limit). Concurrent pushes
 * then cost the bus, the gateway's decoder and its socket writes once per
 * turn instead of once per push.
 *
 * Order: deliveries are queued in routing order and a gateway processes a
 * message's deliveries in array order; consecutive pushes of one user to one
 * gateway are merged into a single Delivery (same receipt subject only), in
 * seq order. A message split for size, or flushed early for that reason, is
 * published before anything queued after it.
 *
 * `immediate` turns coalescing off (each add publishes at once): tracing
 * uses it so that every push's delivery stays in that push's trace.
 */
import type { Delivery, PushRecord } from '../../shared/bus/messages.js';

interface Pending {
  deliveries: Delivery[];
  /** Last delivery per user in `deliveries`, to merge consecutive pushes into. */
  byUser: Map<string, Delivery>;
  bytes: number;
}

export interface DeliveryBatcherOptions {
  maxBytes: number;
  publish: (gateway: string, deliveries: Delivery[]) => void;
  /** After the end-of-turn flush published something: the publisher may send it on at once (RouterOutbound.delivered). */
  flushed?: () => void;
  /** Schedules a flush at the end of the current turn; setImmediate by default. */
  schedule?: (flush: () => void) => void;
}

/**
 * A record's worst-case size on the bus. `data` is JSON text carried as a JSON string, counted in UTF-16 units: one
 * unit encodes to at most 3 bytes (a BMP character in UTF-8; a quote or backslash escapes to 2, an escaped lone
 * surrogate's 6 units to 7). Counting units alone let a batch of CJK text reach 3 × maxBytes, past max_payload
 * (1.5 MB for the 512 KiB default): the publish failed and none of its pushes was delivered live.
 */
const recordBytes = (p: PushRecord): number => 3 * p.data.length + p.id.length + 64;

export class DeliveryBatcher {
  private pending = new Map<string, Pending>();
  private scheduled: { promise: Promise<void>; resolve: () => void } | undefined;
  private readonly schedule: (flush: () => void) => void;

  constructor(private readonly o: DeliveryBatcherOptions) {
    this.schedule = o.schedule ?? ((f) => { setImmediate(f); });
  }

  /**
   * Queues a push for one user on one gateway. With `now`, publishes this
   * gateway's queue at once, what was queued before first (tracing, and
   * in-process gateways). True: queued (published with the turn's flush,
   * see `published`); false: published already.
   */
  add(gateway: string, user: string, record: PushRecord, receipt: string | undefined, now = false): boolean {
    let p = this.pending.get(gateway);
    if (now && (p === undefined || p.deliveries.length === 0)) {
      // Nothing queued for this gateway before it: this delivery alone, without the queue's bookkeeping.
      this.o.publish(gateway, [receipt !== undefined ? { user, pushes: [record], receipt } : { user, pushes: [record] }]);
      return false;
    }
    if (!p) this.pending.set(gateway, (p = { deliveries: [], byUser: new Map(), bytes: 0 }));
    let bytes = recordBytes(record);
    if (p.deliveries.length > 0 && p.bytes + bytes > this.o.maxBytes) this.flushGateway(gateway, p);
    const last = p.byUser.get(user);
    if (last !== undefined && last.receipt === receipt) {
      last.pushes.push(record);
    } else {
      const d: Delivery = receipt !== undefined ? { user, pushes: [record], receipt } : { user, pushes: [record] };
      p.deliveries.push(d);
      p.byUser.set(user, d);
      bytes += user.length + 32;
    }
    p.bytes += bytes;
    if (now) {
      this.flushGateway(gateway, p);
      return false;
    }
    if (!this.scheduled) {
      let resolve!: () => void;
      this.scheduled = { promise: new Promise<void>((r) => { resolve = r; }), resolve };
      this.schedule(() => this.flush());
    }
    return true;
  }

  /** Resolves once what is queued now has been published (at once if nothing is). */
  get published(): Promise<void> {
    return this.scheduled?.promise ?? Promise.resolve();
  }

  /** Publishes everything queued. */
  flush(): void {
    const done = this.scheduled;
    this.scheduled = undefined;
    const all = this.pending;
    this.pending = new Map();
    let any = false;
    try {
      for (const [gateway, p] of all) if (p.deliveries.length > 0) { any = true; this.o.publish(gateway, p.deliveries); }
      if (any) this.o.flushed?.();
    } finally {
      done?.resolve();
    }
  }

  private flushGateway(gateway: string, p: Pending): void {
    const deliveries = p.deliveries;
    p.deliveries = [];
    p.byUser = new Map();
    p.bytes = 0;
    if (deliveries.length > 0) this.o.publish(gateway, deliveries);
  }
}
