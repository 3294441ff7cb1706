/**
 * What gateways tell the router, applied to the stores: session starts
 * (resume), fetches after a seq (replay pages, gap repair), presence events (with the catch-up of re-announced
 * connections), beacons (asking a lapsed gateway to re-announce), acks, and
 * the periodic presence sweep. The bus link hands these calls here directly;
 * the push path (RouterCore) and this one share only the stores, the
 * counters and RouterOutbound.
 */
import type { Clock } from '../../shared/clock.js';
import type { ControlCommand, Delivery, FetchReply, FetchRequest, ResumeReply, ResumeRequest } from '../../shared/bus/messages.js';
import type { Logger } from '../../shared/log.js';
import { Errors, LonglinkError } from '../../shared/errors.js';
import { bump } from '../../shared/stats.js';
import { NO_TRACING, type TraceHooks } from '../../shared/trace-hooks.js';
import type { Inbox, PushRecord, SeqPosition } from './inbox.js';
import type { RouterOutbound } from './ports.js';
import type { GatewayBeacon, Presence, PresenceEvent } from './presence.js';
import type { RouterCoreOptions, RouterStats } from './router-types.js';
import type { Sessions } from './sessions.js';
import type { StoreCall } from './store-call.js';
import { WorkQueue } from './work-queue.js';

export interface GatewayEventsDeps {
  out: RouterOutbound;
  inbox: Inbox;
  sessions: Sessions;
  presence: Presence;
  clock: Clock;
  log: Logger;
  stats: RouterStats;
  store: StoreCall;
  options: Pick<RouterCoreOptions, 'maxResumePushes' | 'maxBusMessageBytes' | 'resumeConcurrency' | 'resumeQueue' | 'maxDevicesPerUser'>;
  trace?: TraceHooks;
}

/** One page of a replay: its pushes are of `epoch`. */
interface Page { pushes: PushRecord[]; more?: true; epoch: number }

/** Pushes read from the inbox per round trip while filling a resume page. */
const RESUME_CHUNK = 32;

export class GatewayEvents {
  /** Resume requests from the bus: bounded, and dropped once their gateway stopped waiting. */
  readonly resumeWork: WorkQueue;
  private readonly trace: TraceHooks;
  /** A resume reply's pushes stop at about this many bytes of data; the gateway asks for the rest. */
  private readonly maxResumeBytes: number;

  constructor(private readonly d: GatewayEventsDeps) {
    this.trace = d.trace ?? NO_TRACING;
    // Half a bus message: `data` is JSON inside JSON, and escaping can double it.
    this.maxResumeBytes = d.options.maxBusMessageBytes / 2;
    this.resumeWork = new WorkQueue({ concurrency: d.options.resumeConcurrency, maxQueued: d.options.resumeQueue, startWithin: 0.8 }, () => d.clock.now());
  }

  /** resume() through the bounded queue; rejects with QueueExpiredError if its deadline passed before it started. */
  queuedResume(req: ResumeRequest): Promise<ResumeReply> {
    return this.resumeWork.run(() => this.resume(req), req.timeoutMs);
  }

  /** fetch() through the same bounded queue as resumes (both read the inbox for a gateway that waits). */
  queuedFetch(req: FetchRequest): Promise<FetchReply> {
    return this.resumeWork.run(() => this.fetch(req), req.timeoutMs);
  }

  /** Pushes after `afterSeq` for a started session: a replay page or a delivery gap. A read only. */
  fetch(req: FetchRequest): Promise<FetchReply> {
    if (!this.trace.enabled) return this.fetchNow(req);
    return this.trace.span('longlink.router.fetch', { attrs: {} }, () => this.fetchNow(req));
  }

  private async fetchNow(req: FetchRequest): Promise<FetchReply> {
    const pos = await this.d.store('since', this.d.inbox.position(req.user));
    // A gateway still on an older epoch gets the current one from its beginning.
    const after = req.epoch !== undefined && req.epoch !== pos.epoch ? 0 : req.afterSeq;
    return this.reply(pos, await this.page(req.user, after, pos.epoch));
  }

  /** Session check and missed pushes. Rejects with STORE_UNAVAILABLE if the stores fail. */
  resume(req: ResumeRequest): Promise<ResumeReply> {
    if (!this.trace.enabled) return this.resumeNow(req);
    return this.trace.span('longlink.router.resume', { attrs: { 'longlink.resume_requested': req.session !== undefined } }, () => this.resumeNow(req));
  }

  private async resumeNow(req: ResumeRequest): Promise<ResumeReply> {
    const { inbox } = this.d;
    try {
      const s = await this.d.store('sessions', this.d.sessions.open(req.user, req.device, req.session));
      // Register the connection in the directory BEFORE reading the inbox: every push then
      // either appended before the snapshot below (replayed) or looks up presence after
      // this (delivered live). The gateway sends no separate online event at open.
      // The device cap is checked in the same atomic step (only here: a re-announced connection is already open).
      const ok = await this.applyPresence({ type: 'online', user: req.user, device: req.device, conn: req.conn, session: s.session, gateway: req.gateway, at: this.d.clock.wallNow() }, this.d.options.maxDevicesPerUser);
      if (!ok) {
        bump(this.d.stats.resumes, 'device-limit');
        throw new LonglinkError(Errors.DEVICE_LIMIT, `at most ${this.d.options.maxDevicesPerUser} devices per user`);
      }
      // The position strictly BEFORE since(): the gateway uses it as its in-order watermark
      // when the replay is empty, so it must never be ahead of what since() saw.
      const pos = await this.d.store('since', inbox.position(req.user));
      // The client's last_seq is of a sequence the store lost: nothing of it can be replayed,
      // and the current sequence is new to the client, so it gets it from the beginning.
      // (Epoch 0, "no sequence yet", had nothing to lose.)
      const stale = req.lastEpoch !== undefined && req.lastEpoch !== pos.epoch;
      const lost = stale && req.lastEpoch !== 0 && req.lastSeq !== undefined ? { epoch: req.lastEpoch!, afterSeq: req.lastSeq } : undefined;
      if (lost !== undefined) this.d.stats.epochResets++;
      const after = stale ? 0 : s.resumed && req.lastSeq !== undefined ? req.lastSeq : await this.d.store('acked', inbox.acked(req.user, req.device));
      const page = await this.page(req.user, after, pos.epoch);
      bump(this.d.stats.resumes, s.resumed ? 'resumed' : req.session === undefined ? 'fresh' : 'rejected');
      return { session: s.session, resumed: s.resumed, ...this.reply(pos, page), ...(lost !== undefined ? { lost } : {}) };
    } catch (err) {
      if (!(err instanceof LonglinkError && err.code === Errors.DEVICE_LIMIT.code)) bump(this.d.stats.resumes, 'failed');
      throw err;
    }
  }

  /** A page read under another epoch than `pos` (the sequence restarted in between) has no latest seq to give: 0. */
  private reply(pos: SeqPosition, page: Page): FetchReply {
    const latestSeq = page.epoch === pos.epoch ? pos.seq : 0;
    return { latestSeq, epoch: page.epoch, pushes: page.pushes, ...(page.more === true ? { more: true } : {}) };
  }

  /**
   * One page of the inbox after `after`: read in small chunks until about
   * maxResumeBytes of data (at least one push) or maxResumePushes, so a
   * backlog of large pushes neither overflows a bus message nor is read
   * whole for each page. `more` when it stopped at a bound. If the records
   * turn out to be of another epoch than `epoch` (the store lost the sequence
   * after the position was read), the page starts again from that epoch's
   * beginning: `after` was a seq of the old one.
   */
  private async page(user: string, after: number, epoch: number): Promise<Page> {
    let pushes: PushRecord[] = [];
    let bytes = 0;
    let from = after;
    for (;;) {
      const want = Math.min(RESUME_CHUNK, this.d.options.maxResumePushes - pushes.length);
      const chunk = await this.d.store('since', this.d.inbox.since(user, from, want));
      const e = chunk[0]?.epoch;
      if (e !== undefined && e !== epoch) {
        epoch = e;
        if (from !== 0 || pushes.length > 0) { pushes = []; bytes = 0; from = 0; continue; }
      }
      for (const p of chunk) {
        const size = Buffer.byteLength(p.data);
        if (pushes.length > 0 && bytes + size > this.maxResumeBytes) return { pushes, more: true, epoch };
        pushes.push(p);
        bytes += size;
      }
      if (chunk.length < want) return { pushes, epoch };
      if (pushes.length >= this.d.options.maxResumePushes) return { pushes, more: true, epoch };
      from = chunk[chunk.length - 1]!.seq;
    }
  }

  /** Returns false only for an online refused by `maxDevices` (see Presence.online). */
  async applyPresence(ev: PresenceEvent, maxDevices?: number): Promise<boolean> {
    this.d.stats.presenceEvents++;
    if (ev.type === 'offline') {
      await this.d.store('presence', this.d.presence.offline(ev));
      // The session's TTL counts from the last time the client was seen.
      if (ev.session !== '') await this.d.store('sessions', this.d.sessions.touch(ev.user, ev.device, ev.session));
      return true;
    }
    const { displaced, gatewayRegistered, refused } = await this.d.store('presence', this.d.presence.online(ev, maxDevices));
    if (refused === true) return false;
    // An online that re-registered a lapsed gateway dropped its other entries, as a late beacon would.
    if (gatewayRegistered) this.resync(ev.gateway);
    // Same gateway: it already closed its older connection itself.
    const others = new Set(displaced.filter((d) => d.gateway !== ev.gateway).map((d) => d.gateway));
    for (const gw of others) {
      const cmd: ControlCommand = { type: 'replace', user: ev.user, device: ev.device, keepConn: ev.conn };
      if (this.d.out.control(gw, cmd)) this.d.stats.replaces++;
    }
    // The stores keep named fields only: the watermark is never stored.
    if (ev.seq !== undefined) await this.catchUp(ev, ev.seq, ev.epoch);
    return true;
  }

  /**
   * A re-announced connection may have missed pushes stored while the
   * directory did not list it. Read after the entry is back (as a resume
   * does), so every push is either in this read or routed to it live; the
   * gateway's in-order delivery drops what it already wrote.
   */
  private async catchUp(ev: PresenceEvent, sentSeq: number, epoch: number | undefined): Promise<void> {
    const { inbox } = this.d;
    const pos = await this.d.store('since', inbox.position(ev.user));
    // The connection is on a sequence the store lost (e.g. Redis was wiped while it was connected):
    // everything of the current one is new to it.
    const sameEpoch = epoch === undefined || epoch === pos.epoch;
    if (sameEpoch && pos.seq <= sentSeq) return;
    const pushes = await this.d.store('since', inbox.since(ev.user, sameEpoch ? sentSeq : 0, this.d.options.maxResumePushes));
    if (pushes.length === 0) return;
    const d: Delivery = { user: ev.user, device: ev.device, pushes };
    if (this.d.out.deliver(ev.gateway, [d])) this.d.stats.catchUps++;
  }

  async applyBeacon(b: GatewayBeacon): Promise<void> {
    this.d.stats.beacons++;
    const { registered } = await this.d.store('presence', this.d.presence.beacon(b));
    // Registered anew while holding connections: its lease lapsed (late beacons), dropping its entries.
    if (registered && b.connections > 0) this.resync(b.gateway);
  }

  /** Asks one gateway to announce all its connections again. */
  private resync(gateway: string): void {
    if (this.d.out.sync({ gateway })) this.d.stats.resyncs++;
  }

  /** [user, device, seq, epoch?]: an ack naming an epoch the store no longer has changes nothing (Inbox.ack). */
  async applyAcks(acks: ReadonlyArray<readonly [string, string, number, number?]>): Promise<void> {
    this.d.stats.acks += acks.length;
    const res = await this.d.store('ack', Promise.all(acks.map(([u, d, seq, epoch]) => this.d.inbox.ack(u, d, seq, epoch))));
    for (const r of res) this.d.stats.inboxTrims += r.trimmed;
  }

  /** Deletes dead gateways' entries; runs on a timer after start(). */
  async sweep(): Promise<void> {
    try {
      const r = await this.d.store('sweep', this.d.presence.sweep());
      this.d.stats.sweptEntries += r.entries;
      this.d.stats.leaseExpiries += r.gateways;
      if (r.gateways > 0) this.d.log.info({ gateways: r.gateways, entries: r.entries }, 'presence: dropped gateways whose lease expired');
    } catch {
      // counted and logged by store()
    }
  }
}
