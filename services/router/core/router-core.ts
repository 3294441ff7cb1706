/**
 * The router's core: push API, presence directory upkeep, resume and acks.
 *
 * Stateless by design: everything durable lives behind the Inbox, Sessions
 * and Presence contracts, so any number of routers can share one store and
 * the bus spreads push and resume requests over them (queue group
 * ROUTER_QUEUE). Gateway → router traffic (presence, beacons, acks) uses
 * the same queue group, so each event is applied once per cluster, not once
 * per router. The price is that two routers may apply one gateway's events
 * out of order; the stores are built to tolerate it (acks are cumulative
 * maxima, an offline before its online leaves a tombstone).
 *
 * Push flow: validate → inbox.append per user (atomic seq + store) →
 * presence lookup → deliveries grouped per gateway, one bus message per
 * gateway (split only when large) → per-user result. Offline users' pushes
 * stay in the inbox and an OfflineNotice goes out on `subjects.offline`.
 */
import { randomUUID } from 'node:crypto';
import { decodeMsg, encodeMsg, type BusMessage, type Subscription } from '../../shared/bus/bus.js';
import { ROUTER_QUEUE } from '../../shared/bus/subjects.js';
import { Errors, LonglinkError } from '../../shared/errors.js';
import { NO_TRACING, type TraceHooks } from '../../shared/trace-hooks.js';
import type { ControlCommand, ResumeReply, ResumeRequest } from '../../shared/bus/messages.js';
import type { AppendResult, InboxEntry } from './inbox.js';
import { DeliveryBatcher } from './delivery-batcher.js';
import { parsePushBody, validatePushRequests, type InputResult, type PushInput, type PushRequest, type ValidPush } from './push-input.js';
import { Lanes } from './lanes.js';
import { ReceiptWaiter, type Receipt } from './receipts.js';
import { QueueExpiredError, WorkQueue } from './work-queue.js';
import { GatewayEvents } from './gateway-events.js';
import type { GatewayBeacon, PresenceEntry, PresenceEvent } from './presence.js';
import { parseAcks, parseBeacon, parsePresenceEvent, parseResumeRequest } from './schemas.js';
import {
  DEFAULT_ROUTER_OPTIONS, bump, newRouterStats, type ClusterView, type ControlOutcome, type ControlRequest, type OfflineNotice,
  type PresenceView, type PushOutcome, type PushResult, type RouterCoreDeps, type RouterCoreOptions, type RouterStats,
} from './router-types.js';

export * from './router-types.js';

/** A recipient's append result and, unless it was a duplicate, where the user is connected. */
type Located = [AppendResult, PresenceEntry[]];

/** Store calls a push issues before yielding the event loop (a maximum batch is 100 × 1,000 recipients). */
const STORE_SLICE = 512;
const yieldTurn = (): Promise<void> => new Promise((r) => { setImmediate(r); });

export class RouterCore {
  readonly stats: RouterStats = newRouterStats();
  readonly options: RouterCoreOptions;
  private readonly lanes = new Lanes();
  private subs: Subscription[] = [];
  private sweepTimer: ReturnType<typeof setInterval> | undefined;
  private started = false;
  private readonly receipts = new ReceiptWaiter();
  /** This process's receipt subject (router instances share everything else). */
  private readonly receiptSubject: string;
  private readonly trace: TraceHooks;
  /** Resume requests from the bus: bounded, and dropped once their gateway stopped waiting. */
  readonly resumeWork: WorkQueue;
  private readonly events: GatewayEvents;
  private readonly deliveries: DeliveryBatcher;

  constructor(private readonly deps: RouterCoreDeps) {
    this.options = { ...DEFAULT_ROUTER_OPTIONS, ...deps.options };
    this.trace = deps.trace ?? NO_TRACING;
    this.resumeWork = new WorkQueue({ concurrency: this.options.resumeConcurrency, maxQueued: this.options.resumeQueue, startWithin: 0.8 }, () => deps.clock.now());
    this.events = new GatewayEvents({
      inbox: deps.inbox, sessions: deps.sessions, presence: deps.presence, subjects: deps.subjects, clock: deps.clock, log: deps.log,
      stats: this.stats, maxResumePushes: this.options.maxResumePushes, trace: this.trace,
      publish: (subject, body) => this.publish(subject, body), store: (op, p) => this.store(op, p),
    });
    this.receiptSubject = deps.subjects.receipts(randomUUID().replace(/-/g, ''));
    this.deliveries = new DeliveryBatcher({
      maxBytes: this.options.maxBusMessageBytes,
      publish: (gw, deliveries) => { if (this.publish(deps.subjects.deliver(gw), { deliveries })) this.stats.deliveryMessages++; },
    });
  }

  /** True between start() and stop(): the HTTP API's /readyz. */
  get ready(): boolean { return this.started; }

  /** Subscribes to the router's bus subjects and starts the presence sweeper. Idempotent. */
  start(): void {
    if (this.started) return;
    this.started = true;
    const { bus, subjects: s } = this.deps;
    const q = { queue: ROUTER_QUEUE };
    this.subs = [
      bus.subscribe(s.presence, (m) => this.onEvent(m, parsePresenceEvent, (ev) => this.applyPresence(ev)), q),
      bus.subscribe(s.beacon, (m) => this.onEvent(m, parseBeacon, (b) => this.applyBeacon(b)), q),
      bus.subscribe(s.acks, (m) => this.onEvent(m, parseAcks, (a) => this.applyAcks(a)), q),
      bus.subscribe(s.resume, (m) => void this.onResume(m), q),
      bus.subscribe(s.push, (m) => void this.onPush(m), q),
      bus.subscribe(this.receiptSubject, (m) => {
        const r = decodeMsg<Receipt>(m.data);
        if (r && typeof r.user === 'string' && Array.isArray(r.seqs)) this.receipts.receive(r);
        else this.stats.busErrors++;
      }),
    ];
    this.sweepTimer = setInterval(() => void this.sweep(), this.options.sweepIntervalMs);
    this.sweepTimer.unref?.();
  }

  stop(): void {
    this.started = false;
    for (const sub of this.subs) sub.unsubscribe();
    this.subs = [];
    if (this.sweepTimer !== undefined) clearInterval(this.sweepTimer);
    this.sweepTimer = undefined;
  }

  // ---- push ------------------------------------------------------------------------

  /** Validates a push body (HTTP or bus wire form) with this router's limits: the edge's only check. */
  parsePush(body: unknown): InputResult<PushInput> {
    return parsePushBody(body, this.options);
  }

  /** A push built in code; throws LonglinkError API_VALIDATION / API_TOO_LARGE (see pushValidated for the rest). */
  push(req: PushRequest): Promise<PushOutcome> {
    return this.pushBatch([req]).then((r) => r[0]!);
  }

  pushBatch(reqs: readonly PushRequest[]): Promise<PushOutcome[]> {
    const v = validatePushRequests(reqs, this.options);
    if (!v.ok) return Promise.reject(new LonglinkError(v.error, v.message));
    return this.pushValidated(v.value);
  }

  /**
   * The push entry (HTTP, bus and in-code callers all end here): deliveries
   * of the whole batch are grouped per gateway. Throws STORE_UNAVAILABLE
   * (some recipients may have been stored: retry with the same idempotency
   * key to be safe).
   * Traced as `longlink.router.push` (child of the API request's span): the deliveries' publish spans hang off it.
   */
  pushValidated(pushes: readonly ValidPush[]): Promise<PushOutcome[]> {
    if (!this.trace.enabled) return this.routeBatch(pushes);
    return this.trace.span('longlink.router.push', { attrs: { 'longlink.messages': pushes.length } }, () => this.routeBatch(pushes));
  }

  private async routeBatch(pushes: readonly ValidPush[]): Promise<PushOutcome[]> {
    const ts = this.deps.clock.wallNow();
    const entries = pushes.map((p): InboxEntry => ({ id: p.id ?? randomUUID(), ts, data: p.data }));
    this.stats.pushRequests += pushes.length;
    let total = 0;
    for (const p of pushes) total += p.users.length;
    const users = pushes.length === 1 ? pushes[0]!.users : new Set(pushes.flatMap((p) => p.users));
    // Take the users' lanes at arrival: see Lanes for why this orders publishes by seq.
    const lease = this.lanes.acquire(users);
    try {
      const pending: Array<Promise<Located>> = [];
      // Small pushes issue their store calls now; a big batch issues slices of them, yielding in between (event-loop delay).
      const sliced = total > STORE_SLICE;
      if (!lease.issuable || sliced) await lease.canIssue;
      let n = 0;
      for (let i = 0; i < pushes.length; i++) {
        const p = pushes[i]!, entry = entries[i]!;
        const opts = p.idempotencyKey !== undefined ? { idempotencyKey: p.idempotencyKey } : undefined;
        for (const u of p.users) {
          pending.push(this.locate(u, entry, opts));
          if (sliced && ++n % STORE_SLICE === 0) await yieldTurn();
        }
      }
      lease.issued();
      const located = await this.store('append', Promise.all(pending));
      await lease.ready;
      const outcomes = this.route(pushes, entries, located);
      lease.release();
      // Answer once the deliveries are on the bus (coalesced with this turn's other pushes).
      await this.deliveries.published;
      return pushes.some((p) => p.awaitMs !== undefined) ? await this.awaitReceipts(pushes, outcomes) : outcomes;
    } finally {
      lease.release();
    }
  }

  /** Inbox append and presence lookup of one recipient, concurrently (a duplicate's lookup is not used). */
  private locate(user: string, entry: InboxEntry, opts: { idempotencyKey: string } | undefined): Promise<Located> {
    this.stats.presenceLookups++;
    return Promise.all([this.deps.inbox.append(user, entry, opts), this.deps.presence.lookup(user)]);
  }

  /** Turns `sent` into `delivered` or `stored` for pushes that asked to await receipts. */
  private async awaitReceipts(pushes: readonly ValidPush[], outcomes: PushOutcome[]): Promise<PushOutcome[]> {
    await Promise.all(outcomes.map(async (o, i) => {
      if (pushes[i]!.awaitMs === undefined) return;
      await Promise.all(o.results.map(async (r) => {
        if (r.status !== 'sent') return;
        const ok = await r.receipt;
        r.status = ok ? 'delivered' : 'stored';
        bump(this.stats.pushes, r.status);
      }));
      for (const r of o.results) delete r.receipt;
    }));
    return outcomes;
  }

  /** `located` is flat: recipients of pushes[0], then of pushes[1], … */
  private route(pushes: readonly ValidPush[], entries: readonly InboxEntry[], located: readonly Located[]): PushOutcome[] {
    const notices: OfflineNotice[] = [];
    const now = this.trace.enabled;
    let k = 0;
    const outcomes = pushes.map((p, i): PushOutcome => {
      const waitMs = p.awaitMs;
      const results = p.users.map((user): PushResult => {
        const [{ record, duplicate }, where] = located[k++]!;
        const base = { user, seq: record.seq, id: record.id };
        if (duplicate) {
          this.stats.inboxDuplicates++;
          bump(this.stats.pushes, 'duplicate');
          return { ...base, status: 'duplicate', connections: 0 };
        }
        this.stats.inboxAppends++;
        if (where.length === 0) {
          notices.push({ user, seq: record.seq, id: record.id, ts: record.ts });
          bump(this.stats.pushes, 'offline');
          return { ...base, status: 'offline', connections: 0 };
        }
        const receipt = waitMs !== undefined ? this.receiptSubject : undefined;
        const gateway0 = where[0]!.gateway;
        this.deliveries.add(gateway0, user, [record], receipt, now);
        if (where.length > 1) for (const gw of new Set(where.map((e) => e.gateway))) if (gw !== gateway0) this.deliveries.add(gw, user, [record], receipt, now);
        if (waitMs === undefined) bump(this.stats.pushes, 'sent');
        return {
          ...base, status: 'sent', connections: where.length,
          // Registered before the delivery is published (end of this turn), so a fast receipt can't be missed.
          ...(waitMs !== undefined ? { receipt: this.receipts.expect(user, record.seq, waitMs) } : {}),
        };
      });
      return { id: entries[i]!.id, results };
    });
    for (const n of notices) if (this.publish(this.deps.subjects.offline, n)) this.stats.offlineNotices++;
    return outcomes;
  }

  // ---- queries and commands -------------------------------------------------------

  async presenceOf(user: string): Promise<PresenceView> {
    const entries = await this.store('lookup', this.deps.presence.lookup(user));
    this.stats.presenceLookups++;
    return {
      user,
      online: entries.length > 0,
      connections: entries.map((e) => ({ conn: e.conn, device: e.device, gateway: e.gateway, since: e.since })),
    };
  }

  /** Kick or log out a user (or one device) on every gateway holding them. Logout also drops the session(s), so they can't be resumed. */
  async control(cmd: ControlRequest): Promise<ControlOutcome> {
    const all = await this.store('lookup', this.deps.presence.lookup(cmd.user));
    this.stats.presenceLookups++;
    const entries = cmd.device === undefined ? all : all.filter((e) => e.device === cmd.device);
    const gateways = new Set(entries.map((e) => e.gateway));
    const msg: ControlCommand = { type: cmd.type, user: cmd.user, ...(cmd.device !== undefined ? { device: cmd.device } : {}) };
    for (const gw of gateways) this.publish(this.deps.subjects.control(gw), msg);
    if (cmd.type === 'logout') await this.store('sessions', this.deps.sessions.drop(cmd.user, cmd.device));
    this.stats.controls++;
    return { ...msg, gateways: gateways.size, connections: entries.length };
  }

  async cluster(): Promise<ClusterView> {
    return { gateways: await this.store('gateways', this.deps.presence.gateways()) };
  }

  // ---- gateway traffic (bus handlers; public for direct wiring and tests) ---------

  /** Session check and missed pushes. Rejects with STORE_UNAVAILABLE if the stores fail. */
  resume(req: ResumeRequest): Promise<ResumeReply> { return this.events.resume(req); }
  applyPresence(ev: PresenceEvent): Promise<void> { return this.events.applyPresence(ev); }
  applyBeacon(b: GatewayBeacon): Promise<void> { return this.events.applyBeacon(b); }
  applyAcks(acks: ReadonlyArray<readonly [string, string, number]>): Promise<void> { return this.events.applyAcks(acks); }
  /** Deletes dead gateways' entries; runs on a timer after start(). */
  sweep(): Promise<void> { return this.events.sweep(); }

  // ---- bus plumbing -----------------------------------------------------------------

  private onEvent<T>(m: BusMessage, parse: (v: unknown) => T | undefined, apply: (v: T) => Promise<void>): void {
    const v = parse(decodeMsg<unknown>(m.data));
    if (v === undefined) {
      this.stats.busErrors++;
      return;
    }
    apply(v).catch(() => { /* counted and logged by store() */ });
  }

  private async onResume(m: BusMessage): Promise<void> {
    const req = parseResumeRequest(decodeMsg<unknown>(m.data));
    if (!req) {
      this.stats.busErrors++;
      this.reply(m, new LonglinkError(Errors.API_VALIDATION, 'malformed resume request').toJSON());
      return;
    }
    try {
      this.reply(m, await this.resumeWork.run(() => this.resume(req), req.timeoutMs));
    } catch (err) {
      // Expired in the queue: the gateway has given up, nobody would read the answer.
      if (err instanceof QueueExpiredError) return;
      this.reply(m, toLonglinkError(err).toJSON());
    }
  }

  /** Bus push requests take the HTTP body shapes and get the HTTP response bodies back. */
  private async onPush(m: BusMessage): Promise<void> {
    const body = decodeMsg<unknown>(m.data);
    if (body === undefined) {
      this.reply(m, new LonglinkError(Errors.API_BAD_JSON).toJSON());
      return;
    }
    const parsed = this.parsePush(body);
    if (!parsed.ok) {
      this.reply(m, new LonglinkError(parsed.error, parsed.message).toJSON());
      return;
    }
    try {
      const v = parsed.value;
      this.reply(m, v.kind === 'single' ? (await this.pushValidated([v.push]))[0] : { messages: await this.pushValidated(v.pushes) });
    } catch (err) {
      this.reply(m, toLonglinkError(err).toJSON());
    }
  }

  private reply(m: BusMessage, body: unknown): void {
    try {
      this.deps.bus.respond(m, encodeMsg(body));
    } catch (err) {
      this.stats.busErrors++;
      this.deps.log.warn({ err: String(err) }, 'bus reply failed');
    }
  }

  private publish(subject: string, body: unknown): boolean {
    try {
      this.deps.bus.publish(subject, encodeMsg(body));
      return true;
    } catch (err) {
      this.stats.busErrors++;
      this.deps.log.warn({ err: String(err), subject }, 'bus publish failed');
      return false;
    }
  }

  /** Store failures become STORE_UNAVAILABLE (HTTP 503), counted and logged once. */
  private async store<T>(op: string, p: Promise<T>): Promise<T> {
    try {
      return await p;
    } catch (err) {
      if (err instanceof LonglinkError) throw err;
      this.stats.storeErrors++;
      this.deps.log.warn({ op, err: err instanceof Error ? err.message : String(err) }, 'store operation failed');
      throw new LonglinkError(Errors.STORE_UNAVAILABLE, op);
    }
  }
}

function toLonglinkError(err: unknown): LonglinkError {
  return err instanceof LonglinkError ? err : new LonglinkError(Errors.INTERNAL);
}
