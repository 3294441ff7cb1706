/**
 * Standalone mode's shortcut from the router to the gateway in the same
 * process (and, while at it, whether anyone listens to ack receipts, so
 * acks need not list what they covered for nobody): deliveries for that gateway are handed to it as objects instead
 * of being encoded, published on the memory bus, dispatched in a microtask
 * and decoded again. Everything else (control, offline notices, acks,
 * receipts, sync) still crosses the bus, and so do deliveries for any other
 * gateway id and all of them while tracing is on (trace context rides in bus
 * headers).
 *
 * Why: in standalone mode the bus round trip of a delivery (JSON encode,
 * TextEncoder, matching, a microtask, TextDecoder, JSON.parse) was a tenth
 * of the push path's JavaScript (docs/benchmarks.md). The semantics the bus
 * gave are kept: the gateway gets the deliveries of one router flush in
 * order, in one call; a gateway that throws does not break the router's
 * flush (the bus swallowed handler errors too); a closed gateway takes
 * nothing. The delivery objects are shared with the router and only read
 * by the gateway.
 */
import type { AckEvent, ControlCommand, Delivery, SyncRequest } from '../shared/bus/messages.js';
import type { RouterOutbound } from './core/ports.js';
import type { OfflineNotice } from './core/router-types.js';

/** At most one report of a throwing gateway per this many ms (the count of the others goes with it). */
const REPORT_EVERY_MS = 10_000;

/** Where the in-process gateway takes deliveries (its bus listener's `deliverAll`). */
export type LocalDeliver = (deliveries: readonly Delivery[]) => void;

/** The in-process gateway, attached once it listens. */
export class LocalGateway {
  private id: string | undefined;
  private deliver: LocalDeliver | undefined;
  /** Deliveries handed over directly (tests and metrics can read it). */
  handedOver = 0;
  /** Deliver calls that threw inside the gateway (dropped, as the bus would). */
  failures = 0;
  private reportedAt = -Infinity;
  private unreported = 0;

  /**
   * `onFailure`: told (at most once per 10 s, with how many throws it covers)
   * when the gateway threw while taking deliveries. A throw there is a bug:
   * the rest of that flush's deliveries stay in their inboxes until resume,
   * so it must not pass silently.
   */
  constructor(private readonly onFailure?: (err: unknown, count: number) => void, private readonly now: () => number = Date.now) {}

  attach(id: string, deliver: LocalDeliver): void {
    this.id = id;
    this.deliver = deliver;
  }

  detach(): void {
    this.id = undefined;
    this.deliver = undefined;
  }

  /** Whether deliveries for `gateway` are handed over here (it is the attached gateway). */
  holds(gateway: string): boolean { return gateway === this.id && this.deliver !== undefined; }

  /** Hands `deliveries` to the local gateway if it is `gateway`; false if it is not (publish on the bus). */
  take(gateway: string, deliveries: Delivery[]): boolean {
    if (gateway !== this.id || this.deliver === undefined) return false;
    this.handedOver += deliveries.length;
    try {
      this.deliver(deliveries);
    } catch (err) {
      this.failures++;
      this.report(err);
    }
    return true;
  }

  private report(err: unknown): void {
    this.unreported++;
    const t = this.now();
    if (this.onFailure === undefined || t - this.reportedAt < REPORT_EVERY_MS) return;
    this.reportedAt = t;
    const count = this.unreported;
    this.unreported = 0;
    this.onFailure(err, count);
  }
}

/** `link` with deliveries to the local gateway handed over directly. */
export class LocalFirstOutbound implements RouterOutbound {
  readonly receiptAddress: string;

  /** `heard`: whether anyone receives ack receipts now (the memory bus knows its subscribers). */
  constructor(private readonly link: RouterOutbound, private readonly local: LocalGateway, private readonly heard?: () => boolean) {
    this.receiptAddress = link.receiptAddress;
  }

  ackReceiptsHeard(): boolean { return this.heard?.() ?? true; }

  deliver(gateway: string, deliveries: Delivery[]): boolean {
    return this.local.take(gateway, deliveries) || this.link.deliver(gateway, deliveries);
  }

  deliversInProcess(gateway: string): boolean { return this.local.holds(gateway); }
  delivered(): void { this.link.delivered?.(); }

  control(gateway: string, cmd: ControlCommand): boolean { return this.link.control(gateway, cmd); }
  offline(notice: OfflineNotice): boolean { return this.link.offline(notice); }
  acked(events: AckEvent[]): void { this.link.acked(events); }
  sync(req: SyncRequest): boolean { return this.link.sync(req); }
  awaitingAck(): void { this.link.awaitingAck?.(); }
  ackReceiptsWanted(): boolean { return this.link.ackReceiptsWanted?.() === true; }
}
