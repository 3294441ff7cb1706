/**
 * What the router core sends to the rest of the cluster, and nothing more.
 * The bus link (services/router/bus-link.ts) implements it over the Bus
 * contract (NATS in cluster mode, the memory bus in standalone mode) and
 * owns every subscription; the core never sees a subject or a bus message.
 */
import type { AckEvent, ControlCommand, Delivery, SyncRequest } from '../../shared/bus/messages.js';
import type { OfflineNotice } from './router-types.js';

export interface RouterOutbound {
  /** Deliveries for connections on one gateway. False if publishing failed (counted and logged by the link). */
  deliver(gateway: string, deliveries: Delivery[]): boolean;
  /**
   * The turn's coalesced deliveries are all published (delivery-batcher.ts):
   * send them on now rather than at the bus's own end of turn (Bus.handOver).
   * Absent: nothing to do.
   */
  delivered?(): void;
  /** Kick, logout or replace on one gateway. */
  control(gateway: string, cmd: ControlCommand): boolean;
  /** A push found its user offline (for external notifiers). */
  offline(notice: OfflineNotice): boolean;
  /**
   * Ack receipts: devices acked these pushes. The one place every client ack
   * leaves the router (published for backends and for the routers awaiting
   * `acked` pushes); anything else that reports acks hooks in here.
   */
  acked(events: AckEvent[]): void;
  /**
   * A push here now awaits `acked`: ack receipts must reach this router (the
   * link listens to them only while some push awaits one, and in `await`
   * mode tells the other routers to publish them).
   */
  awaitingAck?(): void;
  /** In `await` mode: whether some router awaits ack receipts now (acks publish them only then). */
  ackReceiptsWanted?(): boolean;
  /**
   * False when no one would receive an ack receipt published now (an
   * in-process bus knows: standalone mode without a backend listening);
   * acks then skip listing the pushes they cover. Absent: assume someone does.
   */
  ackReceiptsHeard?(): boolean;
  /**
   * True when `deliver` to this gateway hands the deliveries to a gateway in
   * this process (standalone mode: local-gateway.ts): no bus message to
   * coalesce, so a push routed in its request's turn delivers at once and
   * is answered without waiting for the end of the turn. Absent: never.
   */
  deliversInProcess?(gateway: string): boolean;
  /** Asks one gateway (or all, without `gateway`) to announce its connections again. */
  sync(req: SyncRequest): boolean;
  /** Where gateways send this router's delivery receipts (put in deliveries that await them). */
  readonly receiptAddress: string;
}
