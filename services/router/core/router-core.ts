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
 * Push flow: validated once at the edge (push-input.ts) → per recipient,
 * inbox.append (atomic seq + store) and presence lookup issued together →
 * routed (push-routing.ts): deliveries coalesced per gateway per event-loop
 * turn (delivery-batcher.ts) → per-user result. Offline users' pushes stay in the inbox and an
 * OfflineNotice goes out. A big batch (validation, store calls, routing,
 * answer) runs as the process's per-turn budget for bulk work allows
 * (turn-budget.ts), yielding the event loop in between.
 */
import { randomUuid } from '../../shared/uuid.js';
import { LonglinkError } from '../../shared/errors.js';
import type { Logger } from '../../shared/log.js';
import type { Clock } from '../../shared/clock.js';
import { NO_TRACING, type TraceHooks } from '../../shared/trace-hooks.js';
import type { AckEvent, ControlCommand, DeliveryReceipt } from '../../shared/bus/messages.js';
import type { InboxEntry } from './inbox.js';
import { composePushStore, type Located, type PushStore } from './push-store.js';
import { PushRouting } from './push-routing.js';
import { readInbox, type InboxQuery, type InboxView } from './inbox-history.js';
import { parsePushBody, parsePushBodyPaced, validatePushRequests, type InputResult, type PushInput, type ValidPush } from './push-input.js';
import { Lanes } from './lanes.js';
import { CHECK_EVERY, bulkBudget } from './turn-budget.js';
import { SettledBatch } from './settled-batch.js';
import type { RouterOutbound } from './ports.js';
import type { BackendEvents } from './backend-events.js';
import { ReceiptWaiter } from './receipts.js';
import type { StoreCall } from './store-call.js';
import type { StoreDeps } from './store-deps.js';
import {
  type ClusterView, type ControlOutcome, type ControlRequest, type PresenceView, type PushOutcome, type PushRequest,
  type RouterCoreOptions, type RouterStats,
} from './router-types.js';

export * from './router-types.js';

export interface RouterCoreDeps extends StoreDeps {
  out: RouterOutbound;
  /** Append + lookup in one step; by default the inbox and presence calls (StoreDeps), issued together. */
  pushStore?: PushStore;
  clock: Clock;
  log: Logger;
  stats: RouterStats;
  options: RouterCoreOptions;
  /** Tracing (services/shared/tracing.ts); NO_TRACING by default. */
  trace?: TraceHooks;
  /** Backend events (webhooks): push.offline. None by default. */
  events?: BackendEvents;
}

/** Pushes with more recipients than this are bulk work: paced by the per-turn budget (turn-budget.ts); smaller ones run in one go. */
const BULK = 512;
/**
 * Store calls of one batch awaiting their answer at most (the batch issues
 * more as answers come back). Also what bounds one turn that the turn
 * budget cannot: the client parses a socket read of answers at once and every
 * answer's continuations run before the loop moves on. A Redis answer here is
 * ~25 bytes, so with 4,096 in flight per batch (three batches at once) one
 * 64 KB read could settle ~2,600 recipients in one turn; at 512 a turn
 * settles at most 512 per batch in flight, and Redis still has hundreds of
 * commands queued per round trip (docs/benchmarks.md).
 */
const MAX_IN_FLIGHT = 512;

/** The store's options for one message's appends. */
const storeOpts = (p: ValidPush): { idempotencyKey: string } | undefined => (p.idempotencyKey !== undefined ? { idempotencyKey: p.idempotencyKey } : undefined);

export class RouterCore {
  readonly stats: RouterStats;
  readonly options: RouterCoreOptions;
  private readonly lanes = new Lanes();
  private readonly receipts = new ReceiptWaiter();
  private readonly trace: TraceHooks;
  private readonly store: StoreCall;
  private readonly routing: PushRouting;
  private readonly pushStore: PushStore;

  constructor(private readonly deps: RouterCoreDeps) {
    this.options = deps.options;
    this.stats = deps.stats;
    this.store = deps.store;
    this.trace = deps.trace ?? NO_TRACING;
    this.pushStore = deps.pushStore ?? composePushStore(deps.inbox, deps.presence);
    this.routing = new PushRouting({
      out: deps.out, stats: deps.stats, receipts: this.receipts, maxBusMessageBytes: this.options.maxBusMessageBytes, ...(deps.events ? { events: deps.events } : {}),
    });
  }

  /** A gateway confirmed writing these pushes (deliveries that carried receiptAddress). */
  receipt(r: DeliveryReceipt): void {
    this.receipts.receive(r);
  }

  /** An ack receipt from the acked subject (any router may have applied the ack). */
  ackReceipt(ev: AckEvent): void {
    this.receipts.acked(ev);
  }

  /** Whether a push here awaits an ack (the bus link skips ack events otherwise). */
  get awaitingAcks(): boolean { return this.receipts.awaitingAcks; }

  // ---- push ------------------------------------------------------------------------

  /** Validates a push body (HTTP or bus wire form) with this router's limits: the edge's only check. */
  parsePush(body: unknown): InputResult<PushInput> {
    return parsePushBody(body, this.options);
  }

  /** parsePush for requests: a big batch is validated as the turn budget allows (turn-budget.ts), a message at a time. */
  parsePushPaced(body: unknown): Promise<InputResult<PushInput>> {
    return parsePushBodyPaced(body, this.options, bulkBudget);
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
    if (!this.trace.enabled) {
      const now = this.pushNow(pushes);
      if (now === undefined) return this.routeBatch(pushes);
      return Array.isArray(now) ? Promise.resolve(now) : now;
    }
    return this.trace.span('longlink.router.push', { attrs: { 'longlink.messages': pushes.length } }, () => this.routeBatch(pushes));
  }

  /**
   * pushValidated, answered without a promise when the push was stored and
   * routed in this call and nothing is left to wait for (pushNow, no
   * `await_ms`): the HTTP API then writes its answer in the same turn, with
   * no microtask in between. Same outcomes, errors (a rejected promise) and
   * order as pushValidated.
   */
  pushSettled(pushes: readonly ValidPush[]): PushOutcome[] | Promise<PushOutcome[]> {
    if (this.trace.enabled) return this.pushValidated(pushes);
    return this.pushNow(pushes) ?? this.routeBatch(pushes);
  }

  /**
   * The in-process fast path (standalone mode: the memory push store answers
   * synchronously): a small push whose users no other push holds is stored,
   * looked up and routed in the caller's turn, without lanes, store promises
   * or awaits, and its deliveries to the gateway in this process are handed
   * over at once (after anything queued for it earlier in the turn), so the
   * answer does not wait for the end of the turn. Per-user order holds as on
   * the general path: appends happen in arrival order and deliveries leave
   * in that order; a user held by an unfinished push (a big batch being
   * stored) sends this one the general way, behind it. Store errors become
   * STORE_UNAVAILABLE through the same StoreCall. Undefined: not eligible,
   * take routeBatch.
   */
  private pushNow(pushes: readonly ValidPush[]): PushOutcome[] | Promise<PushOutcome[]> | undefined {
    const now = this.pushStore.appendAndLookupNow;
    if (now === undefined || pushes.length > 1) return undefined;
    const p = pushes[0];
    if (p === undefined || p.users.length > BULK || this.lanes.anyHeld(p.users)) return undefined;
    const entries = this.admit(pushes);
    const entry = entries[0]!, opts = storeOpts(p);
    const located: Located[] = new Array<Located>(p.users.length);
    try {
      for (let j = 0; j < p.users.length; j++) {
        this.stats.presenceLookups++;
        located[j] = now.call(this.pushStore, p.users[j]!, entry, opts);
      }
    } catch (err) {
      // Some recipients may be stored (as on the general path): the caller retries with its idempotency key.
      return this.store('append', Promise.reject(err instanceof Error ? err : new Error(String(err))));
    }
    const ctx = this.routing.context(false, this.deps.out.deliversInProcess !== undefined);
    return this.routing.answerNow(pushes, this.routing.routeInTurn(pushes, entries, (k) => located[k]!, ctx), ctx);
  }

  private async routeBatch(pushes: readonly ValidPush[]): Promise<PushOutcome[]> {
    const entries = this.admit(pushes);
    let total = 0;
    for (const p of pushes) total += p.users.length;
    const bulk = total > BULK;
    // Take the users' lanes at arrival, in one step (a maximum batch's 100,000 in about a millisecond): see Lanes for why this orders publishes by seq.
    const lease = this.lanes.acquireLists(pushes.map((p) => p.users));
    try {
      const pending: Array<Promise<Located>> = [];
      // A big batch keeps its answers as numbers as they arrive (settled-batch.ts: young garbage, short scavenges).
      const msgOf = bulk ? new Uint32Array(total) : undefined;
      const settled = msgOf ? new SettledBatch(total, (k) => entries[msgOf[k]!]!) : undefined;
      // Small pushes issue their store calls now; a big batch issues them as the turn budget allows (event-loop delay).
      if (!lease.issuable || bulk) await lease.canIssue;
      let n = 0;
      for (let i = 0; i < pushes.length; i++) {
        const p = pushes[i]!, entry = entries[i]!;
        const opts = storeOpts(p);
        for (const u of p.users) {
          if (!settled) { pending.push(this.locate(u, entry, opts)); continue; }
          msgOf![n] = i;
          settled.track(n, this.locate(u, entry, opts));
          if (++n % CHECK_EVERY === 0) {
            // Bounded in flight: a store slower than the loop (Redis) would otherwise hold every
            // command, promise and argument of the batch at once, and the GC of that heap stalled the process.
            if (settled.pending >= MAX_IN_FLIGHT) await settled.below(MAX_IN_FLIGHT);
            if (bulkBudget.spent()) await bulkBudget.pace();
          }
        }
      }
      lease.issued();
      let located: (k: number) => Located;
      if (settled) {
        await this.store('append', settled.all());
        located = (k) => settled.located(k);
      } else if (pending.length === 1) {
        // One recipient (the usual API push): its own promise, without a Promise.all around it.
        const one = await this.store('append', pending[0]!);
        located = () => one;
      } else {
        const all = await this.store('append', Promise.all(pending));
        located = (k) => all[k]!;
      }
      if (!lease.isReady) await lease.ready;
      const ctx = this.routing.context(this.trace.enabled, false);
      const outcomes = bulk ? await this.routing.routePaced(pushes, entries, located, ctx) : this.routing.routeInTurn(pushes, entries, located, ctx);
      lease.release();
      return await this.routing.answer(pushes, outcomes, ctx);
    } finally {
      lease.release();
    }
  }

  /** A request's pushes get their inbox entries (one id and timestamp per message, shared by its recipients); counted. */
  private admit(pushes: readonly ValidPush[]): InboxEntry[] {
    const ts = this.deps.clock.wallNow();
    this.stats.pushRequests += pushes.length;
    return pushes.map((p): InboxEntry => ({ id: p.id ?? randomUuid(), ts, data: p.data }));
  }

  /** Inbox append and presence lookup of one recipient: one store step (push-store.ts). */
  private locate(user: string, entry: InboxEntry, opts: { idempotencyKey: string } | undefined): Promise<Located> {
    this.stats.presenceLookups++;
    return this.pushStore.appendAndLookup(user, entry, opts);
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

  /** A bounded page of what the user's inbox holds (inbox-history.ts); rejects with STORE_UNAVAILABLE. */
  inboxOf(q: InboxQuery): Promise<InboxView> {
    return readInbox(this.deps.inbox, this.store, q);
  }

  async cluster(): Promise<ClusterView> {
    return { gateways: await this.store('gateways', this.deps.presence.gateways()) };
  }
}
