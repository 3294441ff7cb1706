/**
 * Channels on a gateway (docs/protocol.md §13): which local connections
 * receive which channel, interest-based bus subscriptions, in-order fan-out
 * and recovery.
 *
 * - Interest: the gateway subscribes to a channel's bus subject when its
 *   first local connection joins and drops it when the last one leaves, so a
 *   message reaches only gateways that have subscribers.
 * - Fan-out: one encoded frame per message, handed to the transport's native
 *   topic publish (uWS app.publish): no JavaScript loop over sockets.
 *   Sockets join the topic (socket.subscribe) only once they are caught up.
 * - Order: per channel, this gateway fans out offsets in order, exactly once:
 *   a duplicate is dropped, an early message is held until the gap fills or,
 *   after `repairAfterMs`, the gap is read from the history (skipped if the
 *   history no longer has it; subscribers see the gap in the offsets). A new
 *   epoch restarts the count.
 * - Join: the history gives the channel's position (and, for a recovering
 *   client, what it missed, in pages: channel-pager.ts); messages that
 *   arrived since come from a ring of recent ones or the history; then the
 *   socket joins the topic, or once the live stream reaches the history's
 *   offset, so nothing arrives twice or out of order.
 */
import { BROADCAST_CHANNEL, encodeJson, encodePubRaw, type ChannelPosition } from '../../../protocol/index.js';
import { Errors, LonglinkError } from '../../shared/errors.js';
import { NO_TRACING, type TraceHooks } from '../../shared/trace-hooks.js';
import type { ChannelArrival, ChannelLink, ClientSocket, TopicPublisher } from './ports.js';
import { SharedReads, type SharedReadCounts } from './shared-reads.js';
import { ChannelState, type Waiter } from './channel-state.js';
import { applyCommand, foldCommand, type ChannelCommand } from './channel-commands.js';
import { ChannelPager, type PagerStats } from './channel-pager.js';

export { MAX_PENDING_CONTROL } from './channel-commands.js';

/** What the hub needs of a connection. */
export interface ChannelConn {
  readonly socket: ClientSocket;
  closed: boolean;
  /** Channels joined or joining; null until the session started on a client that speaks channel frames (start()). */
  channels: Set<string> | null;
  readonly id: string;
  readonly user: string;
  readonly device: string;
  /** Channels waiting for the client's `recover` frame (handshake `recover=1`), and until when (hub clock). */
  awaitingRecover: { channels: readonly string[]; until: number } | null;
  /**
   * Subscribe/unsubscribe commands that arrived while the session was starting (the router already lists the
   * connection, so a backend acting on `connection.opened` can beat the gateway's start): applied by start().
   * null when the client does not speak channel frames, or once started.
   */
  pendingControl: ChannelCommand[] | null;
}

export interface ChannelOptions {
  /** Channels one connection may receive (the broadcast channel does not count). */
  maxPerConnection: number;
  /** A held (out-of-order) message waits this long before the gap is read from the history (ms). */
  repairAfterMs: number;
  /** How long joins wait for the `recover` frame of a `recover=1` handshake before going ahead without it (ms). */
  recoverWaitMs: number;
  /** A join's catch-up (recovery pages) writes while the socket's send buffer is under this (bytes; default 256 KiB). */
  highWaterBytes?: number;
  /** Recovery reads (first and page reads) this gateway has in flight at most (channel-pager.ts; default 64). */
  maxPageReads?: number;
  /** Publish join and leave events for backends (ChannelLink.channelPresence), with this gateway id and wall clock; off when absent. */
  presenceEvents?: { gateway: string; wallNow: () => number };
  /** Report this gateway's first local subscriber of a channel and its last one leaving (ChannelLink.channelOccupancy); off when absent. */
  occupancyEvents?: { gateway: string; wallNow: () => number };
}

export interface ChannelStats {
  /** Messages fanned out (one per message per gateway, not per subscriber). */
  published: number;
  /** Frames the topic publishes reached: subscribers at the time of each message. */
  deliveries: number;
  /** Bus messages taken, by layout (channel-layout.ts): `record` decoded and encoded here, `frame` fanned out as the bytes that came. */
  arrivedRecord: number;
  arrivedFrame: number;
  duplicates: number;
  gapsRepaired: number;
  gapsSkipped: number;
  epochChanges: number;
  interestAdded: number;
  interestDropped: number;
  /** History reads sent to a router, and joins that shared one in flight (shared-reads.ts). */
  readonly historyReads: SharedReadCounts;
  readonly joins: Map<string, number>;
  /** Joins caught up in pages (channel-pager.ts): pages read, pauses on a full send buffer, catch-ups cut short. */
  readonly catchUp: PagerStats;
}

const RING = 256;

export class ChannelHub<C extends ChannelConn> {
  readonly stats: ChannelStats;
  private readonly pager: ChannelPager<C>;
  private readonly states = new Map<string, ChannelState<C>>();
  private readonly holding = new Set<ChannelState<C>>();
  private readonly awaiting = new Set<C>();
  private joinSeq = 0;

  constructor(private readonly o: ChannelOptions, private readonly link: ChannelLink, private readonly topics: TopicPublisher,
    private readonly send: (c: C, frame: string | Uint8Array) => void, private readonly now: () => number, private readonly trace: TraceHooks = NO_TRACING) {
    this.pager = new ChannelPager<C>({ send, now, history: (channel, afterOffset) => link.history({ channel, afterOffset }),
      current: (st) => this.states.get(st.name) === st, highWaterBytes: o.highWaterBytes ?? 256 * 1024, retryAfterMs: o.repairAfterMs, maxReads: o.maxPageReads ?? 64 });
    this.stats = { published: 0, deliveries: 0, arrivedRecord: 0, arrivedFrame: 0, duplicates: 0, gapsRepaired: 0, gapsSkipped: 0, epochChanges: 0,
      interestAdded: 0, interestDropped: 0, historyReads: { started: 0, shared: 0 }, joins: new Map(), catchUp: this.pager.stats };
  }

  /** Channels with local subscribers (each one bus subscription). */
  get channelCount(): number { return this.states.size; }
  /** Connection-channel memberships (joined or joining). */
  get subscriptions(): number { let n = 0; for (const st of this.states.values()) n += st.members.size; return n; }
  /** Channels holding out-of-order messages while a gap is repaired. */
  get gapsPending(): number { return this.holding.size; }

  /** Local connections receiving (or joining) `channel`. */
  count(channel: string): number { return this.states.get(channel)?.members.size ?? 0; }

  /**
   * The session started (hello written): join the broadcast channel and the
   * token's channels, at once or, with `recover`, when the client's recover
   * frame names its positions.
   */
  start(c: C, channels: readonly string[], recover: boolean): void {
    c.channels ??= new Set();
    const held = c.pendingControl ?? [];
    c.pendingControl = null;
    // Commands that came while starting apply after the token's channels, in arrival order.
    const all = held.reduce(foldCommand, new Set([BROADCAST_CHANNEL, ...channels]));
    if (!recover) { for (const ch of all) void this.join(c, ch); return; }
    c.awaitingRecover = { channels: [...all], until: this.now() + this.o.recoverWaitMs };
    this.awaiting.add(c);
  }

  /**
   * A subscribe/unsubscribe command from the API (ControlCommand). False when it does not reach this connection
   * (closed, no channel frames, or too many held while starting).
   */
  control(c: C, subscribe: boolean, channels: readonly string[]): boolean {
    return applyCommand(this, c, { subscribe, channels });
  }

  /** The client's `recover` frame. False when none was expected (a protocol error). */
  recover(c: C, positions: readonly ChannelPosition[]): boolean {
    const waiting = c.awaitingRecover;
    if (waiting === null) return false;
    c.awaitingRecover = null;
    this.awaiting.delete(c);
    const at = new Map(positions.map((p) => [p.channel, p] as const));
    for (const ch of waiting.channels) void this.join(c, ch, at.get(ch));
    return true;
  }

  /** Joins `channel`; with `from`, recovers what the client missed after it. Resolves once joined or refused. */
  join(c: C, channel: string, from?: ChannelPosition): Promise<void> {
    const set = c.channels;
    if (c.closed || set === null) return Promise.resolve();
    if (set.has(channel)) return Promise.resolve();
    const counted = set.size - (set.has(BROADCAST_CHANNEL) ? 1 : 0);
    if (channel !== BROADCAST_CHANNEL && counted >= this.o.maxPerConnection) {
      this.bumpJoin('refused_limit');
      this.send(c, encodeJson({ op: 'unsubscribed', channel, error: Errors.CHANNEL_LIMIT.code }));
      return Promise.resolve();
    }
    set.add(channel);
    const st = this.state(channel);
    const seq = ++this.joinSeq;
    st.members.set(c, seq);
    const interest = st.interest!;
    // Left and joined again while this read was in flight: the later join answers (this one would replay into it).
    const current = (): boolean => this.isMember(c, channel) && st.members.get(c) === seq;
    // A channel this gateway already follows knows its position: a plain join needs no history read, so a
    // reconnect storm costs one read per channel per gateway, not one per connection. Nor does a recovery from another
    // epoch (`recovered` below needs the client's epoch to be this gateway's) or from the current offset (none missed).
    const known = st.last >= 0 && (from === undefined || from.epoch !== st.epoch || from.offset === st.last);
    const read = known
      ? Promise.resolve({ channel, epoch: st.epoch, offset: st.last, pubs: [], covered: from === undefined || from.offset === st.last })
      // A position read carries no messages; a recovery's first read is capped with the page reads (channel-pager.ts).
      : interest.ready.then(() => from === undefined ? st.reads.read(-1, () => this.link.history({ channel }))
        : this.pager.firstRead(c, st, from.offset, current, () => this.link.history({ channel, afterOffset: from.offset })));
    return read
      .then((r) => {
        if (!current()) return;
        if (st.last < 0) this.sync(st, r.epoch, r.offset);
        // Past its byte bound the history answers with the prefix that fits (not covered): the pager reads the rest.
        const holds = r.covered || (from !== undefined && r.pubs[0]?.offset === from.offset + 1);
        const recovered = from === undefined ? undefined : from.epoch === r.epoch && holds && r.epoch === st.epoch;
        this.bumpJoin(recovered === undefined ? 'fresh' : recovered ? 'recovered' : 'not_recovered');
        c.socket.cork(() => {
          this.send(c, encodeJson({ op: 'subscribed', channel, offset: r.offset, epoch: st.epoch, ...(recovered !== undefined ? { recovered } : {}) }));
          if (recovered === true) this.pager.start(c, st, from!.offset, r.pubs, true, r.offset);
          else this.pager.start(c, st, r.epoch === st.epoch ? r.offset : st.last, [], false);
        });
        st.joined.add(c);
        this.presence('join', c, channel);
        if (!st.occupied) { st.occupied = true; this.occupancy(channel, true, c); }
      })
      .catch((err: unknown) => {
        if (!current()) return;
        this.bumpJoin('failed');
        this.leave(c, channel);
        const code = err instanceof LonglinkError ? err.code : Errors.STORE_UNAVAILABLE.code;
        this.send(c, encodeJson({ op: 'unsubscribed', channel, error: code }));
      });
  }

  /** Stops `channel` for `c` (tells the client unless it is closed or `silent`). */
  leave(c: C, channel: string, tell = false): void {
    if (!c.channels?.delete(channel)) return;
    const st = this.states.get(channel);
    if (!c.closed) {
      c.socket.unsubscribe(channel);
      if (tell) this.send(c, encodeJson({ op: 'unsubscribed', channel }));
    }
    if (st === undefined) return;
    // A member that leaves (or whose join fails) before its join succeeded was never reported joining.
    if (st.joined.delete(c)) this.presence('leave', c, channel);
    this.pager.stop(c, st);
    st.members.delete(c);
    if (st.waiting.length > 0) st.waiting = st.waiting.filter((w) => w.c !== c);
    if (st.members.size === 0) {
      st.interest?.drop();
      st.interest = null;
      this.stats.interestDropped++;
      this.states.delete(channel);
      this.holding.delete(st);
      if (st.occupied) this.occupancy(channel, false, c);
    }
  }

  /** The connection closed: every channel it had. uWS drops its topic memberships itself. */
  closed(c: C): void {
    c.awaitingRecover = null;
    this.awaiting.delete(c);
    if (c.channels === null) return;
    for (const ch of [...c.channels]) this.leave(c, ch);
  }

  /** Join/leave events, when configured; never for the broadcast channel (every connection is in it). */
  private presence(type: 'join' | 'leave', c: C, channel: string): void {
    const pe = this.o.presenceEvents;
    if (pe === undefined || channel === BROADCAST_CHANNEL) return;
    this.link.channelPresence({ type, channel, user: c.user, device: c.device, conn: c.id, gateway: pe.gateway, at: pe.wallNow() });
  }

  /**
   * First member joined / last member left, once each per channel state: a
   * join that failed reports nothing, and a state made again after the last
   * one left reports again. Never for the broadcast channel.
   */
  private occupancy(channel: string, occupied: boolean, by: C): void {
    const oe = this.o.occupancyEvents;
    if (oe === undefined || channel === BROADCAST_CHANNEL || this.link.channelOccupancy === undefined) return;
    this.link.channelOccupancy({ channel, gateway: oe.gateway, occupied, at: oe.wallNow(), user: by.user });
  }

  private isMember(c: C, channel: string): boolean {
    return !c.closed && c.channels !== null && c.channels.has(channel) && this.states.get(channel)?.members.has(c) === true;
  }

  private bumpJoin(outcome: string): void {
    this.stats.joins.set(outcome, (this.stats.joins.get(outcome) ?? 0) + 1);
  }

  private state(channel: string): ChannelState<C> {
    let st = this.states.get(channel);
    if (st === undefined) {
      const created = new ChannelState<C>(channel, null, new SharedReads(this.stats.historyReads));
      created.interest = this.link.interest(channel, (m) => {
        // Counted here, once per bus message: onMessage also replays the ones held before the first history read.
        if (typeof m.frame === 'string') this.stats.arrivedRecord++;
        else this.stats.arrivedFrame++;
        this.onMessage(created, m);
      });
      this.stats.interestAdded++;
      this.states.set(channel, created);
      st = created;
    }
    return st;
  }

  private sync(st: ChannelState<C>, epoch: string, offset: number): void {
    st.epoch = epoch;
    st.last = offset;
    for (const m of st.early.drain()) this.onMessage(st, m);
  }

  /** A message from the bus for a channel with local subscribers. */
  private onMessage(st: ChannelState<C>, m: ChannelArrival): void {
    if (this.states.get(st.name) !== st) return;
    if (st.last < 0) {
      // Past the bound the oldest go: most came before the first read was sent (a recovering join can wait its
      // turn for it, read-gate.ts), which covers them, and a gap they leave above it is repaired like any other
      // (the newer ones are held); dropping the newest lost those sent after the read until another message came.
      st.early.push(m);
      return;
    }
    if (m.epoch !== st.epoch) {
      // The history was lost and offsets restarted: follow the new epoch; subscribers see it on the frame.
      this.stats.epochChanges++;
      st.epoch = m.epoch;
      st.last = m.offset - 1;
      st.ring = [];
      st.held.clear();
      this.holding.delete(st);
      const waiting = st.waiting;
      st.waiting = [];
      for (const w of waiting) if (this.isMember(w.c, st.name)) w.c.socket.subscribe(st.name);
      this.pager.epochChanged(st);
    }
    if (m.offset <= st.last) { this.stats.duplicates++; return; }
    if (m.offset > st.last + 1) {
      if (st.held.size === 0) st.heldSince = this.now();
      st.held.set(m.offset, m);
      this.holding.add(st);
      return;
    }
    this.fanOut(st, m);
    this.drainHeld(st);
  }

  private drainHeld(st: ChannelState<C>): void {
    for (let next = st.held.get(st.last + 1); next !== undefined; next = st.held.get(st.last + 1)) {
      st.held.delete(next.offset);
      this.fanOut(st, next);
    }
    for (const k of st.held.keys()) if (k <= st.last) st.held.delete(k);
    if (st.held.size === 0) this.holding.delete(st);
    else st.heldSince = this.now();
  }

  private fanOut(st: ChannelState<C>, m: ChannelArrival): void {
    if (this.trace.enabled) {
      // Inside the bus message's consumer span: the publish's trace ends with this gateway's fan-out.
      this.trace.span('longlink.gateway.fanout', { childOnly: true, attrs: { 'longlink.channel': st.name, 'longlink.offset': m.offset, 'longlink.subscribers': st.members.size } },
        () => this.topics.publish(st.name, m.frame));
    } else {
      this.topics.publish(st.name, m.frame);
    }
    st.last = m.offset;
    this.stats.published++;
    this.stats.deliveries += st.members.size - st.waiting.length - st.catchingUp.size;
    st.ring.push(m);
    if (st.ring.length > RING) st.ring.splice(0, st.ring.length - RING);
    if (st.waiting.length > 0) {
      const still: Array<Waiter<C>> = [];
      for (const w of st.waiting) {
        if (w.after > st.last) still.push(w);
        else if (this.isMember(w.c, st.name)) w.c.socket.subscribe(st.name);
      }
      st.waiting = still;
    }
  }

  /** The socket's send buffer shrank: a catch-up paused on it goes on. */
  sendBufferDrained(c: C): void { this.pager.sendBufferDrained(c); }
  /** Every wheel tick: gaps held too long are read from the history, or skipped. */
  tick(now: number): void {
    this.pager.tick(now);
    for (const c of this.awaiting) {
      if (c.awaitingRecover !== null && now >= c.awaitingRecover.until) this.recover(c, []);
    }
    for (const st of this.holding) {
      if (st.repairing || now - st.heldSince < this.o.repairAfterMs) continue;
      st.repairing = true;
      const from = st.last;
      const epoch = st.epoch;
      this.link.history({ channel: st.name, afterOffset: from }).then((r) => {
        st.repairing = false;
        if (this.states.get(st.name) !== st || st.epoch !== epoch || st.last !== from) return;
        // Not covered but with messages: the history's byte bound cut the answer short; they are the prefix from
        // the gap on (the held messages after it made it large). Taken, and the next tick asks for the rest.
        if (r.epoch === epoch && (r.covered || r.pubs[0]?.offset === from + 1)) {
          this.stats.gapsRepaired++;
          for (const p of r.pubs) {
            if (p.offset !== st.last + 1) continue;
            const held = st.held.get(p.offset);
            st.held.delete(p.offset);
            this.fanOut(st, held ?? { channel: st.name, offset: p.offset, epoch, frame: encodePubRaw(st.name, p.offset, epoch, p.id, p.ts, p.data) });
          }
        } else {
          this.stats.gapsSkipped++;
          st.last = Math.min(...st.held.keys()) - 1;
        }
        this.drainHeld(st);
      }, () => { st.repairing = false; st.heldSince = this.now(); });
    }
  }
}
