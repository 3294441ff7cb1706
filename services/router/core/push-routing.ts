/**
 * The delivery half of the push path: once a request's recipients are
 * stored and located (router-core.ts), this turns each answer into the
 * recipient's result, a delivery to every gateway holding the user
 * (coalesced per gateway per event-loop turn, delivery-batcher.ts) or an
 * offline notice, and answers the request once its deliveries are on their
 * way (awaiting receipts when it asked to: receipts.ts).
 *
 * Per-user order: the core calls in here in seq order per user (lanes.ts),
 * and deliveries to one gateway leave in the order they were added.
 */
import { bump } from '../../shared/stats.js';
import type { PushRecord } from '../../shared/bus/messages.js';
import type { InboxEntry } from './inbox.js';
import type { Located } from './push-store.js';
import { DeliveryBatcher } from './delivery-batcher.js';
import type { ValidPush } from './push-input.js';
import { CHECK_EVERY, bulkBudget } from './turn-budget.js';
import type { RouterOutbound } from './ports.js';
import { NO_BACKEND_EVENTS, type BackendEvents, type PushOfflineData } from './backend-events.js';
import { settleReceipts, type ReceiptWaiter } from './receipts.js';
import type { OfflineNotice, PushOutcome, PushResult, RouterStats } from './router-types.js';

/** What routing one request's recipients collects and needs (one per request). */
export interface RouteContext {
  notices: OfflineNotice[];
  traced: boolean;
  /** Deliveries to a gateway in this process leave at once (the in-turn path, pushNow). */
  inProcess: boolean;
  /** Some delivery waits for the end of the turn's flush: the answer waits for it too (DeliveryBatcher.published). */
  queued: boolean;
  events: BackendEvents;
  offlineEvents: boolean;
}

export interface PushRoutingDeps {
  out: RouterOutbound;
  stats: RouterStats;
  receipts: ReceiptWaiter;
  /** Largest bus message a gateway's coalesced deliveries may make. */
  maxBusMessageBytes: number;
  events?: BackendEvents;
}

/** `located(k)`: recipient k's answer, counting recipients of pushes[0], then of pushes[1], … */
export type LocatedAt = (k: number) => Located;

export class PushRouting {
  private readonly deliveries: DeliveryBatcher;

  constructor(private readonly deps: PushRoutingDeps) {
    this.deliveries = new DeliveryBatcher({
      maxBytes: deps.maxBusMessageBytes,
      publish: (gw, deliveries) => { if (deps.out.deliver(gw, deliveries)) deps.stats.deliveryMessages++; },
      flushed: () => deps.out.delivered?.(),
    });
  }

  context(traced: boolean, inProcess: boolean): RouteContext {
    const events = this.deps.events ?? NO_BACKEND_EVENTS;
    return { notices: [], traced, inProcess, queued: false, events, offlineEvents: events.wants('push.offline') };
  }

  /**
   * The answer, once the deliveries are on their way: at once when none
   * waits for the turn's flush (all handed to an in-process gateway, or
   * none), else with the turn's other pushes (coalesced per gateway). Pushes
   * that await receipts then wait for them (receipts.ts settleReceipts).
   */
  answer(pushes: readonly ValidPush[], outcomes: PushOutcome[], ctx: RouteContext): Promise<PushOutcome[]> {
    const a = this.answerNow(pushes, outcomes, ctx);
    return Array.isArray(a) ? Promise.resolve(a) : a;
  }

  /**
   * answer() without a promise when nothing waits (no delivery queued for
   * the turn's flush, no receipts awaited): the outcomes themselves. The
   * in-turn path (the core's pushSettled) answers its request in the same
   * call then, not a microtask later.
   */
  answerNow(pushes: readonly ValidPush[], outcomes: PushOutcome[], ctx: RouteContext): PushOutcome[] | Promise<PushOutcome[]> {
    let awaits = false;
    for (let i = 0; i < pushes.length && !awaits; i++) awaits = pushes[i]!.awaitMs !== undefined;
    if (!ctx.queued && !awaits) return outcomes;
    const sent = ctx.queued ? this.deliveries.published : Promise.resolve();
    return awaits ? sent.then(() => settleReceipts(pushes, outcomes, this.deps.stats.pushes)) : sent.then(() => outcomes);
  }

  /**
   * Results, deliveries and offline notices of a request small enough to
   * route in one go (the core's pushNow, and routeBatch below BULK).
   */
  routeInTurn(pushes: readonly ValidPush[], entries: readonly InboxEntry[], located: LocatedAt, ctx: RouteContext): PushOutcome[] {
    const outcomes: PushOutcome[] = new Array<PushOutcome>(pushes.length);
    let k = 0;
    for (let i = 0; i < pushes.length; i++) {
      const p = pushes[i]!;
      const results: PushResult[] = new Array<PushResult>(p.users.length);
      for (let j = 0; j < p.users.length; j++) results[j] = this.routeOne(p, p.users[j]!, located(k++), ctx);
      outcomes[i] = { id: entries[i]!.id, results };
    }
    this.publishNotices(ctx);
    return outcomes;
  }

  /**
   * routeInTurn for a big batch, as the turn budget allows (results,
   * deliveries, offline notices), yielding in between: a maximum batch has
   * 100,000 recipients, and routing them in one go blocked the process for
   * hundreds of milliseconds. The caller holds the users' lanes throughout,
   * so seq order per user is kept.
   */
  async routePaced(pushes: readonly ValidPush[], entries: readonly InboxEntry[], located: LocatedAt, ctx: RouteContext): Promise<PushOutcome[]> {
    const outcomes: PushOutcome[] = [];
    let k = 0, sinceCheck = 0;
    for (let i = 0; i < pushes.length; i++) {
      const p = pushes[i]!;
      const results: PushResult[] = new Array<PushResult>(p.users.length);
      for (let j = 0; j < p.users.length; j++) {
        results[j] = this.routeOne(p, p.users[j]!, located(k++), ctx);
        if (++sinceCheck === CHECK_EVERY) {
          sinceCheck = 0;
          // Published as they come, so their cost counts against the budget too.
          this.publishNotices(ctx);
          if (bulkBudget.spent()) await bulkBudget.pace();
        }
      }
      outcomes.push({ id: entries[i]!.id, results });
    }
    this.publishNotices(ctx);
    return outcomes;
  }

  private routeOne(p: ValidPush, user: string, loc: Located, ctx: RouteContext): PushResult {
    const { stats, out, receipts } = this.deps;
    const { appended: { record, duplicate }, entries: where } = loc;
    if (duplicate) {
      stats.inboxDuplicates++;
      bump(stats.pushes, 'duplicate');
      return { user, seq: record.seq, id: record.id, status: 'duplicate', connections: 0 };
    }
    stats.inboxAppends++;
    if (where.length === 0) {
      ctx.notices.push(record.epoch !== undefined
        ? { user, seq: record.seq, id: record.id, ts: record.ts, epoch: record.epoch }
        : { user, seq: record.seq, id: record.id, ts: record.ts });
      if (ctx.offlineEvents) ctx.events.emit('push.offline', { user, seq: record.seq, id: record.id, ts: record.ts } satisfies PushOfflineData, record.data);
      bump(stats.pushes, 'offline');
      return { user, seq: record.seq, id: record.id, status: 'offline', connections: 0 };
    }
    const waitMs = p.awaitMs;
    let result: PushResult;
    if (waitMs === undefined) {
      bump(stats.pushes, 'sent');
      result = { user, seq: record.seq, id: record.id, status: 'sent', connections: where.length };
    } else {
      // Before the delivery can leave (a traced or in-process one leaves at once): the ack receipt must find this
      // router listening, and the receipts are registered so that a fast one can't be missed.
      if (p.awaitFor === 'acked') out.awaitingAck?.();
      result = {
        user, seq: record.seq, id: record.id, status: 'sent', connections: where.length,
        receipt: receipts.expect(user, record.seq, waitMs),
        ...(p.awaitFor === 'acked' ? { ackReceipt: receipts.expectAck(user, record.seq, waitMs) } : {}),
      };
    }
    const receipt = waitMs !== undefined ? out.receiptAddress : undefined;
    const gateway0 = where[0]!.gateway;
    this.deliver(gateway0, user, record, receipt, ctx);
    if (where.length > 1) for (const gw of new Set(where.map((e) => e.gateway))) if (gw !== gateway0) this.deliver(gw, user, record, receipt, ctx);
    return result;
  }

  /** Queued for the turn's flush, or (traced; an in-process gateway on the in-turn path) published at once. */
  private deliver(gateway: string, user: string, record: PushRecord, receipt: string | undefined, ctx: RouteContext): void {
    const now = ctx.traced || (ctx.inProcess && this.deps.out.deliversInProcess?.(gateway) === true);
    if (this.deliveries.add(gateway, user, record, receipt, now)) ctx.queued = true;
  }

  private publishNotices(ctx: RouteContext): void {
    for (const n of ctx.notices) if (this.deps.out.offline(n)) this.deps.stats.offlineNotices++;
    ctx.notices.length = 0;
  }
}
