/**
 * The Bus contract (bus.ts) over NATS core, using the v3 client
 * (@nats-io/transport-node). With nats-messages.ts (headers, messages and
 * request errors translated) it is the only bus module that touches NATS:
 * the rest of Longlink sees `Bus` plus the connection state exposed here for
 * readiness probes and metrics.
 *
 * Mapping and the reasons behind it:
 *  - Bus headers (one string per key) ↔ NATS headers. Keys keep their case;
 *    a key sent twice by a foreign publisher reads back as its first value.
 *    The client trims values and rejects `\r`/`\n` in values and `:`,
 *    spaces or control characters in keys (publish throws for those).
 *  - Handlers run on the client's socket-read path: in 3.4.0 a throw there
 *    ends the client's read loop and the connection stalls silently (no
 *    status event; flush never resolves), so every handler call is wrapped:
 *    sync throws and rejected promises are counted and logged (throttled).
 *  - request(): over nats-requests.ts (deadlines a stalled process does not
 *    miss by itself, shared/deadline.ts; the client's handling of denied
 *    reply subscriptions and request publishes kept); a timeout →
 *    BusTimeoutError, the no-responders status (server 503) →
 *    BusNoRespondersError, a permissions violation (reply inbox subscribe
 *    or request publish denied) → BusPermissionError at once.
 *    Other failures propagate as the client's errors: ClosedConnectionError
 *    (closed while waiting, or called once close() began: not sent).
 *  - Reconnection is unlimited (maxReconnectAttempts -1) with jitter, so a
 *    cluster node dying or entering lame-duck mode moves the client to
 *    another node; subscriptions are re-sent by the client on reconnect.
 *
 * Publishing while disconnected: unlike nats.js v2/nats.go (reconnectBufSize),
 * the v3 client does NOT keep what was published while disconnected: it
 * resets its outbound buffer on every dial attempt. So this adapter holds
 * those publishes itself (held-publishes.ts: at most `maxPendingEvents` messages and
 * `maxPendingBytes` bytes, dropping the oldest beyond that, counted) and
 * replays them in order once reconnected. Publishes that were already
 * written to the dying socket are lost: delivery stays at-most-once.
 * A request() made while disconnected waits for the reconnect within its own
 * timeout instead of being published into the void.
 *
 * One socket write per event-loop turn: publishes are queued and handed to
 * the client together at the end of the turn (turn-queue.ts says why and
 * what it guarantees), where they leave in one write. Order is kept:
 * subscribe, unsubscribe, request, flush and close hand the queue over
 * first, so the server sees every operation in the order it was made. What
 * can fail synchronously still throws from publish() (header values, a
 * payload over the server's max_payload, an empty subject); a handover that
 * fails later (the connection closed in between) is counted in `errors` and
 * logged.
 */
import { ClosedConnectionError, connect, type Msg, type MsgHdrs, type NatsConnection, type Status, type Subscription as NatsSubscription } from '@nats-io/transport-node';
import { BusTimeoutError, type Bus, type BusMessage, type Headers, type Subscription } from './bus.js';
import { HeldPublishes, type Held } from './held-publishes.js';
import { NatsRequests } from './nats-requests.js';
import { mapRequestError, toBusMessage, toNatsHeaders } from './nats-messages.js';
import type { NatsBusCounters, NatsBusEvent, NatsBusOptions, NatsBusStatus } from './nats-bus-types.js';
import { TurnQueue } from './turn-queue.js';

export type { NatsBusCounters, NatsBusEvent, NatsBusOptions, NatsBusStatus } from './nats-bus-types.js';

const HANDLER_LOG_EVERY_MS = 10_000;

interface Queued { subject: string; data: Uint8Array; headers: Headers | undefined; nats: MsgHdrs | undefined }

export async function connectNatsBus(opts: NatsBusOptions): Promise<NatsBus> {
  if (opts.servers.length === 0) throw new RangeError('connectNatsBus: servers must not be empty');
  const nc = await connect({
    servers: opts.servers,
    name: opts.name,
    maxReconnectAttempts: -1,
    reconnectTimeWait: opts.reconnectTimeWaitMs ?? 2000,
    reconnectJitter: opts.reconnectJitterMs ?? 1000,
    pingInterval: opts.pingIntervalMs ?? 20_000,
    maxPingOut: 2,
    timeout: opts.connectTimeoutMs ?? 5000,
    // Otherwise every request() captures a stack trace up front (an Error per
    // session start, in case it times out): 2-4 % of a gateway's CPU during a
    // reconnect storm (bench:storm --cpu-prof). Our timeouts name their call.
    noAsyncTraces: true,
  });
  return new NatsBus(nc, opts);
}

export class NatsBus implements Bus {
  private state: NatsBusStatus = 'connected';
  private closing = false;
  private closePromise: Promise<void> | undefined;
  private readonly listeners = new Set<(e: NatsBusEvent) => void>();
  private readonly connectWaiters = new Set<() => void>();
  private readonly held: HeldPublishes;
  private readonly requests: NatsRequests;
  private readonly statusLoop: Promise<void>;
  private readonly c: NatsBusCounters = {
    reconnects: 0, disconnects: 0, reconnectAttempts: 0, lameDuckNotices: 0, errors: 0, handlerErrors: 0,
    bufferedWhileDisconnected: 0, droppedWhileDisconnected: 0, replayedAfterReconnect: 0, droppedAfterClose: 0,
  };

  /** Publishes of this turn, handed to the client together (see the file comment). */
  private readonly turn = new TurnQueue<Queued>((q) => this.deliver(q));
  private lastHandoverLog = 0;

  /** Use connectNatsBus(); the constructor takes an already connected client. */
  constructor(private readonly nc: NatsConnection, private readonly opts: NatsBusOptions) {
    this.requests = new NatsRequests(nc);
    this.held = new HeldPublishes(opts.maxPendingEvents ?? 10_000, opts.maxPendingBytes ?? 8 * 1024 * 1024, () => { this.c.droppedWhileDisconnected++; });
    // status() must be called now: the client only queues events for iterators that exist.
    this.statusLoop = this.watch(nc.status());
    void nc.closed().then((err) => {
      if (err) opts.log.error({ err, name: opts.name }, 'NATS connection closed with an error');
      this.setClosed();
    });
    opts.log.info({ server: nc.getServer(), name: opts.name }, 'connected to NATS');
  }

  get status(): NatsBusStatus {
    return this.state;
  }

  /** host:port of the server the client is connected to, or undefined while not connected. */
  get server(): string | undefined {
    return this.state === 'connected' ? this.nc.getServer() : undefined;
  }

  /** The client itself, for JetStream adapters (the webhook queue); core traffic goes through this Bus. */
  get connection(): NatsConnection {
    return this.nc;
  }

  /** What is currently held for replay after a reconnect. */
  get pendingWhileDisconnected(): { messages: number; bytes: number } {
    return { messages: this.held.messages, bytes: this.held.byteCount };
  }

  counters(): Readonly<NatsBusCounters> {
    return { ...this.c };
  }

  /** Client traffic totals (bytes/messages in and out). */
  traffic(): { inBytes: number; outBytes: number; inMsgs: number; outMsgs: number } {
    return this.nc.stats();
  }

  /** Listens to connection events; returns a function that removes the listener. */
  onStatus(cb: (e: NatsBusEvent) => void): () => void {
    this.listeners.add(cb);
    return () => this.listeners.delete(cb);
  }

  publish(subject: string, data: Uint8Array, headers?: Headers): void {
    if (this.closing || this.state === 'closed') { this.c.droppedAfterClose++; return; }
    if (this.state === 'reconnecting') {
      this.handOver(); // held after what this turn queued before the disconnect
      this.hold({ subject, data, headers, size: subject.length + data.length });
      return;
    }
    // What the client would refuse is refused now, where the caller can see it.
    if (subject.length === 0 || /\s/.test(subject)) throw new TypeError(`invalid subject "${subject}"`);
    const nats = headers ? toNatsHeaders(headers) : undefined;
    const max = this.nc.info?.max_payload;
    if (max !== undefined && data.length > max) throw new RangeError(`payload of ${data.length} bytes over the server's max_payload (${max})`);
    this.turn.push({ subject, data, headers, nats });
  }

  /** Hands this turn's publishes over now: before an operation that must not overtake them, or for a publisher done for the turn (Bus.handOver). */
  handOver(): void {
    this.turn.flush();
  }

  /** Gives queued publishes to the client (connected) or to the held queue (reconnecting), in order. */
  private deliver(q: Queued[]): void {
    for (const m of q) {
      if (this.state === 'closed') { this.c.droppedAfterClose++; continue; }
      if (this.state === 'reconnecting') { this.hold({ subject: m.subject, data: m.data, headers: m.headers, size: m.subject.length + m.data.length }); continue; }
      try {
        this.nc.publish(m.subject, m.data, m.nats ? { headers: m.nats } : undefined);
      } catch (err) {
        this.c.errors++;
        const now = Date.now();
        if (now - this.lastHandoverLog >= HANDLER_LOG_EVERY_MS) {
          this.lastHandoverLog = now;
          this.opts.log.warn({ err, subject: m.subject }, 'NATS publish failed at handover');
        }
      }
    }
  }

  subscribe(subject: string, handler: (msg: BusMessage) => void, opts?: { queue?: string }): Subscription {
    if (this.closing || this.state === 'closed') {
      this.opts.log.warn({ subject }, 'subscribe on a closed NATS bus ignored');
      return { unsubscribe: () => undefined };
    }
    this.handOver(); // publishes made before this subscription reach the server before it
    let active = true;
    let lastLog = 0;
    let suppressed = 0;
    const failed = (err: unknown): void => {
      this.c.handlerErrors++;
      const now = Date.now();
      if (now - lastLog < HANDLER_LOG_EVERY_MS) { suppressed++; return; }
      this.opts.log.error({ err, subject, suppressed }, 'bus handler failed');
      [lastLog, suppressed] = [now, 0];
    };
    const sub: NatsSubscription = this.nc.subscribe(subject, {
      ...(opts?.queue !== undefined ? { queue: opts.queue } : {}),
      callback: (err: Error | null, m: Msg) => {
        if (err) { this.c.errors++; this.opts.log.error({ err, subject }, 'NATS subscription error'); return; }
        if (!active) return;
        try {
          const r: unknown = handler(toBusMessage(m));
          if (r instanceof Promise) r.catch(failed);
        } catch (e) {
          failed(e);
        }
      },
    });
    return {
      unsubscribe: () => {
        if (!active) return;
        active = false;
        this.handOver();
        try { sub.unsubscribe(); } catch { /* closed with the connection: nothing to undo */ }
      },
    };
  }

  async request(subject: string, data: Uint8Array, opts: { timeoutMs: number; headers?: Headers }): Promise<BusMessage> {
    const started = Date.now();
    if (this.shuttingDown()) throw new ClosedConnectionError();
    if (this.state === 'reconnecting' && !(await this.waitConnected(opts.timeoutMs))) {
      // Closed while it waited: say so (a timeout would read as a slow backend).
      if (this.shuttingDown()) throw new ClosedConnectionError();
      throw new BusTimeoutError(subject, opts.timeoutMs);
    }
    const remaining = Math.max(1, opts.timeoutMs - (Date.now() - started));
    this.handOver();
    try {
      const m = await this.requests.request(subject, data, remaining, opts.headers ? toNatsHeaders(opts.headers) : undefined);
      return toBusMessage(m);
    } catch (err) {
      throw mapRequestError(err, subject, opts.timeoutMs);
    }
  }

  respond(to: BusMessage, data: Uint8Array, headers?: Headers): void {
    if (to.reply !== undefined) this.publish(to.reply, data, headers);
  }

  /**
   * Resolves once the server has seen everything published so far (a PING/PONG
   * round trip). While disconnected it waits for the reconnect (held publishes
   * are replayed first), so callers wanting a bound should race it with a timer.
   * After close() it resolves at once: close() already flushed.
   */
  async flush(): Promise<void> {
    while (!this.closing && this.state !== 'closed') {
      if (this.state === 'reconnecting') {
        await this.waitConnected(Number.POSITIVE_INFINITY);
        continue;
      }
      this.handOver();
      try {
        await this.nc.flush();
        return;
      } catch {
        // The PONG was lost to a disconnect (or close): loop decides which.
        if (this.state === 'connected' && !this.closing) await new Promise<void>((r) => setImmediate(r));
      }
    }
  }

  /**
   * Drains (unsubscribe, let in-flight messages reach handlers, flush
   * publishes) then closes; bounded by drainTimeoutMs. Held publishes that
   * never found a server are dropped and counted. Idempotent.
   */
  close(): Promise<void> {
    this.closePromise ??= this.doClose();
    return this.closePromise;
  }

  private async doClose(): Promise<void> {
    this.handOver(); // what was published before close() is drained with the rest
    this.closing = true;
    if (this.state === 'connected' && !this.nc.isClosed()) {
      let timer: NodeJS.Timeout | undefined;
      const limit = new Promise<void>((r) => { timer = setTimeout(r, this.opts.drainTimeoutMs ?? 5000); });
      try {
        await Promise.race([this.nc.drain(), limit]);
      } catch (err) {
        this.opts.log.warn({ err }, 'NATS drain failed; closing');
      } finally {
        clearTimeout(timer);
      }
    }
    if (!this.nc.isClosed()) await this.nc.close();
    await this.statusLoop;
    this.setClosed();
  }

  private hold(h: Held): void {
    this.c.bufferedWhileDisconnected++;
    this.held.push(h);
  }

  private replayHeld(): void {
    for (const h of this.held.take()) {
      try {
        this.nc.publish(h.subject, h.data, h.headers ? { headers: toNatsHeaders(h.headers) } : undefined);
        this.c.replayedAfterReconnect++;
      } catch (err) {
        this.c.droppedWhileDisconnected++;
        this.opts.log.warn({ err, subject: h.subject }, 'could not replay a publish held while disconnected');
      }
    }
  }

  /** close() began (requests are refused from then on, not sent). */
  private shuttingDown(): boolean {
    return this.closing || this.state === 'closed';
  }

  /** Resolves true once connected, false on timeout or close. */
  private waitConnected(timeoutMs: number): Promise<boolean> {
    if (this.state === 'connected') return Promise.resolve(true);
    if (this.shuttingDown()) return Promise.resolve(false);
    return new Promise<boolean>((resolve) => {
      const done = (): void => { clearTimeout(timer); this.connectWaiters.delete(done); resolve(this.state === 'connected'); };
      const timer = Number.isFinite(timeoutMs) ? setTimeout(done, timeoutMs) : undefined;
      this.connectWaiters.add(done);
    });
  }

  private wakeWaiters(): void {
    for (const w of [...this.connectWaiters]) w();
  }

  private setClosed(): void {
    if (this.state === 'closed') return;
    this.state = 'closed';
    this.requests.close(new ClosedConnectionError());
    this.c.droppedAfterClose += this.held.take().length;
    this.wakeWaiters();
  }

  private async watch(events: AsyncIterable<Status>): Promise<void> {
    for await (const s of events) {
      try { this.onClientStatus(s); } catch (err) { this.opts.log.error({ err }, 'NATS status handling failed'); }
    }
  }

  private onClientStatus(s: Status): void {
    const log = this.opts.log;
    switch (s.type) {
      case 'disconnect':
        this.c.disconnects++;
        if (this.state === 'connected') this.state = 'reconnecting';
        log.warn({ server: s.server }, 'disconnected from NATS; reconnecting');
        return this.emit({ type: 'disconnect', status: this.state, server: s.server });
      case 'reconnecting':
        this.c.reconnectAttempts++;
        return this.emit({ type: 'reconnecting', status: this.state });
      case 'reconnect':
        this.c.reconnects++;
        if (this.state !== 'closed') this.state = 'connected';
        log.info({ server: s.server, held: this.pendingWhileDisconnected.messages }, 'reconnected to NATS');
        if (!this.closing) this.replayHeld();
        this.wakeWaiters();
        return this.emit({ type: 'reconnect', status: this.state, server: s.server });
      case 'ldm':
        // The server will close us during its lame-duck window and we reconnect
        // elsewhere then; leaving now would make every client move at once.
        this.c.lameDuckNotices++;
        log.warn({ server: s.server }, 'NATS server entered lame duck mode; will reconnect elsewhere when it lets go');
        return this.emit({ type: 'ldm', status: this.state, server: s.server });
      case 'error':
        this.c.errors++;
        this.requests.publishDenied(s.error); // a denied request publish fails its call now, not at its deadline
        log.error({ err: s.error }, 'NATS error');
        return this.emit({ type: 'error', status: this.state, error: s.error });
      case 'staleConnection':
        this.c.errors++;
        log.warn({}, 'NATS connection stale (PINGs unanswered); reconnecting');
        return this.emit({ type: 'stale', status: this.state });
      case 'update':
        log.debug({ added: s.added, deleted: s.deleted }, 'NATS cluster membership changed');
        return this.emit({ type: 'update', status: this.state });
      case 'close':
        this.setClosed();
        return this.emit({ type: 'close', status: 'closed' });
      default:
        return; // ping, slowConsumer (iterators only), forceReconnect: nothing to do
    }
  }

  private emit(e: NatsBusEvent): void {
    for (const cb of [...this.listeners]) {
      try { cb(e); } catch (err) { this.opts.log.error({ err, event: e.type }, 'NATS status listener failed'); }
    }
  }
}
