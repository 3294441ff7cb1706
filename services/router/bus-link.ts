/**
 * The router's side of the bus, as the gateway's bus-link.ts is the
 * gateway's: it owns every subscription and reply, parses what arrives
 * (schemas.ts; malformed messages are counted and dropped, or answered with
 * an error when someone waits for a reply), and implements RouterOutbound
 * for the core. Works over any Bus: NATS in cluster mode, the memory bus in
 * standalone mode.
 *
 * Gateway → router traffic (presence, beacons, acks, resumes) and push
 * requests use the queue group ROUTER_QUEUE, so each is handled by one router
 * of the cluster; receipts come to this router's own subject. Ack receipts
 * (acked()) go out on the acked subject. A router listens to it (outside the
 * queue group: the ack may reach another router) only while a push here
 * awaits `acked` and for a while after, so routers do not read every
 * receipt of the cluster for nothing. With LONGLINK_ACK_RECEIPTS=await a
 * router that awaits also announces it on the ackwant subject (a lease,
 * renewed while it waits), and acks publish receipts only under such a lease.
 */
import { randomUUID } from 'node:crypto';
import { batchJson } from './batch-json.js';
import { decodeMsg, encodeMsg, type Bus, type BusMessage, type Subscription } from '../shared/bus/bus.js';
import { encodeChannelMessage, type ChannelBusLayout } from '../shared/bus/channel-layout.js';
import type { AckEvent, AckInterest, ChannelCountReply, ChannelCountRequest, ChannelMessage, ControlCommand, Delivery, DeliveryReceipt, SyncRequest } from '../shared/bus/messages.js';
import { ROUTER_QUEUE, type Subjects } from '../shared/bus/subjects.js';
import { UPSTREAM_ERROR_HEADER, upstreamTimeoutOf } from '../shared/bus/upstream.js';
import { Errors, LonglinkError } from '../shared/errors.js';
import type { Logger } from '../shared/log.js';
import type { BackendEvents, ChannelMemberData } from './core/backend-events.js';
import type { ChannelOccupancyEvents } from './core/channel-occupancy.js';
import type { GatewayEvents } from './core/gateway-events.js';
import { AgedOutError } from './core/work-queue.js';
import type { RouterOutbound } from './core/ports.js';
import type { RouterCore } from './core/router-core.js';
import type { OfflineNotice, RouterStats } from './core/router-types.js';
import type { ChannelOutbound, ChannelService } from './core/channels.js';
import { parseChannelMember, parseHistoryRequest, parseOccupancy, parsePublishBody } from './channel-schemas.js';
import { parseAckEvent, parseAcks, parseBeacon, parseFetchRequest, parsePresenceEvent, parseResumeRequest, parseReceipt, parseUpstream } from './schemas.js';

export interface RouterBusLinkOptions {
  bus: Bus;
  subjects: Subjects;
  log: Pick<Logger, 'warn'>;
  /** busErrors is counted here (malformed messages, failed publishes). */
  stats: RouterStats;
  /** The router's LONGLINK_ACK_RECEIPTS: `'await'` announces ack interest to the other routers. */
  ackReceipts?: boolean | 'await';
  /** How long an announced interest in ack receipts lasts; renewed every third of it while a push waits. Default 10 s. */
  ackInterestMs?: number;
  /** Channel messages on the bus (channel-layout.ts, LONGLINK_CHANNEL_BUS_LAYOUT): `record` unless every gateway reads `frame`. */
  channelLayout?: ChannelBusLayout;
}

const DEFAULT_ACK_INTEREST_MS = 10_000;

/** What the link hands incoming messages to. */
export interface RouterHandlers {
  core: Pick<RouterCore, 'parsePushPaced' | 'pushValidated' | 'receipt' | 'ackReceipt' | 'awaitingAcks'>;
  events: Pick<GatewayEvents, 'queuedPresence' | 'applyBeacon' | 'applyAcks' | 'queuedResume' | 'queuedFetch'>;
  channels: Pick<ChannelService, 'publish' | 'history'>;
  /** Channel webhooks: gateways' occupancy reports are read off the bus only when an endpoint takes channel.occupied or channel.vacated. */
  occupancy?: Pick<ChannelOccupancyEvents, 'wanted' | 'report'>;
  /** Backend events (webhooks): upstream messages are read off the bus only when an endpoint takes them. */
  backend?: BackendEvents;
}

export class RouterBusLink implements RouterOutbound, ChannelOutbound {
  /** This process's receipt subject (router instances share everything else). */
  readonly receiptAddress: string;
  private subs: Subscription[] = [];
  private readonly routerId = randomUUID().replace(/-/g, '');
  private countRequests = 0;
  private handlers: RouterHandlers | undefined;
  /** The acked subscription, held while pushes here await acks (and a lease after). */
  private ackedSub: Subscription | undefined;
  private ackTimer: NodeJS.Timeout | undefined;
  private lastAwaitAt = 0;
  private lastAnnounceAt = Number.NEGATIVE_INFINITY;
  /** Await mode: some router (this one included) awaits ack receipts until then (monotonic ms). */
  private interestUntil = Number.NEGATIVE_INFINITY;
  private readonly interestMs: number;

  constructor(private readonly o: RouterBusLinkOptions) {
    this.receiptAddress = o.subjects.receipts(this.routerId);
    this.interestMs = o.ackInterestMs ?? DEFAULT_ACK_INTEREST_MS;
  }

  get listening(): boolean { return this.subs.length > 0; }

  /** Subscribes the router's subjects. Idempotent. */
  listen(h: RouterHandlers): void {
    if (this.subs.length > 0) return;
    const { bus, subjects: s } = this.o;
    const q = { queue: ROUTER_QUEUE };
    this.subs = [
      bus.subscribe(s.presence, (m) => this.onEvent(m, parsePresenceEvent, (ev) => h.events.queuedPresence(ev)), q),
      bus.subscribe(s.beacon, (m) => this.onEvent(m, parseBeacon, (b) => h.events.applyBeacon(b)), q),
      bus.subscribe(s.acks, (m) => this.onEvent(m, parseAcks, (a) => h.events.applyAcks(a)), q),
      bus.subscribe(s.resume, (m) => void this.onResume(m, h), q),
      bus.subscribe(s.fetch, (m) => void this.onFetch(m, h), q),
      bus.subscribe(s.push, (m) => void this.onPush(m, h), q),
      bus.subscribe(s.channelHistory, (m) => void this.onRequest(m, parseHistoryRequest, 'channel history', (req) => h.channels.history(req)), q),
      bus.subscribe(s.publish, (m) => void this.onPublish(m, h), q),
      bus.subscribe(this.receiptAddress, (m) => this.onEvent(m, parseReceipt, async (r: DeliveryReceipt) => h.core.receipt(r))),
    ];
    this.handlers = h;
    if (this.o.ackReceipts === 'await') {
      // Every router, no queue group: any of them may apply the acks another one awaits.
      this.subs.push(bus.subscribe(s.ackInterest, (m) => {
        const a = decodeMsg<AckInterest>(m.data);
        if (!a || typeof a.ms !== 'number' || !(a.ms > 0)) { this.o.stats.busErrors++; return; }
        this.interestUntil = Math.max(this.interestUntil, performance.now() + Math.min(a.ms, 10 * DEFAULT_ACK_INTEREST_MS));
      }));
    }
    const backend = h.backend;
    const occupancy = h.occupancy;
    if (occupancy?.wanted === true) this.subs.push(bus.subscribe(s.channelOccupancy, (m) => this.onEvent(m, parseOccupancy, (ev) => occupancy.report(ev)), q));
    if (backend !== undefined && (backend.wants('channel.subscribed') || backend.wants('channel.unsubscribed'))) {
      // The gateways' join / leave events (LONGLINK_CHANNEL_PRESENCE_EVENTS on the gateways): one router of the group reports each.
      this.subs.push(bus.subscribe(s.channelPresence('>'), (m) => this.onEvent(m, parseChannelMember, async (ev) => {
        const type = ev.type === 'join' ? 'channel.subscribed' : 'channel.unsubscribed';
        if (backend.wants(type)) backend.emit(type, { channel: ev.channel, user: ev.user, device: ev.device, conn: ev.conn, gateway: ev.gateway, at: ev.at } satisfies ChannelMemberData);
      }), q));
    }
    if (backend?.wants('upstream.message')) {
      // One router of the group turns each upstream message into an upstream.message webhook;
      // a request (reply: true) is answered with the receiver's response (webhooks.md).
      this.subs.push(bus.subscribe(s.upstream('>'), (m) => {
        if (m.reply === undefined) { this.onEvent(m, parseUpstream, async (u) => { backend.emit('upstream.message', u); }); return; }
        const u = parseUpstream(decodeMsg<unknown>(m.data));
        if (u === undefined) { this.o.stats.busErrors++; return; }
        // The POST ends when the gateway stops waiting (its remaining deadline rides in a header;
        // a gateway that sends none gets the attempt limit). A refusal (caps on requests in flight)
        // is answered at once with its code, which the gateway hands to the client.
        const timeoutMs = upstreamTimeoutOf(m.headers);
        backend.request('upstream.message', u, timeoutMs).then(
          (body) => { if (body !== undefined) this.replyBytes(m, new TextEncoder().encode(body)); },
          // Only gateways that send the timeout header read the refusal header: an older one would hand the
          // detail text to its client as the reply (LL_UPSTREAM_BAD_REPLY). It gets no answer, as before.
          (err: unknown) => { if (err instanceof LonglinkError && timeoutMs !== undefined) this.respondRefusal(m, err); },
        );
      }, q));
    }
  }

  close(): void {
    for (const sub of this.subs) sub.unsubscribe();
    this.subs = [];
    this.stopAwaitingAcks();
    this.handlers = undefined;
  }

  // ---- RouterOutbound ------------------------------------------------------------

  deliver(gateway: string, deliveries: Delivery[]): boolean {
    return this.publish(this.o.subjects.deliver(gateway), { deliveries });
  }

  delivered(): void {
    this.o.bus.handOver?.();
  }

  control(gateway: string, cmd: ControlCommand): boolean {
    return this.publish(this.o.subjects.control(gateway), cmd);
  }

  offline(notice: OfflineNotice): boolean {
    return this.publish(this.o.subjects.offline, notice);
  }

  /** Ack receipts: one message per acked push on `<prefix>.acked` (docs/api.md, "Ack receipts"). */
  acked(events: AckEvent[]): void {
    for (const ev of events) this.publish(this.o.subjects.acked, ev);
  }

  /**
   * A push awaits `acked`. Subscribes the acked subject now if needed: the
   * subscription leaves before the push's delivery (the bus keeps one
   * connection's order), so it is in place before any ack can exist. Await
   * mode announces the interest too (the announcement also precedes the
   * delivery). A timer renews the announcement while pushes wait and drops
   * the subscription one lease after the last one stopped waiting.
   */
  awaitingAck(): void {
    const h = this.handlers;
    if (!h) return;
    const now = performance.now();
    this.lastAwaitAt = now;
    this.ackedSub ??= this.o.bus.subscribe(this.o.subjects.acked, (m) => {
      if (h.core.awaitingAcks) this.onEvent(m, parseAckEvent, async (ev) => h.core.ackReceipt(ev));
    });
    if (this.o.ackReceipts === 'await' && now - this.lastAnnounceAt >= this.interestMs / 3) this.announceInterest(now);
    this.ackTimer ??= setInterval(() => this.tickAwaiting(), this.interestMs / 3);
  }

  ackReceiptsWanted(): boolean {
    return performance.now() < this.interestUntil;
  }

  private announceInterest(now: number): void {
    this.lastAnnounceAt = now;
    this.interestUntil = Math.max(this.interestUntil, now + this.interestMs);
    const a: AckInterest = { router: this.routerId, ms: this.interestMs };
    this.publish(this.o.subjects.ackInterest, a);
  }

  private tickAwaiting(): void {
    const now = performance.now();
    if (this.handlers?.core.awaitingAcks) {
      this.lastAwaitAt = now;
      if (this.o.ackReceipts === 'await' && now - this.lastAnnounceAt >= this.interestMs / 3) this.announceInterest(now);
      return;
    }
    // Nothing waits: keep listening one lease longer (receipts of acks already in flight), then stop.
    if (now - this.lastAwaitAt >= this.interestMs) this.stopAwaitingAcks();
  }

  private stopAwaitingAcks(): void {
    if (this.ackTimer !== undefined) clearInterval(this.ackTimer);
    this.ackTimer = undefined;
    this.ackedSub?.unsubscribe();
    this.ackedSub = undefined;
  }

  sync(req: SyncRequest): boolean {
    return this.publish(this.o.subjects.sync, req);
  }

  /** One channel message in the configured bus layout (channel-layout.ts). */
  channel(msg: ChannelMessage): boolean {
    const subject = this.o.subjects.channel(msg.channel);
    if (this.o.bus.interested?.(subject) === false) return true;
    return this.send(subject, encodeChannelMessage(msg, this.o.channelLayout ?? 'record'));
  }

  countSubscribers(channel: string, expect: number, timeoutMs: number): Promise<Array<{ gateway: string; count: number }>> {
    const { bus, subjects } = this.o;
    const reply = subjects.channelCounts(`${this.routerId}.${++this.countRequests}`);
    const answers = new Map<string, number>();
    return new Promise((resolve) => {
      let finished = false;
      const done = (): void => {
        if (finished) return;
        finished = true;
        clearTimeout(timer);
        sub.unsubscribe();
        resolve([...answers].map(([gateway, count]) => ({ gateway, count })));
      };
      const timer = setTimeout(done, timeoutMs);
      const sub = bus.subscribe(reply, (m) => {
        const r = decodeMsg<ChannelCountReply>(m.data);
        if (!r || typeof r.gateway !== 'string' || typeof r.count !== 'number' || r.channel !== channel) { this.o.stats.busErrors++; return; }
        answers.set(r.gateway, r.count);
        if (answers.size >= expect) done();
      });
      const req: ChannelCountRequest = { channel, reply };
      if (!this.publish(subjects.channelCount, req)) done();
    });
  }

  // ---- inbound ---------------------------------------------------------------------

  /** Bus publishes take the HTTP body and get the HTTP response body back; their rate is counted under one key. */
  private async onPublish(m: BusMessage, h: RouterHandlers): Promise<void> {
    const body = decodeMsg<unknown>(m.data);
    if (body === undefined) { this.reply(m, new LonglinkError(Errors.API_BAD_JSON).toJSON()); return; }
    const parsed = parsePublishBody(body);
    if (!parsed.ok) { this.reply(m, new LonglinkError(Errors.API_VALIDATION, parsed.message).toJSON()); return; }
    try {
      this.reply(m, await h.channels.publish(parsed.value, ''));
    } catch (err) {
      this.reply(m, toLonglinkError(err).toJSON());
    }
  }

  private onEvent<T>(m: BusMessage, parse: (v: unknown) => T | undefined, apply: (v: T) => Promise<void>): void {
    const v = parse(decodeMsg<unknown>(m.data));
    if (v === undefined) {
      this.o.stats.busErrors++;
      return;
    }
    apply(v).catch(() => { /* counted and logged by the store call */ });
  }

  private onResume(m: BusMessage, h: RouterHandlers): Promise<void> {
    return this.onRequest(m, parseResumeRequest, 'resume', (req) => h.events.queuedResume(req));
  }

  private onFetch(m: BusMessage, h: RouterHandlers): Promise<void> {
    return this.onRequest(m, parseFetchRequest, 'fetch', (req) => h.events.queuedFetch(req));
  }

  /** A gateway request answered from the bounded resume queue: malformed ones get API_VALIDATION. */
  private async onRequest<T>(m: BusMessage, parse: (v: unknown) => T | undefined, what: string, run: (req: T) => Promise<unknown>): Promise<void> {
    const req = parse(decodeMsg<unknown>(m.data));
    if (!req) {
      this.o.stats.busErrors++;
      this.reply(m, new LonglinkError(Errors.API_VALIDATION, `malformed ${what} request`).toJSON());
      return;
    }
    try {
      this.reply(m, await run(req));
    } catch (err) {
      // Read after the gateway's whole budget passed: it stopped waiting, and nobody would read an answer.
      if (err instanceof AgedOutError && !err.answer) return;
      // Expired in the queue (QueueExpiredError) is answered too: its deadline is at most
      // `startWithin` of the gateway's budget, so the gateway usually still waits, and an
      // overload answer with a hint closes the connection with 1013 and that delay
      // instead of a timeout (1011) later. A reply nobody reads any more costs one small message.
      this.reply(m, toLonglinkError(err).toJSON());
    }
  }

  /** Bus push requests take the HTTP body shapes and get the HTTP response bodies back. */
  private async onPush(m: BusMessage, h: RouterHandlers): Promise<void> {
    const body = decodeMsg<unknown>(m.data);
    if (body === undefined) {
      this.reply(m, new LonglinkError(Errors.API_BAD_JSON).toJSON());
      return;
    }
    const parsed = await h.core.parsePushPaced(body);
    if (!parsed.ok) {
      this.reply(m, new LonglinkError(parsed.error, parsed.message).toJSON());
      return;
    }
    try {
      const v = parsed.value;
      if (v.kind === 'single') this.reply(m, (await h.core.pushValidated([v.push]))[0]);
      // A batch's answer is built over several turns (batch-json.ts), then sent as one bus message.
      else this.replyText(m, await batchJson(await h.core.pushValidated(v.pushes)));
    } catch (err) {
      this.reply(m, toLonglinkError(err).toJSON());
    }
  }

  private replyText(m: BusMessage, json: string): void {
    try {
      this.o.bus.respond(m, new TextEncoder().encode(json));
    } catch (err) {
      this.o.stats.busErrors++;
      this.o.log.warn({ err: String(err) }, 'bus reply failed');
    }
  }

  private reply(m: BusMessage, body: unknown): void {
    this.replyBytes(m, encodeMsg(body));
  }

  private respondRefusal(m: BusMessage, e: LonglinkError): void {
    try {
      this.o.bus.respond(m, new TextEncoder().encode(e.detail ?? ''), { [UPSTREAM_ERROR_HEADER]: e.code });
    } catch (err) {
      this.o.stats.busErrors++;
      this.o.log.warn({ err: String(err) }, 'bus reply failed');
    }
  }

  private replyBytes(m: BusMessage, data: Uint8Array): void {
    try {
      this.o.bus.respond(m, data);
    } catch (err) {
      this.o.stats.busErrors++;
      this.o.log.warn({ err: String(err) }, 'bus reply failed');
    }
  }

  /** Encodes and publishes; a message nobody would receive (an in-process bus knows) is not even encoded, and counts as sent. */
  private publish(subject: string, body: unknown): boolean {
    if (this.o.bus.interested?.(subject) === false) return true; // checked before encoding: nobody listens
    return this.send(subject, encodeMsg(body));
  }

  /** Publishes encoded bytes; a failure is counted and logged, never thrown. */
  private send(subject: string, data: Uint8Array): boolean {
    try {
      this.o.bus.publish(subject, data);
      return true;
    } catch (err) {
      this.o.stats.busErrors++;
      this.o.log.warn({ err: String(err), subject }, 'bus publish failed');
      return false;
    }
  }
}

function toLonglinkError(err: unknown): LonglinkError {
  return err instanceof LonglinkError ? err : new LonglinkError(Errors.INTERNAL);
}
