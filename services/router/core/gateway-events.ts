/**
 * What gateways tell the router, applied to the stores: session starts
 * (resume), fetches after a seq (replay pages, gap repair), presence events (with the catch-up of re-announced
 * connections), beacons (asking a lapsed gateway to re-announce), acks, and
 * the periodic presence sweep. The bus link hands these calls here directly;
 * the push path (RouterCore) and this one share only the stores, the
 * counters and RouterOutbound.
 */
import type { Clock } from '../../shared/clock.js';
import type { AckEvent, ControlCommand, Delivery, FetchReply, FetchRequest, ResumeReply, ResumeRequest } from '../../shared/bus/messages.js';
import type { Logger } from '../../shared/log.js';
import { Errors, LonglinkError } from '../../shared/errors.js';
import { bump } from '../../shared/stats.js';
import { NO_TRACING, type TraceHooks } from '../../shared/trace-hooks.js';
import type { AckResult, SeqPosition } from './inbox.js';
import { firstChunk, readPage, type Page } from './inbox-page.js';
import { composeResumeRead, type ResumeRead } from './resume-read.js';
import type { RouterOutbound } from './ports.js';
import type { GatewayBeacon, PresenceEvent } from './presence.js';
import type { RouterCoreOptions, RouterStats } from './router-types.js';
import { WorkQueue } from './work-queue.js';
import { RequestAges } from './request-age.js';
import { ResyncDebt } from './resync-debt.js';
import type { StoreDeps } from './store-deps.js';
import { NO_BACKEND_EVENTS, type BackendEvents, type ConnectionClosedData, type ConnectionOpenedData } from './backend-events.js';

export interface GatewayEventsDeps extends StoreDeps {
  out: RouterOutbound;
  clock: Clock;
  log: Logger;
  stats: RouterStats;
  options: Pick<RouterCoreOptions, 'maxResumePushes' | 'maxBusMessageBytes' | 'resumeConcurrency' | 'resumeQueue' | 'presenceConcurrency' | 'presenceQueue' | 'maxDevicesPerUser' | 'ackReceipts'>;
  trace?: TraceHooks;
  /** Backend events (webhooks): connection.opened / connection.closed. None by default. */
  events?: BackendEvents;
  /** A session start's inbox reads in one step (Redis: one script); by default the Inbox's calls in order. */
  resumeRead?: ResumeRead;
  /** Which gateways owe a re-announcement (resync-debt.ts); a new one by default (tests pass one to watch it). */
  debt?: ResyncDebt;
}

/**
 * Share of a start's budget (the gateway's resume timeout, counted from its
 * send when stamped, else from receipt: request-age.ts) within which its
 * connection may still be registered online. The rest covers the bus
 * transit both ways and the inbox read after it.
 */
const REGISTER_WITHIN = 0.9;

/** A start past its deadline (see resumeNow): answered as overloaded, though nobody is likely to read it. */
class AbandonedStart extends LonglinkError {
  constructor() { super(Errors.ROUTER_OVERLOADED, 'session start finished after the gateway stopped waiting; not registered'); }
}

export class GatewayEvents {
  /** Resume requests from the bus: bounded, and dropped once their gateway stopped waiting. */
  readonly resumeWork: WorkQueue;
  /** How long each resume or fetch sat before it was read, from its gateway's stamp (request-age.ts). */
  readonly ages: RequestAges;
  /** Presence events from the bus: bounded concurrency, FIFO (see queuedPresence). */
  readonly presenceWork: WorkQueue;
  private readonly trace: TraceHooks;
  private readonly events: BackendEvents;
  /** A resume reply's pushes stop at about this many bytes of data; the gateway asks for the rest. */
  private readonly maxResumeBytes: number;
  private readonly resumeRead: ResumeRead;
  /** Gateways owing a re-announcement (a failed or lapsed step), asked for at their next answered beacon. */
  private readonly debt: ResyncDebt;

  constructor(private readonly d: GatewayEventsDeps) {
    this.trace = d.trace ?? NO_TRACING;
    this.events = d.events ?? NO_BACKEND_EVENTS;
    // Half a bus message: `data` is JSON inside JSON, and escaping can double it.
    this.maxResumeBytes = d.options.maxBusMessageBytes / 2;
    this.resumeRead = d.resumeRead ?? composeResumeRead(d.inbox);
    this.debt = d.debt ?? new ResyncDebt();
    this.ages = new RequestAges(d.clock);
    this.resumeWork = new WorkQueue({ concurrency: d.options.resumeConcurrency, maxQueued: d.options.resumeQueue, startWithin: 0.8 }, () => d.clock.now());
    // No start deadline: nobody waits for a presence event, and a dropped one leaves the directory short (queuedPresence).
    this.presenceWork = new WorkQueue({ concurrency: d.options.presenceConcurrency, maxQueued: d.options.presenceQueue }, () => d.clock.now());
  }

  /**
   * applyPresence() for an event from the bus, at most `presenceConcurrency`
   * at once, in arrival order. Why: a gateway whose lease lapsed re-announces
   * every connection it holds in one burst (tens of thousands of events), and
   * a router (re)connecting asks every gateway to. Applied as they arrived,
   * each event sent its first store command at once: the store connection's
   * pipeline held three or four commands per connection of the gateway, and
   * a push or channel publish issued meanwhile queued behind all of them, past
   * the store's command timeout (503 STORE_UNAVAILABLE). With the bound, a
   * publish waits behind at most `presenceConcurrency` short scripts, and the
   * burst is worked off at the store's pace. FIFO start order keeps the call
   * order the presence store relies on (its first step is sent when called).
   * A full queue drops the event (counted: presenceWork.stats.shed); the
   * directory then misses that connection until its gateway re-announces,
   * which the drop itself asks for (ResyncDebt: at its next answered beacon).
   */
  queuedPresence(ev: PresenceEvent): Promise<void> {
    // A shed event leaves the directory short too: re-announce once the store answers (ResyncDebt).
    // One that ran and failed already owes (applyPresence): one failure, one debt.
    let ran = false;
    return this.presenceWork.run(async () => { ran = true; await this.applyPresence(ev); }).catch((err: unknown) => { if (!ran) this.debt.owe(ev.gateway); throw err; });
  }

  /**
   * resume() through the bounded queue; rejects with QueueExpiredError if its
   * deadline passed before it started, or with AgedOutError if it sat unread
   * too long to start in time (work-queue.ts): neither touches the store.
   */
  queuedResume(req: ResumeRequest): Promise<ResumeReply> {
    // Counted from the gateway's send: the age errs low (request-age.ts), so this deadline is never early.
    const age = this.ages.ageOf(req.clock, req.sentAt);
    const deadline = req.timeoutMs === undefined ? undefined : this.d.clock.now() - age + req.timeoutMs * REGISTER_WITHIN;
    const start = this.d.clock.wallNow();
    return this.resumeWork.run(() => this.resume(req, deadline, start), req.timeoutMs, age);
  }

  /** fetch() through the same bounded queue as resumes (both read the inbox for a gateway that waits). */
  queuedFetch(req: FetchRequest): Promise<FetchReply> {
    return this.resumeWork.run(() => this.fetch(req), req.timeoutMs, this.ages.ageOf(req.clock, req.sentAt));
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
    return reply(pos, await this.page(req.user, after, pos.epoch));
  }

  /** Session check and missed pushes. Rejects with STORE_UNAVAILABLE if the stores fail. */
  resume(req: ResumeRequest, deadline?: number, start = this.d.clock.wallNow()): Promise<ResumeReply> {
    if (!this.trace.enabled) return this.resumeNow(req, deadline, start);
    return this.trace.span('longlink.router.resume', { attrs: { 'longlink.resume_requested': req.session !== undefined } }, () => this.resumeNow(req, deadline, start));
  }

  /**
   * `deadline` (clock.now() scale): past it the gateway has given up on this
   * start and closed the connection, and the client may already be back on a
   * newer one. Registering the dead attempt then would displace that newer
   * connection (closed 4003 REPLACED, which clients do not retry) and leave a
   * ghost entry, so the start is abandoned unregistered instead. `start` (wall
   * clock at receipt) backs this up in the store itself, where the deadline
   * check cannot reach (a registration in flight while the store stalls):
   * see PresenceEvent.start.
   */
  private async resumeNow(req: ResumeRequest, deadline: number | undefined, start: number): Promise<ResumeReply> {
    const { inbox } = this.d;
    try {
      const s = await this.d.store('sessions', this.d.sessions.open(req.user, req.device, req.session));
      if (deadline !== undefined && this.d.clock.now() >= deadline) {
        bump(this.d.stats.resumes, 'abandoned');
        throw new AbandonedStart();
      }
      // Register the connection in the directory BEFORE reading the inbox: every push then
      // either appended before the snapshot below (replayed) or looks up presence after
      // this (delivered live). The gateway sends no separate online event at open.
      // The device cap is checked in the same atomic step (only here: a re-announced connection is already open).
      const ok = await this.applyPresence({ type: 'online', user: req.user, device: req.device, conn: req.conn, session: s.session, gateway: req.gateway, at: this.d.clock.wallNow(), start }, this.d.options.maxDevicesPerUser);
      if (ok === 'refused') {
        bump(this.d.stats.resumes, 'device-limit');
        throw new LonglinkError(Errors.DEVICE_LIMIT, `at most ${this.d.options.maxDevicesPerUser} devices per user`);
      }
      if (ok === 'stale') {
        bump(this.d.stats.resumes, 'stale');
        throw new LonglinkError(Errors.SESSION_REPLACED, 'a newer session start of this user and device registered first');
      }
      // Position, replay start and first chunk in one store step (Redis: one script; core/resume-read.ts).
      // The position is read no later than the chunk: the gateway uses it as its in-order watermark
      // when the replay is empty, so it must never be ahead of what the read saw.
      const { pos, after, stale, first } = await this.d.store('since', this.resumeRead.start(req.user, req.device,
        { resumed: s.resumed, lastSeq: req.lastSeq, lastEpoch: req.lastEpoch }, firstChunk(this.pageBounds)));
      // The client's last_seq is of a sequence the store lost: nothing of it can be replayed,
      // and the current sequence is new to the client, so it got it from the beginning.
      // (Epoch 0, "no sequence yet", had nothing to lose.)
      const lost = stale && req.lastEpoch !== 0 && req.lastSeq !== undefined ? { epoch: req.lastEpoch!, afterSeq: req.lastSeq } : undefined;
      if (lost !== undefined) this.d.stats.epochResets++;
      const page = await readPage(inbox, this.d.store, req.user, after, this.pageBounds, pos.epoch, first);
      bump(this.d.stats.resumes, s.resumed ? 'resumed' : req.session === undefined ? 'fresh' : 'rejected');
      if (this.events.wants('connection.opened')) {
        this.events.emit('connection.opened', { user: req.user, device: req.device, conn: req.conn, gateway: req.gateway, resumed: s.resumed, at: this.d.clock.wallNow() } satisfies ConnectionOpenedData);
      }
      return { session: s.session, resumed: s.resumed, ...reply(pos, page), ...(lost !== undefined ? { lost } : {}) };
    } catch (err) {
      if (!(err instanceof LonglinkError && (err.code === Errors.DEVICE_LIMIT.code || err.code === Errors.SESSION_REPLACED.code)) && !(err instanceof AbandonedStart)) bump(this.d.stats.resumes, 'failed');
      throw err;
    }
  }

  /** One page of the inbox after `after` (a seq of `epoch`), bounded in pushes and bytes (inbox-page.ts). */
  private page(user: string, after: number, epoch: number): Promise<Page> {
    return readPage(this.d.inbox, this.d.store, user, after, this.pageBounds, epoch);
  }

  private get pageBounds(): { maxPushes: number; maxBytes: number } {
    return { maxPushes: this.d.options.maxResumePushes, maxBytes: this.maxResumeBytes };
  }

  /**
   * 'refused' for an online refused by `maxDevices`, 'stale' for one older than the device's entry (see Presence.online).
   * A failed step may still have run in the store (a command timeout does not unsend it), and an
   * online's first step may have re-registered a lapsed gateway, dropping its other entries: the
   * gateway then owes a re-announcement, asked for at its next beacon that the store answers.
   */
  async applyPresence(ev: PresenceEvent, maxDevices?: number): Promise<'ok' | 'refused' | 'stale'> {
    try {
      return await this.applyPresenceNow(ev, maxDevices);
    } catch (err) {
      this.debt.owe(ev.gateway);
      throw err;
    }
  }

  private async applyPresenceNow(ev: PresenceEvent, maxDevices?: number): Promise<'ok' | 'refused' | 'stale'> {
    this.d.stats.presenceEvents++;
    if (ev.type === 'offline') {
      // A connection whose session never started (refused, or closed while starting) was never reported opened.
      if (ev.session !== '' && this.events.wants('connection.closed')) {
        const data: ConnectionClosedData = { user: ev.user, device: ev.device, conn: ev.conn, gateway: ev.gateway, ...(ev.code !== undefined ? { code: ev.code } : {}), ...(ev.reason !== undefined ? { reason: ev.reason } : {}), at: ev.at };
        this.events.emit('connection.closed', data);
      }
      await this.d.store('presence', this.d.presence.offline(ev));
      // The session's TTL counts from the last time the client was seen.
      if (ev.session !== '') await this.d.store('sessions', this.d.sessions.touch(ev.user, ev.device, ev.session));
      return 'ok';
    }
    const { displaced, gatewayRegistered, refused, stale } = await this.d.store('presence', this.d.presence.online(ev, maxDevices));
    if (refused === true) return 'refused';
    if (stale === true) return 'stale';
    // An online that re-registered a lapsed gateway dropped its other entries, as a late beacon would.
    if (gatewayRegistered) this.resync(ev.gateway);
    // Same gateway: it already closed its older connection itself. Each other gateway is told
    // which connections to close by id: by the time the command arrives, the client may be back
    // on that gateway on a newer connection of the same device (ControlCommand 'replace').
    const byGateway = new Map<string, string[]>();
    for (const e of displaced) {
      if (e.gateway === ev.gateway) continue;
      const conns = byGateway.get(e.gateway);
      if (conns) conns.push(e.conn);
      else byGateway.set(e.gateway, [e.conn]);
    }
    for (const [gw, conns] of byGateway) {
      const cmd: ControlCommand = { type: 'replace', user: ev.user, device: ev.device, keepConn: ev.conn, conns };
      if (this.d.out.control(gw, cmd)) this.d.stats.replaces++;
    }
    // The stores keep named fields only: the watermark is never stored.
    if (ev.seq !== undefined) await this.catchUp(ev, ev.seq, ev.epoch);
    return 'ok';
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

  /**
   * Renews the gateway's lease. Registered anew while holding connections: its lease lapsed (late
   * beacons), dropping its entries, so it is asked to re-announce them. A failed beacon may have
   * done that too without the answer reaching us: a store stalled past the command timeout still
   * runs the queued beacon once it wakes, and the beacons after it then find the lease alive
   * (`registered` false), so nothing would ever ask again. So a failed beacon (like a failed
   * presence step) leaves the gateway owing a re-announcement, asked for at its next beacon the
   * store answers, and again (with backoff) while steps keep failing (ResyncDebt).
   */
  async applyBeacon(b: GatewayBeacon): Promise<void> {
    this.d.stats.beacons++;
    let registered: boolean;
    try {
      ({ registered } = await this.d.store('presence', this.d.presence.beacon(b)));
    } catch (err) {
      this.debt.owe(b.gateway);
      throw err;
    }
    if (registered) this.debt.owe(b.gateway);
    if (b.connections > 0 && this.debt.due(b.gateway, this.d.clock.now())) this.resync(b.gateway);
    else if (b.connections === 0) this.debt.forgive(b.gateway);
  }

  /** Asks one gateway to announce all its connections again. */
  private resync(gateway: string): void {
    if (this.d.out.sync({ gateway })) this.d.stats.resyncs++;
  }

  /**
   * Applies acks to the inbox, then reports every push they newly covered as
   * an AckEvent: through RouterOutbound.acked (the ackReceipts option) and
   * as push.acked webhook events when an endpoint wants them.
   */
  async applyAcks(acks: ReadonlyArray<readonly [string, string, number, number?]>): Promise<void> {
    this.d.stats.acks += acks.length;
    // [user, device, seq, epoch?]: an ack naming an epoch the store no longer has changes nothing (Inbox.ack).
    // The acked pushes are listed only when someone takes receipts: the bus (ackReceipts) or push.acked webhooks.
    const mode = this.d.options.ackReceipts;
    const publish = (mode === true && this.d.out.ackReceiptsHeard?.() !== false) || (mode === 'await' && this.d.out.ackReceiptsWanted?.() === true);
    const list = publish || this.events.wants('push.acked');
    const optsOf = (epoch: number | undefined): { list?: boolean; epoch?: number } | undefined =>
      (epoch !== undefined ? { list, epoch } : list ? LIST : undefined);
    const inbox = this.d.inbox;
    let res: AckResult[];
    if (inbox.ackNow !== undefined) {
      // An in-process inbox (memory): the batch applied in this call, without a promise per ack.
      try {
        res = new Array<AckResult>(acks.length);
        for (let i = 0; i < acks.length; i++) { const [u, d, seq, epoch] = acks[i]!; res[i] = inbox.ackNow(u, d, seq, optsOf(epoch)); }
      } catch (err) {
        res = await this.d.store('ack', Promise.reject(err instanceof Error ? err : new Error(String(err))));
      }
    } else {
      res = await this.d.store('ack', Promise.all(acks.map(([u, d, seq, epoch]) => inbox.ack(u, d, seq, optsOf(epoch)))));
    }
    const ts = this.d.clock.wallNow();
    const events: AckEvent[] = [];
    for (let i = 0; i < res.length; i++) {
      const r = res[i]!;
      this.d.stats.inboxTrims += r.trimmed;
      const [user, device] = acks[i]!;
      for (const p of r.acked ?? []) events.push({ user, device, seq: p.seq, id: p.id, ts });
    }
    if (events.length > 0) {
      if (publish) {
        this.d.stats.ackReceipts += events.length;
        this.d.out.acked(events);
      }
      // Acks arrive at one router of the queue group: one push.acked per acked push, cluster-wide.
      if (this.events.wants('push.acked')) for (const ev of events) this.events.emit('push.acked', ev);
    }
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

/** An ack's options when it lists what it covered and names no epoch (shared: the inbox only reads them). */
const LIST = Object.freeze({ list: true });

/** A page read under another epoch than `pos` (the sequence restarted in between) has no latest seq to give: 0. */
function reply(pos: SeqPosition, page: Page): FetchReply {
  const epoch = page.epoch ?? pos.epoch;
  return { latestSeq: epoch === pos.epoch ? pos.seq : 0, epoch, pushes: page.pushes, ...(page.more === true ? { more: true } : {}) };
}
