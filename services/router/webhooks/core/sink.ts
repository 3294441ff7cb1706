/**
 * Backend events → webhook jobs: one job per event per endpoint that
 * subscribes to its type, with the Standard Webhooks body
 * `{"type","timestamp","data"}` built once. The push path calls `emit` and
 * never waits: enqueues run in the background, bounded by `outbox` (events
 * handed to the queue and not yet confirmed); beyond it new events are
 * dropped and counted, so a slow or unavailable queue cannot hold up pushes
 * or grow memory without bound. An event about a user is charged to that
 * user's share of the queue (core/share.ts; the queue refuses it past the
 * share, counted as dropped with reason user_share).
 */
import { randomUUID } from 'node:crypto';
import type { Clock } from '../../../shared/clock.js';
import type { Logger } from '../../../shared/log.js';
import type { BackendEvents, BackendEventType } from '../../core/backend-events.js';
import type { WebhookEvent, WebhookQueue } from './queue.js';
import type { WebhookEndpoint, WebhookSettings } from './types.js';
import type { WebhookStats } from './stats.js';
import type { WebhookPoster } from './dispatcher.js';
import { deliveryHeaders } from './signer.js';
import { Errors, LonglinkError } from '../../../shared/errors.js';
import { WebhookShareError } from './share.js';

/** Largest upstream reply a receiver may return (the protocol's reply limit, LIMITS.maxReplyBytes, is checked again by the gateway). */
const MAX_REPLY_BYTES = 64 * 1024;

/** push.offline without its payload (over inlineMaxBytes): its size, and the inbox API path that returns it. */
export interface TooLarge { too_large: true; size: number; fetch?: string }

const LOG_EVERY_MS = 10_000;

export class WebhookSink implements BackendEvents {
  private readonly byType = new Map<BackendEventType, WebhookEndpoint[]>();
  private inFlight = 0;
  private lastLog = -Infinity;
  /** Upstream requests being POSTed: in all, and by user (bounded by settings.upstreamMaxInFlight / upstreamMaxPerUser). */
  private upstreamOpen = 0;
  private readonly upstreamByUser = new Map<string, number>();
  /** Upstream requests refused (LL_UPSTREAM_OVERLOADED), by the cap that was full: longlink_router_upstream_refused_total. */
  readonly upstreamRefused = { router_cap: 0, user_cap: 0 };

  constructor(private readonly o: { settings: WebhookSettings; queue: Pick<WebhookQueue, 'enqueueEvent'>; clock: Clock; log: Logger; stats: WebhookStats; poster: WebhookPoster }) {
    for (const ep of o.settings.endpoints) {
      for (const t of ep.events) {
        const list = this.byType.get(t) ?? [];
        list.push(ep);
        this.byType.set(t, list);
      }
    }
  }

  /** Jobs handed to the queue and not yet confirmed. */
  get pending(): number { return this.inFlight; }

  wants(type: BackendEventType): boolean {
    return this.byType.has(type);
  }

  emit(type: BackendEventType, data: object, payload?: string, chargeTo?: string): void {
    const eps = this.byType.get(type);
    if (eps === undefined) return;
    const now = this.o.clock.wallNow();
    const body = buildBody(type, now, data, payload, this.o.settings.inlineMaxBytes);
    // One webhook-id per event: receivers with several endpoints see the same id for the same event.
    const id = newId();
    // The share key: the user the event is about (channel.occupied / vacated name none: the user whose join or leave made it).
    const user = (data as { user?: unknown }).user;
    const key = typeof user === 'string' ? user : chargeTo;
    this.enqueue({ id, type, createdAt: now, body, key }, eps);
  }

  /** Upstream requests this router is POSTing now. */
  get upstreamInFlight(): number { return this.upstreamOpen; }

  /**
   * An upstream request: POSTed now to the first endpoint taking
   * upstream.message, signed like any delivery, with `reply: true` in its
   * data; not queued and not retried (the client is waiting). A 2xx answer's
   * body is the reply (an empty body means null); anything else, no reply.
   * The POST is aborted once the client stops waiting (`timeoutMs`, the
   * gateway's remaining deadline, at most the attempt limit): a request the
   * gateway already answered with LL_UPSTREAM_TIMEOUT must not hold a socket
   * of the pool every user shares. Beyond the caps on requests in flight
   * (per router, per user) it rejects with UPSTREAM_OVERLOADED, sending nothing.
   */
  async request<T extends { user: string }>(type: 'upstream.message', data: T, timeoutMs?: number): Promise<string | undefined> {
    const ep = this.byType.get(type)?.[0];
    if (ep === undefined) return undefined;
    const { settings } = this.o;
    const user = data.user;
    const mine = this.upstreamByUser.get(user) ?? 0;
    if (this.upstreamOpen >= settings.upstreamMaxInFlight) {
      this.upstreamRefused.router_cap++;
      throw new LonglinkError(Errors.UPSTREAM_OVERLOADED, `${settings.upstreamMaxInFlight} in flight at this router`);
    }
    if (mine >= settings.upstreamMaxPerUser) {
      this.upstreamRefused.user_cap++;
      throw new LonglinkError(Errors.UPSTREAM_OVERLOADED, `${settings.upstreamMaxPerUser} of this user's in flight`);
    }
    const s = this.o.stats.of(ep.name);
    const now = this.o.clock.wallNow();
    // Built before the counters go up: a body that cannot be serialised must not hold a slot for good.
    const body = buildBody(type, now, { ...data, reply: true }, undefined, 0);
    const limit = timeoutMs === undefined ? settings.timeoutMs : Math.max(1, Math.min(timeoutMs, settings.timeoutMs));
    this.upstreamOpen++;
    this.upstreamByUser.set(user, mine + 1);
    try {
      const r = await this.o.poster.post(ep.url, deliveryHeaders(newId(), now / 1000, body, ep.secrets), body, limit, MAX_REPLY_BYTES);
      if (r.status !== undefined && r.status >= 200 && r.status < 300 && !r.tooLong) {
        s.delivered++;
        return r.body === undefined || r.body.trim() === '' ? 'null' : r.body;
      }
      s.failed++;
      return undefined;
    } catch {
      s.failed++;
      return undefined;
    } finally {
      this.upstreamOpen--;
      const left = (this.upstreamByUser.get(user) ?? 1) - 1;
      if (left > 0) this.upstreamByUser.set(user, left); else this.upstreamByUser.delete(user);
    }
  }

  /**
   * The event's copies go to the queue together (its share charged once, WebhookQueue.enqueueEvent); each copy is
   * counted for its endpoint. Past the outbox the remaining copies are dropped, as one by one.
   */
  private enqueue(event: WebhookEvent, eps: readonly WebhookEndpoint[]): void {
    const room = Math.max(0, Math.min(eps.length, this.o.settings.outbox - this.inFlight));
    for (let i = room; i < eps.length; i++) {
      const s = this.o.stats.of(eps[i]!.name);
      s.dropped++;
      s.droppedOutbox++;
      this.warn('webhook outbox full: event dropped', eps[i]!.name, event.type);
    }
    if (room === 0) return;
    const names = eps.slice(0, room).map((ep) => ep.name);
    const copies = this.o.queue.enqueueEvent(event, names);
    this.inFlight += copies.length;
    for (let i = 0; i < copies.length; i++) {
      const s = this.o.stats.of(names[i]!);
      copies[i]!.then(
        () => { this.inFlight--; s.enqueued++; },
        (err: unknown) => {
          this.inFlight--;
          s.dropped++;
          if (err instanceof WebhookShareError) { s.droppedShare++; this.warn('webhook queue share of the user full: event dropped', names[i]!, event.type, err); return; }
          s.droppedQueue++;
          this.warn('webhook enqueue failed: event dropped', names[i]!, event.type, err);
        },
      );
    }
  }

  private warn(msg: string, endpoint: string, type: string, err?: unknown): void {
    const t = this.o.clock.now();
    if (t - this.lastLog < LOG_EVERY_MS) return;
    this.lastLog = t;
    this.o.log.warn({ endpoint, type, ...(err !== undefined ? { err: String(err) } : {}) }, msg);
  }
}

/** For a push (user + seq): the inbox API call that returns just that push (docs/api.md). */
function fetchPath(data: object): { fetch?: string } {
  const { user, seq } = data as { user?: unknown; seq?: unknown };
  if (typeof user !== 'string' || typeof seq !== 'number') return {};
  return { fetch: `/v1/users/${encodeURIComponent(user)}/inbox?since=${seq - 1}&limit=1` };
}

const newId = (): string => 'msg_' + randomUUID().replace(/-/g, '');

/**
 * `{"type":…,"timestamp":ISO,"data":{…}}`. A payload (already-serialised
 * JSON) is spliced in as `data.payload` without parsing it again, or replaced
 * by `too_large` + `size` past `inlineMax` bytes.
 */
export function buildBody(type: string, nowMs: number, data: object, payload: string | undefined, inlineMax: number): string {
  const head = `{"type":${JSON.stringify(type)},"timestamp":"${new Date(nowMs).toISOString()}","data":`;
  if (payload === undefined) return head + JSON.stringify(data) + '}';
  const size = Buffer.byteLength(payload);
  if (size > inlineMax) return head + JSON.stringify({ ...data, too_large: true, size, ...fetchPath(data) } satisfies TooLarge & object) + '}';
  const fields = JSON.stringify(data);
  return head + fields.slice(0, -1) + (fields.length > 2 ? ',' : '') + `"size":${size},"payload":` + payload + '}}';
}
