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
 * (acked()) go out on the acked subject, which every router also hears,
 * outside the queue group, for its pushes awaiting `acked`.
 */
import { randomUUID } from 'node:crypto';
import { batchJson } from './batch-json.js';
import { decodeMsg, encodeMsg, type Bus, type BusMessage, type Subscription } from '../shared/bus/bus.js';
import type { AckEvent, ChannelCountReply, ChannelCountRequest, ChannelMessage, ControlCommand, Delivery, DeliveryReceipt, SyncRequest } from '../shared/bus/messages.js';
import { ROUTER_QUEUE, type Subjects } from '../shared/bus/subjects.js';
import { Errors, LonglinkError } from '../shared/errors.js';
import type { Logger } from '../shared/log.js';
import type { BackendEvents } from './core/backend-events.js';
import type { GatewayEvents } from './core/gateway-events.js';
import type { RouterOutbound } from './core/ports.js';
import type { RouterCore } from './core/router-core.js';
import type { OfflineNotice, RouterStats } from './core/router-types.js';
import { QueueExpiredError } from './core/work-queue.js';
import type { ChannelOutbound, ChannelService } from './core/channels.js';
import { parseHistoryRequest, parsePublishBody } from './channel-schemas.js';
import { parseAckEvent, parseAcks, parseBeacon, parseFetchRequest, parsePresenceEvent, parseResumeRequest, parseReceipt, parseUpstream } from './schemas.js';

export interface RouterBusLinkOptions {
  bus: Bus;
  subjects: Subjects;
  log: Pick<Logger, 'warn'>;
  /** busErrors is counted here (malformed messages, failed publishes). */
  stats: RouterStats;
}

/** What the link hands incoming messages to. */
export interface RouterHandlers {
  core: Pick<RouterCore, 'parsePushPaced' | 'pushValidated' | 'receipt' | 'ackReceipt' | 'awaitingAcks'>;
  events: Pick<GatewayEvents, 'applyPresence' | 'applyBeacon' | 'applyAcks' | 'queuedResume' | 'queuedFetch'>;
  channels: Pick<ChannelService, 'publish' | 'history'>;
  /** Backend events (webhooks): upstream messages are read off the bus only when an endpoint takes them. */
  backend?: BackendEvents;
}

export class RouterBusLink implements RouterOutbound, ChannelOutbound {
  /** This process's receipt subject (router instances share everything else). */
  readonly receiptAddress: string;
  private subs: Subscription[] = [];
  private readonly routerId = randomUUID().replace(/-/g, '');
  private countRequests = 0;

  constructor(private readonly o: RouterBusLinkOptions) {
    this.receiptAddress = o.subjects.receipts(this.routerId);
  }

  get listening(): boolean { return this.subs.length > 0; }

  /** Subscribes the router's subjects. Idempotent. */
  listen(h: RouterHandlers): void {
    if (this.subs.length > 0) return;
    const { bus, subjects: s } = this.o;
    const q = { queue: ROUTER_QUEUE };
    this.subs = [
      bus.subscribe(s.presence, (m) => this.onEvent(m, parsePresenceEvent, async (ev) => { await h.events.applyPresence(ev); }), q),
      bus.subscribe(s.beacon, (m) => this.onEvent(m, parseBeacon, (b) => h.events.applyBeacon(b)), q),
      bus.subscribe(s.acks, (m) => this.onEvent(m, parseAcks, (a) => h.events.applyAcks(a)), q),
      bus.subscribe(s.resume, (m) => void this.onResume(m, h), q),
      bus.subscribe(s.fetch, (m) => void this.onFetch(m, h), q),
      bus.subscribe(s.push, (m) => void this.onPush(m, h), q),
      bus.subscribe(s.channelHistory, (m) => void this.onRequest(m, parseHistoryRequest, 'channel history', (req) => h.channels.history(req)), q),
      bus.subscribe(s.publish, (m) => void this.onPublish(m, h), q),
      bus.subscribe(this.receiptAddress, (m) => this.onEvent(m, parseReceipt, async (r: DeliveryReceipt) => h.core.receipt(r))),
      // Every router, no queue group: the ack may have reached another router than the one awaiting it.
      bus.subscribe(s.acked, (m) => { if (h.core.awaitingAcks) this.onEvent(m, parseAckEvent, async (ev) => h.core.ackReceipt(ev)); }),
    ];
    const backend = h.backend;
    if (backend?.wants('upstream.message')) {
      // One router of the group turns each upstream message into an upstream.message webhook;
      // a request (reply: true) is answered with the receiver's response (webhooks.md).
      this.subs.push(bus.subscribe(s.upstream('>'), (m) => {
        if (m.reply === undefined) { this.onEvent(m, parseUpstream, async (u) => { backend.emit('upstream.message', u); }); return; }
        const u = parseUpstream(decodeMsg<unknown>(m.data));
        if (u === undefined) { this.o.stats.busErrors++; return; }
        void backend.request('upstream.message', u).then((body) => { if (body !== undefined) this.replyBytes(m, new TextEncoder().encode(body)); });
      }, q));
    }
  }

  close(): void {
    for (const sub of this.subs) sub.unsubscribe();
    this.subs = [];
  }

  // ---- RouterOutbound ------------------------------------------------------------

  deliver(gateway: string, deliveries: Delivery[]): boolean {
    return this.publish(this.o.subjects.deliver(gateway), { deliveries });
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

  sync(req: SyncRequest): boolean {
    return this.publish(this.o.subjects.sync, req);
  }

  channel(msg: ChannelMessage): boolean {
    return this.publish(this.o.subjects.channel(msg.channel), msg);
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
      // Expired in the queue: the gateway has given up, nobody would read the answer.
      if (err instanceof QueueExpiredError) return;
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

  private replyBytes(m: BusMessage, data: Uint8Array): void {
    try {
      this.o.bus.respond(m, data);
    } catch (err) {
      this.o.stats.busErrors++;
      this.o.log.warn({ err: String(err) }, 'bus reply failed');
    }
  }

  private publish(subject: string, body: unknown): boolean {
    try {
      this.o.bus.publish(subject, encodeMsg(body));
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
