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
import type { ControlCommand, Delivery, ResumeReply, ResumeRequest } from '../../shared/bus/messages.js';
import type { AppendResult, InboxEntry, PushRecord } from './inbox.js';
import { Lanes } from './lanes.js';
import { ReceiptWaiter, type Receipt } from './receipts.js';
import { QueueExpiredError, WorkQueue } from './work-queue.js';
import { GatewayEvents } from './gateway-events.js';
import type { GatewayBeacon, PresenceEntry, PresenceEvent } from './presence.js';
import { checkPushRequest, parseAcks, parseBeacon, parsePresenceEvent, parsePushBody, parseResumeRequest, type PushRequest } from './schemas.js';
import {
  DEFAULT_ROUTER_OPTIONS, bump, newRouterStats, type ClusterView, type ControlOutcome, type ControlRequest, type OfflineNotice,
  type PresenceView, type PushOutcome, type PushResult, type RouterCoreDeps, type RouterCoreOptions, type RouterStats,
} from './router-types.js';

export * from './router-types.js';

interface Prepared {
  users: string[];
  entry: InboxEntry;
  idempotencyKey: string | undefined;
  awaitMs: number | undefined;
}

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
  private storeFailing = false;

  constructor(private readonly deps: RouterCoreDeps) {
    this.options = { ...DEFAULT_ROUTER_OPTIONS, ...deps.options };
    this.trace = deps.trace ?? NO_TRACING;
    this.resumeWork = new WorkQueue({ concurrency: this.options.resumeConcurrency, maxQueued: this.options.resumeQueue, startWithin: 0.8 }, () => deps.clock.now());
    this.events = new GatewayEvents({
      inbox: deps.inbox, sessions: deps.sessions, presence: deps.presence, subjects: deps.subjects, clock: deps.clock, log: deps.log,
      stats: this.stats, maxResumePushes: this.options.maxResumePushes, // Half a bus message: `data` is JSON inside JSON, and escaping can double it.
      maxResumeBytes: this.options.maxBusMessageBytes / 2, trace: this.trace,
      publish: (subject, body) => this.publish(subject, body), store: (op, p) => this.store(op, p),
    });
    this.receiptSubject = deps.subjects.receipts(randomUUID().replace(/-/g, ''));
  }

  /** True between start() and stop(): the HTTP API's /readyz. */
  /**
   * The HTTP API's /readyz: started, the stores connected, and the last store
   * call succeeded (a hung server keeps its socket, so the status alone
   * misses it; beacons and the sweep keep calling, so this recovers).
   */
  get ready(): boolean { return this.started && !this.storeFailing && (this.deps.storesConnected?.() ?? true); }

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

  push(req: PushRequest): Promise<PushOutcome> {
    return this.pushBatch([req]).then((r) => r[0]!);
  }

  /**
   * Several messages in one go: deliveries of the whole batch are grouped per
   * gateway. Throws LonglinkError API_VALIDATION or API_TOO_LARGE (payload over maxPushBytes; nothing stored) or
   * STORE_UNAVAILABLE (some recipients may have been stored: retry with the
   * same idempotency key to be safe).
   * Traced as `longlink.router.push` (child of the API request's span): the deliveries' publish spans hang off it.
   */
  pushBatch(reqs: readonly PushRequest[]): Promise<PushOutcome[]> {
    if (!this.trace.enabled) return this.routeBatch(reqs);
    return this.trace.span('longlink.router.push', { attrs: { 'longlink.messages': reqs.length } }, () => this.routeBatch(reqs));
  }

  private async routeBatch(reqs: readonly PushRequest[]): Promise<PushOutcome[]> {
    const prepared = reqs.map((r, i) => this.prepare(r, reqs.length > 1 ? `messages[${i}].` : ''));
    this.stats.pushRequests += prepared.length;
    const users = new Set<string>();
    for (const p of prepared) for (const u of p.users) users.add(u);
    // Take the users' lanes and start every append synchronously: see Lanes for why this orders publishes by seq.
    const lease = this.lanes.acquire(users);
    try {
      const pending = prepared.map((p) => p.users.map((u) => this.deps.inbox.append(u, p.entry, p.idempotencyKey !== undefined ? { idempotencyKey: p.idempotencyKey } : undefined)));
      const appended = await this.store('append', Promise.all(pending.map((a) => Promise.all(a))));
      const fresh = new Set<string>();
      prepared.forEach((p, i) => p.users.forEach((u, j) => { if (!appended[i]![j]!.duplicate) fresh.add(u); }));
      const where = new Map<string, PresenceEntry[]>();
      await this.store('lookup', Promise.all([...fresh].map(async (u) => { where.set(u, await this.deps.presence.lookup(u)); })));
      this.stats.presenceLookups += fresh.size;
      await lease.ready;
      const outcomes = this.route(prepared, appended, where);
      lease.release();
      return prepared.some((p) => p.awaitMs !== undefined) ? await this.awaitReceipts(prepared, outcomes) : outcomes;
    } finally {
      lease.release();
    }
  }

  /** Turns `sent` into `delivered` or `stored` for pushes that asked to await receipts. */
  private async awaitReceipts(prepared: Prepared[], outcomes: PushOutcome[]): Promise<PushOutcome[]> {
    await Promise.all(outcomes.map(async (o, i) => {
      const ms = prepared[i]!.awaitMs;
      if (ms === undefined) return;
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

  private prepare(req: PushRequest, where: string): Prepared {
    const r = checkPushRequest(req, this.options);
    if (!r.ok) throw new LonglinkError(Errors.API_VALIDATION, where === '' ? r.message : r.message.replace(/^|; /g, (m) => `${m}${where}`));
    let data: string | undefined;
    try {
      data = JSON.stringify(r.value.data);
    } catch {
      data = undefined;
    }
    if (data === undefined) throw new LonglinkError(Errors.API_VALIDATION, `${where}data: must be a JSON value`);
    const bytes = Buffer.byteLength(data);
    if (bytes > this.options.maxPushBytes) {
      throw new LonglinkError(Errors.API_TOO_LARGE, `${where}data: serialised size ${bytes} bytes exceeds the ${this.options.maxPushBytes}-byte limit`);
    }
    return {
      users: [...new Set(r.value.users)],
      entry: { id: r.value.id ?? randomUUID(), ts: this.deps.clock.wallNow(), data },
      idempotencyKey: r.value.idempotencyKey,
      awaitMs: r.value.awaitMs,
    };
  }

  private route(prepared: Prepared[], appended: AppendResult[][], where: Map<string, PresenceEntry[]>): PushOutcome[] {
    const perGateway = new Map<string, Map<string, PushRecord[]>>();
    /** Users whose deliveries carry this router's receipt subject. */
    const awaited = new Set<string>();
    const notices: OfflineNotice[] = [];
    const outcomes = prepared.map((p, i): PushOutcome => {
      const results = p.users.map((user, j): PushResult => {
        const { record, duplicate } = appended[i]![j]!;
        const base = { user, seq: record.seq, id: record.id };
        if (duplicate) {
          this.stats.inboxDuplicates++;
          bump(this.stats.pushes, 'duplicate');
          return { ...base, status: 'duplicate', connections: 0 };
        }
        this.stats.inboxAppends++;
        const entries = where.get(user) ?? [];
        if (entries.length === 0) {
          notices.push({ user, seq: record.seq, id: record.id, ts: record.ts });
          bump(this.stats.pushes, 'offline');
          return { ...base, status: 'offline', connections: 0 };
        }
        for (const gw of new Set(entries.map((e) => e.gateway))) {
          let byUser = perGateway.get(gw);
          if (!byUser) perGateway.set(gw, (byUser = new Map()));
          const list = byUser.get(user);
          if (list) list.push(record);
          else byUser.set(user, [record]);
        }
        const waitMs = p.awaitMs;
        if (waitMs === undefined) bump(this.stats.pushes, 'sent');
        else awaited.add(user);
        return {
          ...base, status: 'sent', connections: entries.length,
          // Registered before the delivery is published, so a fast receipt can't be missed.
          ...(waitMs !== undefined ? { receipt: this.receipts.expect(user, record.seq, waitMs) } : {}),
        };
      });
      return { id: p.entry.id, results };
    });
    for (const [gw, byUser] of perGateway) this.deliver(gw, byUser, awaited);
    for (const n of notices) if (this.publish(this.deps.subjects.offline, n)) this.stats.offlineNotices++;
    return outcomes;
  }

  /** One bus message per gateway, split only past maxBusMessageBytes so a huge fan-out stays under the bus's payload limit. */
  private deliver(gateway: string, byUser: Map<string, PushRecord[]>, awaited: ReadonlySet<string>): void {
    const subject = this.deps.subjects.deliver(gateway);
    let batch: Delivery[] = [];
    let size = 0;
    for (const [user, pushes] of byUser) {
      let bytes = user.length + 32;
      for (const p of pushes) bytes += p.data.length + p.id.length + 64;
      if (batch.length > 0 && size + bytes > this.options.maxBusMessageBytes) {
        if (this.publish(subject, { deliveries: batch })) this.stats.deliveryMessages++;
        batch = [];
        size = 0;
      }
      batch.push(awaited.has(user) ? { user, pushes, receipt: this.receiptSubject } : { user, pushes });
      size += bytes;
    }
    if (batch.length > 0 && this.publish(subject, { deliveries: batch })) this.stats.deliveryMessages++;
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
    const parsed = parsePushBody(body, this.options);
    if (!parsed.ok) {
      this.reply(m, new LonglinkError(Errors.API_VALIDATION, parsed.message).toJSON());
      return;
    }
    try {
      const v = parsed.value;
      this.reply(m, v.kind === 'single' ? await this.push(v.request) : { messages: await this.pushBatch(v.requests) });
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
      const v = await p;
      this.storeFailing = false;
      return v;
    } catch (err) {
      if (err instanceof LonglinkError) throw err;
      this.storeFailing = true;
      this.stats.storeErrors++;
      this.deps.log.warn({ op, err: err instanceof Error ? err.message : String(err) }, 'store operation failed');
      throw new LonglinkError(Errors.STORE_UNAVAILABLE, op);
    }
  }
}

function toLonglinkError(err: unknown): LonglinkError {
  return err instanceof LonglinkError ? err : new LonglinkError(Errors.INTERNAL);
}
