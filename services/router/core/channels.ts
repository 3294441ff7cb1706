/**
 * Channels on the router (docs/api.md "Channels"): publish, history for
 * gateways, subscriber counts and the subscribe/unsubscribe commands.
 *
 * Publish: one history append (the channel's next offset, atomically in the
 * store) and one bus message on the channel's subject, whatever the number of
 * subscribers: gateways with local subscribers fan it out themselves. No
 * per-recipient store write, no presence lookup: that is what makes a
 * broadcast to every connection cost the same as a publish to a small room.
 *
 * Limits, checked before anything is stored: serialised size
 * (PUBLISH_TOO_LARGE) and a token bucket per API key (PUBLISH_RATE; one
 * bucket for the bus, which has no key). Buckets live in this router: with N
 * routers behind a balancer a key gets up to N times the rate, the same
 * trade-off as the gateway's per-connection limits.
 */
import { randomUuid } from '../../shared/uuid.js';
import { MAX_DATA_DEPTH, withinDepth } from '../../../protocol/index.js';
import type { Clock } from '../../shared/clock.js';
import { Errors, LonglinkError } from '../../shared/errors.js';
import { newBucket, take, waitMs, type BucketState } from '../../shared/token-bucket.js';
import type { ChannelHistoryReply, ChannelHistoryRequest, ChannelMessage, ControlCommand } from '../../shared/bus/messages.js';
import type { ChannelHistory, HistoryWindow } from './channel-history.js';
import type { Presence } from './presence.js';
import type { StoreCall } from './store-call.js';
import { ReadCoalescer } from './read-coalescer.js';

export interface ChannelLimits {
  /** Serialised `data` of one channel message (UTF-8 bytes). */
  maxPublishBytes: number;
  /** Publishes per second per API key (token bucket refill); 0 = unlimited. */
  publishRate: number;
  publishBurst: number;
  /** How long a subscriber count waits for gateways' answers (ms). */
  countTimeoutMs: number;
  /**
   * A history reply carries at most this many bytes of `data`; more is
   * answered as not covered (channel-history.ts). The router sets it to half
   * its bus message bound (maxBusMessageBytes / 2, as the inbox resume: `data`
   * is JSON inside JSON, and escaping can double it).
   */
  maxHistoryBytes: number;
}

export const DEFAULT_CHANNEL_LIMITS: Readonly<ChannelLimits> = Object.freeze({
  maxPublishBytes: 64 * 1024,
  publishRate: 1000,
  publishBurst: 2000,
  countTimeoutMs: 300,
  maxHistoryBytes: 256 * 1024,
});

export interface PublishRequest {
  channel: string;
  data: unknown;
  id?: string;
}

export interface PublishResult {
  channel: string;
  offset: number;
  epoch: string;
  id: string;
}

export interface SubscribeRequest {
  type: 'subscribe' | 'unsubscribe';
  user: string;
  device?: string;
  channels: string[];
}

/** What channels need from the bus (the router's bus link implements it). */
export interface ChannelOutbound {
  /** Publishes one message on the channel's subject. False if publishing failed. */
  channel(msg: ChannelMessage): boolean;
  control(gateway: string, cmd: ControlCommand): boolean;
  /** Asks every gateway for its local count; resolves with the answers received within `timeoutMs` (early once `expect` answered). */
  countSubscribers(channel: string, expect: number, timeoutMs: number): Promise<Array<{ gateway: string; count: number }>>;
}

export interface ChannelStats {
  publishes: number;
  publishRefused: Map<string, number>;
  /** History requests from gateways. */
  historyReads: number;
  /** History requests answered by an identical store read already in flight (read-coalescer.ts): no store read of their own. */
  historyReadsShared: number;
  subscribeCommands: number;
}

export function newChannelStats(): ChannelStats {
  return { publishes: 0, publishRefused: new Map(), historyReads: 0, historyReadsShared: 0, subscribeCommands: 0 };
}

/** Most API keys (and the bus) tracked for rates; far above any real deployment's key count. */
const MAX_BUCKETS = 10_000;

export class ChannelService {
  readonly stats = newChannelStats();
  private readonly buckets = new Map<string, BucketState>();
  private readonly limits: ChannelLimits;
  /** Identical history reads in flight share one store read (many gateways resuming a hot channel at one offset). */
  private readonly reads = new ReadCoalescer<HistoryWindow>();

  constructor(private readonly deps: {
    history: ChannelHistory; presence: Presence; out: ChannelOutbound; clock: Clock; store: StoreCall; limits?: Partial<ChannelLimits>;
  }) {
    this.limits = { ...DEFAULT_CHANNEL_LIMITS, ...deps.limits };
  }

  private refuse(reason: string, err: LonglinkError): never {
    this.stats.publishRefused.set(reason, (this.stats.publishRefused.get(reason) ?? 0) + 1);
    throw err;
  }

  /** `key`: the caller's API key ('' over the bus): the rate is counted per key. */
  async publish(req: PublishRequest, key: string): Promise<PublishResult> {
    // Depth first: JSON.stringify of data nested thousands deep overflows the stack (a 500 instead of a 400).
    if (!withinDepth(req.data, MAX_DATA_DEPTH)) this.refuse('validation', new LonglinkError(Errors.API_VALIDATION, `data nests deeper than ${MAX_DATA_DEPTH} levels`));
    const data = JSON.stringify(req.data);
    const bytes = Buffer.byteLength(data);
    if (bytes > this.limits.maxPublishBytes) this.refuse('too_large', new LonglinkError(Errors.PUBLISH_TOO_LARGE, `${bytes} bytes, limit ${this.limits.maxPublishBytes}`));
    this.charge(key);
    const id = req.id ?? randomUuid();
    const ts = this.deps.clock.wallNow();
    const { offset, epoch } = await this.deps.store('channel-append', this.deps.history.append(req.channel, { id, ts, data }));
    this.stats.publishes++;
    this.deps.out.channel({ channel: req.channel, offset, epoch, id, ts, data });
    return { channel: req.channel, offset, epoch, id };
  }

  private charge(key: string): void {
    const { publishRate, publishBurst } = this.limits;
    if (publishRate <= 0) return;
    const now = this.deps.clock.now();
    let b = this.buckets.get(key);
    if (b === undefined) {
      if (this.buckets.size >= MAX_BUCKETS) this.buckets.clear();
      b = newBucket(publishBurst, now);
      this.buckets.set(key, b);
    }
    if (!take(b, publishRate, publishBurst, now)) {
      this.refuse('rate', new LonglinkError(Errors.PUBLISH_RATE, `more than ${publishRate} publishes/s (burst ${publishBurst})`, Math.max(1, waitMs(b, publishRate, now))));
    }
  }

  /**
   * A gateway's position or recovery read; never more than maxHistoryBytes of data (else not covered). Requests
   * with the same channel, offset and bound while one is being read share its store read and its outcome
   * (a failure too); nothing is kept once it settles.
   */
  async history(req: ChannelHistoryRequest): Promise<ChannelHistoryReply> {
    this.stats.historyReads++;
    const { channel, afterOffset } = req;
    const maxBytes = this.limits.maxHistoryBytes;
    // Every argument of since() is in the key; the channel last, so no name can make two keys collide.
    const key = `${maxBytes}|${afterOffset ?? '-'}|${channel}`;
    const before = this.reads.counts.shared;
    const p = this.reads.read(key, () => this.deps.store('channel-history', this.deps.history.since(channel, afterOffset, maxBytes)));
    this.stats.historyReadsShared += this.reads.counts.shared - before;
    const w = await p;
    return { channel, ...w };
  }

  /** Subscribes or unsubscribes the user's (device's) live connections on every gateway holding one. */
  async subscribe(req: SubscribeRequest): Promise<{ gateways: number; connections: number }> {
    const all = await this.deps.store('lookup', this.deps.presence.lookup(req.user));
    const entries = req.device === undefined ? all : all.filter((e) => e.device === req.device);
    const gateways = new Set(entries.map((e) => e.gateway));
    const cmd: ControlCommand = { type: req.type, user: req.user, channels: req.channels, ...(req.device !== undefined ? { device: req.device } : {}) };
    for (const gw of gateways) this.deps.out.control(gw, cmd);
    this.stats.subscribeCommands++;
    return { gateways: gateways.size, connections: entries.length };
  }

  /** Connections receiving `channel` across the cluster, summed from every gateway that answered in time. */
  async count(channel: string): Promise<{ channel: string; subscribers: number; gateways: number; answered: number }> {
    const known = await this.deps.store('gateways', this.deps.presence.gateways());
    const answers = await this.deps.out.countSubscribers(channel, known.length, this.limits.countTimeoutMs);
    let subscribers = 0;
    for (const a of answers) subscribers += a.count;
    return { channel, subscribers, gateways: known.length, answered: answers.length };
  }
}
