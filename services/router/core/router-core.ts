/**
 * The router's core: the push path, presence queries and control commands.
 *
 * Stateless by design: everything durable lives behind the Inbox, Sessions
 * and Presence contracts, so any number of routers can share one store and
 * the bus spreads push and resume requests over them. What gateways report
 * (presence, beacons, acks, session starts) is GatewayEvents' job; the bus
 * link (../bus-link.ts) owns every subscription and hands each message to
 * one of the two; both send through RouterOutbound.
 *
 * Push flow: validate → inbox.append per user (atomic seq + store) →
 * presence lookup → deliveries grouped per gateway, one bus message per
 * gateway (split only when large) → per-user result. Offline users' pushes
 * stay in the inbox and an OfflineNotice goes out.
 */
import { randomUUID } from 'node:crypto';
import { Errors, LonglinkError } from '../../shared/errors.js';
import type { Logger } from '../../shared/log.js';
import type { Clock } from '../../shared/clock.js';
import { bump } from '../../shared/stats.js';
import { NO_TRACING, type TraceHooks } from '../../shared/trace-hooks.js';
import type { ControlCommand, Delivery, DeliveryReceipt } from '../../shared/bus/messages.js';
import type { AppendResult, Inbox, InboxEntry, PushRecord } from './inbox.js';
import { Lanes } from './lanes.js';
import type { RouterOutbound } from './ports.js';
import { ReceiptWaiter } from './receipts.js';
import type { Presence, PresenceEntry } from './presence.js';
import type { Sessions } from './sessions.js';
import type { StoreCall } from './store-call.js';
import { checkPushRequest } from '../schemas.js';
import {
  type ClusterView, type ControlOutcome, type ControlRequest, type OfflineNotice, type PresenceView, type PushOutcome, type PushRequest,
  type PushResult, type RouterCoreOptions, type RouterStats,
} from './router-types.js';

export * from './router-types.js';

export interface RouterCoreDeps {
  out: RouterOutbound;
  inbox: Inbox;
  sessions: Sessions;
  presence: Presence;
  clock: Clock;
  log: Logger;
  stats: RouterStats;
  store: StoreCall;
  options: RouterCoreOptions;
  /** Tracing (services/shared/tracing.ts); NO_TRACING by default. */
  trace?: TraceHooks;
}

interface Prepared {
  users: string[];
  entry: InboxEntry;
  idempotencyKey: string | undefined;
  awaitMs: number | undefined;
}

export class RouterCore {
  readonly stats: RouterStats;
  readonly options: RouterCoreOptions;
  private readonly lanes = new Lanes();
  private readonly receipts = new ReceiptWaiter();
  private readonly trace: TraceHooks;
  private readonly store: StoreCall;

  constructor(private readonly deps: RouterCoreDeps) {
    this.options = deps.options;
    this.stats = deps.stats;
    this.store = deps.store;
    this.trace = deps.trace ?? NO_TRACING;
  }

  /** A gateway confirmed writing these pushes (deliveries that carried receiptAddress). */
  receipt(r: DeliveryReceipt): void {
    this.receipts.receive(r);
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
    for (const n of notices) if (this.deps.out.offline(n)) this.stats.offlineNotices++;
    return outcomes;
  }

  /** One bus message per gateway, split only past maxBusMessageBytes so a huge fan-out stays under the bus's payload limit. */
  private deliver(gateway: string, byUser: Map<string, PushRecord[]>, awaited: ReadonlySet<string>): void {
    let batch: Delivery[] = [];
    let size = 0;
    for (const [user, pushes] of byUser) {
      let bytes = user.length + 32;
      for (const p of pushes) bytes += p.data.length + p.id.length + 64;
      if (batch.length > 0 && size + bytes > this.options.maxBusMessageBytes) {
        if (this.deps.out.deliver(gateway, batch)) this.stats.deliveryMessages++;
        batch = [];
        size = 0;
      }
      batch.push(awaited.has(user) ? { user, pushes, receipt: this.deps.out.receiptAddress } : { user, pushes });
      size += bytes;
    }
    if (batch.length > 0 && this.deps.out.deliver(gateway, batch)) this.stats.deliveryMessages++;
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
    for (const gw of gateways) this.deps.out.control(gw, msg);
    if (cmd.type === 'logout') await this.store('sessions', this.deps.sessions.drop(cmd.user, cmd.device));
    this.stats.controls++;
    return { ...msg, gateways: gateways.size, connections: entries.length };
  }

  async cluster(): Promise<ClusterView> {
    return { gateways: await this.store('gateways', this.deps.presence.gateways()) };
  }
}
