/**
 * The gateway's side of the Bus contract: the same code runs over the
 * in-memory bus (standalone) and NATS (cluster). Two halves, so each is built
 * in one step without a cycle: `BusGatewayLink` (outbound, the core's
 * `GatewayLink` port: presence events, batched acks, resume requests,
 * upstream messages and requests) and `BusGatewayListener` (inbound: this gateway's
 * deliver, control and sync subjects, and periodic beacons), which needs only
 * the narrow `ServedGateway` view of the core.
 */
import { randomBytes } from 'node:crypto';
import { BusTimeoutError, decodeMsg, encodeMsg, type Bus, type Subscription } from '../shared/bus/bus.js';
import { channelNameBytes, readChannelMessage, type ChannelArrival } from '../shared/bus/channel-layout.js';
import { publishUpstream, requestUpstream } from '../shared/bus/upstream.js';
import { Errors, LonglinkError } from '../shared/errors.js';
import type { Subjects } from '../shared/bus/subjects.js';
import type {
  ChannelCountReply, ChannelCountRequest, ChannelHistoryReply, ChannelHistoryRequest, ChannelOccupancyEvent, ChannelPresenceEvent, ControlCommand, Delivery, DeliveryReceipt, FetchReply, FetchRequest,
  GatewayBeacon, PresenceEvent, ResumeReply, ResumeRequest, SyncRequest, UpstreamMessage,
} from '../shared/bus/messages.js';
import type { ChannelLink, GatewayLink } from './core/ports.js';
import { reannounced, type AnnouncedConn } from './core/connection.js';
import { VERSION } from '../shared/version.js';


export interface BusLinkOptions {
  bus: Bus;
  subjects: Subjects;
  resumeTimeoutMs: number;
  ackFlushMs: number;
  /** This process's boot id (as in its beacons): channel occupancy reports carry it. */
  bootId?: string;
}

/** What the listener asks of the gateway it serves (GatewayCore satisfies it). */
export interface ServedGateway {
  /** Writes a delivery to the user's sockets here; returns how many took it. */
  deliver(d: Delivery): number;
  control(cmd: ControlCommand): unknown;
  readonly connections: number;
  readonly isDraining: boolean;
  allConnections(): Iterable<AnnouncedConn>;
  /** Local connections receiving `channel` (channel presence counts). */
  channelSubscribers(channel: string): number;
}

export interface BusListenerOptions {
  bus: Bus;
  subjects: Subjects;
  gatewayId: string;
  bootId: string;
  beaconIntervalMs: number;
  wallNow: () => number;
  gateway: ServedGateway;
  /** Where re-announced presence goes (the outbound link). */
  presence: (ev: PresenceEvent) => void;
}

/** Subscribes this gateway's subjects and starts beacons on construction. */
export class BusGatewayListener {
  private subs: Subscription[] = [];
  private beaconTimer: NodeJS.Timeout | undefined;
  /** Malformed bus messages dropped (counted, never thrown). */
  badMessages = 0;
  private closed = false;

  constructor(private readonly o: BusListenerOptions) {
    const { bus, subjects, gatewayId, gateway: core } = o;
    this.subs.push(bus.subscribe(subjects.deliver(gatewayId), (m) => {
      const msg = decodeMsg<{ deliveries?: Delivery[] }>(m.data);
      if (!msg || !Array.isArray(msg.deliveries)) { this.badMessages++; return; }
      this.deliverAll(msg.deliveries);
    }));
    this.subs.push(bus.subscribe(subjects.control(gatewayId), (m) => {
      const cmd = decodeMsg<ControlCommand>(m.data);
      if (!cmd || typeof cmd.user !== 'string') { this.badMessages++; return; }
      core.control(cmd);
    }));
    // A router that (re)connected asks every gateway to announce its connections again:
    // after a NATS restart, announcements made before the router re-subscribed were lost.
    // A router that found this gateway's lease expired (late beacons) asks this one only.
    this.subs.push(bus.subscribe(subjects.sync, (m) => {
      const req = m.data.length === 0 ? {} : decodeMsg<SyncRequest>(m.data);
      if (!req || typeof req !== 'object') { this.badMessages++; return; }
      if (req.gateway === undefined || req.gateway === gatewayId) this.reannounce();
    }));
    // Channel presence: every gateway answers with its local count (0 too), so the router can stop waiting early.
    this.subs.push(bus.subscribe(subjects.channelCount, (m) => {
      const req = decodeMsg<ChannelCountRequest>(m.data);
      if (!req || typeof req.channel !== 'string' || typeof req.reply !== 'string' || !req.reply.startsWith(subjects.channelCounts(''))) { this.badMessages++; return; }
      const reply: ChannelCountReply = { gateway: gatewayId, channel: req.channel, count: core.channelSubscribers(req.channel) };
      bus.publish(req.reply, encodeMsg(reply));
    }));
    this.beacon();
    this.beaconTimer = setInterval(() => this.beacon(), o.beaconIntervalMs);
  }

  /**
   * One deliver message's deliveries, written to the local sockets; a
   * delivery that awaits a receipt gets one once some connection took it.
   * The bus subscription calls this after decoding; standalone mode's
   * router calls it directly (local-gateway.ts) with its own objects, which
   * are only read here.
   */
  deliverAll(deliveries: readonly Delivery[]): void {
    if (this.closed) return;
    const { gateway: core, gatewayId, bus } = this.o;
    for (const d of deliveries) {
      const n = core.deliver(d);
      if (d.receipt !== undefined && n > 0) {
        const receipt: DeliveryReceipt = { user: d.user, seqs: d.pushes.map((p) => p.seq), gateway: gatewayId };
        bus.publish(d.receipt, encodeMsg(receipt));
      }
    }
  }

  beacon(): void {
    const g = this.o.gateway;
    const b: GatewayBeacon = { gateway: this.o.gatewayId, boot: this.o.bootId, connections: g.connections, draining: g.isDraining, at: this.o.wallNow(), version: VERSION };
    this.o.bus.publish(this.o.subjects.beacon, encodeMsg(b));
  }

  /**
   * Publishes an online event for every live connection (after a bus outage,
   * or a router found this gateway's lease lapsed), each naming its
   * watermark. A connection still starting is not announced now but once its
   * start succeeds (Connection.announceOnStart, session-start.ts): a
   * re-announced online carries no start stamp, and an unstamped online
   * displaces the device's entry whatever its stamp (PresenceEvent.start). Had
   * the gateway then given up on that start (1011) and the client come back
   * on another gateway before the router applied the announcement (presence
   * events wait in their own queue, behind a storm's), the stale
   * announcement displaced the newer connection, closed 4003 REPLACED,
   * which clients do not retry. A start that succeeds announces it after
   * its own registration; one that fails announces nothing.
   */
  reannounce(): void {
    this.beacon();
    const at = this.o.wallNow();
    for (const c of this.o.gateway.allConnections()) {
      if (c.session === '') { c.announceOnStart = true; continue; }
      this.o.presence(reannounced(c, this.o.gatewayId, at));
    }
  }

  close(): void {
    this.closed = true;
    if (this.beaconTimer) clearInterval(this.beaconTimer);
    for (const s of this.subs) s.unsubscribe();
    this.subs = [];
  }
}

const perf = performance;
/**
 * A request's send stamp (ResumeRequest.sentAt): wall time at this process's
 * start plus monotonic time since, so an NTP step never moves it (a router
 * would read a step back as every request being late). Its id is the boot id.
 */
const sendClock = (): number => Math.round(perf.timeOrigin + perf.now());

export class BusGatewayLink implements GatewayLink, ChannelLink {
  private readonly pendingAcks = new Map<string, [string, string, number, number?]>();
  private ackTimer: NodeJS.Timeout | undefined;
  /** Malformed channel messages dropped. */
  badChannelMessages = 0;
  private occupancySeq = 0;
  private readonly bootId: string;

  constructor(private readonly o: BusLinkOptions) {
    this.bootId = o.bootId ?? randomBytes(6).toString('base64url');
  }

  /** Either bus layout of a channel message (channel-layout.ts): a frame goes to the hub as the bytes that came. */
  interest(channel: string, onMessage: (m: ChannelArrival) => void): { ready: Promise<void>; drop(): void } {
    const name = channelNameBytes(channel);
    const sub = this.o.bus.subscribe(this.o.subjects.channel(channel), (m) => {
      const msg = readChannelMessage(m.data, channel, name);
      if (msg === undefined) { this.badChannelMessages++; return; }
      onMessage(msg);
    });
    // Flushed: the server has the subscription before any history read that relies on it.
    return { ready: this.o.bus.flush(), drop: () => sub.unsubscribe() };
  }

  channelPresence(ev: ChannelPresenceEvent): void {
    this.o.bus.publish(this.o.subjects.channelPresence(ev.channel), encodeMsg(ev));
  }

  /** Adds this boot's id and the next report number (routers order one gateway's reports by them). */
  channelOccupancy(ev: ChannelOccupancyEvent): void {
    this.o.bus.publish(this.o.subjects.channelOccupancy, encodeMsg({ ...ev, boot: this.bootId, seq: ++this.occupancySeq }));
  }

  history(req: ChannelHistoryRequest, timeoutMs = this.o.resumeTimeoutMs): Promise<ChannelHistoryReply> {
    return this.request<ChannelHistoryReply>(this.o.subjects.channelHistory, req, timeoutMs, (r) => typeof r.epoch === 'string' && typeof r.offset === 'number' && Array.isArray(r.pubs));
  }

  resume(req: ResumeRequest, timeoutMs = this.o.resumeTimeoutMs): Promise<ResumeReply> {
    return this.request<ResumeReply>(this.o.subjects.resume, req, timeoutMs, (r) => typeof r.session === 'string' && Array.isArray(r.pushes))
      .catch((err: unknown) => {
        // A router that took the request but did not answer in time is overloaded (or stalled), not failed:
        // typed, so the core closes with 1013 and a delay instead of 1011 (GatewayLink.resume). No responders
        // (no router at all) stays a failure.
        if (err instanceof BusTimeoutError) throw new LonglinkError(Errors.ROUTER_TIMEOUT, `no answer within ${timeoutMs} ms`);
        throw err;
      });
  }

  fetch(req: FetchRequest, timeoutMs = this.o.resumeTimeoutMs): Promise<FetchReply> {
    return this.request<FetchReply>(this.o.subjects.fetch, req, timeoutMs, (r) => typeof r.latestSeq === 'number' && Array.isArray(r.pushes));
  }

  /** A request to a router; its error replies become LonglinkErrors with the router's code. */
  private async request<R>(subject: string, req: object, timeoutMs: number, ok: (r: R) => boolean): Promise<R> {
    // The router gets the same budget, so it drops or refuses work this gateway would no longer wait for,
    // and the send time on this process's clock, to tell how long the request sat before it read it.
    const m = await this.o.bus.request(subject, encodeMsg({ ...req, timeoutMs, sentAt: sendClock(), clock: this.bootId }), { timeoutMs });
    const reply = decodeMsg<R & { error?: { code?: unknown; message?: unknown; retryAfterMs?: unknown } }>(m.data);
    if (!reply || typeof reply !== 'object' || !ok(reply)) {
      const e = reply?.error;
      if (e === undefined || e === null || typeof e !== 'object') throw new Error(`malformed reply on ${subject}`);
      const spec = Object.values(Errors).find((x) => x.code === e.code) ?? Errors.INTERNAL;
      const retryAfterMs = typeof e.retryAfterMs === 'number' && e.retryAfterMs >= 0 && e.retryAfterMs <= 600_000 ? e.retryAfterMs : undefined;
      throw new LonglinkError(spec, typeof e.message === 'string' ? e.message.slice(0, 200) : undefined, retryAfterMs);
    }
    return reply;
  }

  presence(ev: PresenceEvent): void {
    this.o.bus.publish(this.o.subjects.presence, encodeMsg(ev));
  }

  ack(user: string, device: string, seq: number, epoch?: number): void {
    const key = user + '\u0000' + device;
    const cur = this.pendingAcks.get(key);
    // Seqs of two epochs do not compare: the later ack's epoch is the connection's current one.
    if (cur && cur[3] === epoch) { if (seq > cur[2]) cur[2] = seq; }
    else this.pendingAcks.set(key, epoch === undefined ? [user, device, seq] : [user, device, seq, epoch]);
    this.ackTimer ??= setTimeout(() => this.flushAcks(), this.o.ackFlushMs);
  }

  /**
   * Standalone mode: the router in this process takes the acks as they are
   * (its GatewayEvents.applyAcks) instead of them being encoded, published
   * on the memory bus, decoded and validated again: that round trip was a
   * few per cent of a standalone push's CPU (docs/benchmarks.md). Undefined
   * (the default, and always in cluster mode): acks go on the bus.
   */
  handAcksTo(take: ((acks: Array<[string, string, number, number?]>) => void) | undefined): void {
    this.ackTaker = take;
  }

  private ackTaker: ((acks: Array<[string, string, number, number?]>) => void) | undefined;

  flushAcks(): void {
    this.ackTimer = undefined;
    if (this.pendingAcks.size === 0) return;
    const acks = [...this.pendingAcks.values()];
    this.pendingAcks.clear();
    if (this.ackTaker !== undefined) this.ackTaker(acks);
    else this.o.bus.publish(this.o.subjects.acks, encodeMsg({ acks }));
  }

  async upstream(msg: UpstreamMessage): Promise<void> {
    publishUpstream(this.o.bus, this.o.subjects, msg);
  }

  upstreamRequest(msg: UpstreamMessage, timeoutMs: number): Promise<unknown> {
    return requestUpstream(this.o.bus, this.o.subjects, msg, timeoutMs);
  }

  async close(): Promise<void> {
    this.flushAcks();
    if (this.ackTimer) clearTimeout(this.ackTimer);
    await this.o.bus.flush();
  }
}
