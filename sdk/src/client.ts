/**
 * LonglinkClient: the public face of the SDK. It wires the reconnect state
 * machine, one Connection at a time, the smart heartbeat policy with its
 * per-network memory (heartbeat-learning.ts), push delivery (dedup + acks),
 * channels and upstream sends.
 *
 * Platform-neutral: the WebSocket comes from `options.transport`, time from
 * `options.timers`; the browser and node entries fill in defaults. No global
 * state: any number of clients per process.
 */
import type { HelloFrame } from '../../protocol/index.js';
import { LIMITS, checkDeviceId } from '../../protocol/index.js';
import { DEFAULT_BACKOFF, type BackoffConfig } from './backoff.js';
import { Connection } from './connection.js';
import { DEFAULT_DELIVERY, Delivery, type PushMessage } from './delivery.js';
import { Emitter } from './emitter.js';
import { FixedHeartbeatPolicy, MARS_DEFAULTS, SmartHeartbeatPolicy, type SmartHeartbeatConfig } from './heartbeat-policy.js';
import { HeartbeatLearning } from './heartbeat-learning.js';
import { DEFAULT_HEARTBEAT_TIMEOUT_MS, type Beat } from './heartbeat-scheduler.js';
import { staticNetwork, type NetworkEvent, type NetworkMonitor } from './network.js';
import { ReconnectMachine, isTerminal, type ClientState, type LossInfo, type WakeSource } from './reconnect-machine.js';
import { HeartbeatMemory, MemoryStorage } from './storage.js';
import { systemTimers } from './system-timers.js';
import type { Timers } from './timers.js';
import { tokenExpired } from './token.js';
import type { ClientEvents, ClientOptions, ClientStats, HeartbeatOptions, ResumeState, TokenProvider } from './types.js';
import { RequestError, SendError, Upstream } from './upstream.js';
import { Channels, type ChannelMessage } from './channels.js';
import { DEFAULT_TOKEN_REFRESH, TokenRefresher } from './token-refresh.js';

const toError = (e: unknown): Error => (e instanceof Error ? e : new Error(String(e)));
const resumeOf = (session: string, lastSeq: number, epoch: number | undefined): ResumeState => (epoch === undefined ? { session, lastSeq } : { session, lastSeq, epoch });

export class LonglinkClient {
  private readonly events: Emitter<ClientEvents>;
  private readonly timers: Timers;
  private readonly random: () => number;
  private readonly machine: ReconnectMachine;
  private readonly learning: HeartbeatLearning;
  private readonly monitor: NetworkMonitor;
  private readonly delivery: Delivery;
  private readonly upstream: Upstream;
  private readonly refresher: TokenRefresher;
  private readonly channelState: Channels;
  /** A gateway of this client's has spoken channel frames: reconnects may ask it to recover (an older one would close on `recover`). */
  private channelsSpoken = false;
  private readonly tokenProvider: TokenProvider;
  private readonly hbTimeoutMs: number;
  private readonly connectTimeoutMs: number;
  private readonly sendTimeoutMs: number;
  private conn: Connection | undefined;
  private attemptSeq = 0;
  private attemptUsedFreshToken = false;
  private sessionId: string | undefined;
  private unsubscribe: (() => void) | undefined;
  private lastRetryMs: number | undefined;
  private readonly counters = { connects: 0, zombies: 0, heartbeatsSent: 0, heartbeatAcks: 0, lastRttMs: undefined as number | undefined };

  constructor(private readonly opts: ClientOptions) {
    const u = new URL(opts.url); // throws on a malformed URL: a permanent error, not one to retry
    if (u.protocol !== 'ws:' && u.protocol !== 'wss:') throw new TypeError(`url must be ws:// or wss://, got ${u.protocol}`);
    const badDevice = opts.device === undefined ? undefined : checkDeviceId(opts.device);
    if (badDevice !== undefined) throw new TypeError(`device ${badDevice}`);
    this.events = new Emitter<ClientEvents>((err, ev) => { if (ev !== 'error') this.events.emit('error', toError(err)); });
    this.timers = opts.timers ?? systemTimers();
    this.random = opts.random ?? Math.random;
    const hb = opts.heartbeat ?? {};
    this.hbTimeoutMs = hb.timeoutMs ?? DEFAULT_HEARTBEAT_TIMEOUT_MS;
    this.connectTimeoutMs = opts.connectTimeoutMs ?? 15_000;
    this.sendTimeoutMs = opts.sendTimeoutMs ?? 10_000;
    this.monitor = opts.network ?? staticNetwork();
    this.learning = new HeartbeatLearning(
      hb.smart === false ? new FixedHeartbeatPolicy(hb.intervalMs ?? 30_000) : new SmartHeartbeatPolicy(smartConfig(hb), () => this.timers.wallNow()),
      new HeartbeatMemory(opts.storage ?? new MemoryStorage(), opts.storageKey),
      this.monitor.key(),
      {
        interval: (ms) => this.conn?.scheduler.setInterval(ms),
        changed: (e) => this.events.emit('interval', e),
        error: (e) => this.events.emit('error', e),
      },
    );
    this.tokenProvider = typeof opts.token === 'string' ? ((t: string) => () => t)(opts.token) : opts.token;
    this.delivery = new Delivery(
      { ackDelayMs: opts.ackDelayMs ?? DEFAULT_DELIVERY.ackDelayMs, ackBatch: opts.ackBatch ?? DEFAULT_DELIVERY.ackBatch },
      this.timers,
      (p) => this.events.emit('push', p),
      opts.resume?.lastSeq ?? 0,
      opts.resume?.epoch,
      (lost, epoch) => this.events.emit('unrecoverable', { ...lost, newEpoch: epoch }),
    );
    this.sessionId = opts.resume?.session;
    this.channelState = new Channels({
      message: (m) => this.events.emit('channelMessage', m),
      subscribed: (f) => this.events.emit('subscribed', f),
      unsubscribed: (f) => this.events.emit('unsubscribed', f),
      reset: (r) => this.events.emit('channelReset', r),
      resync: (reason) => this.conn?.resync(reason),
      error: (err) => this.events.emit('error', toError(err)),
    }, () => this.timers.now(), opts.resume?.channels ?? []);
    this.channelsSpoken = (opts.resume?.channels?.length ?? 0) > 0;
    this.upstream = new Upstream(this.timers, `c${Math.floor(this.random() * 2 ** 32).toString(36)}-`);
    this.refresher = new TokenRefresher({ ...DEFAULT_TOKEN_REFRESH, ...stripUndefined(opts.tokenRefresh ?? {}) }, {
      timers: this.timers, random: this.random,
      token: async () => await this.tokenProvider({ refresh: true }),
      send: (frame) => this.conn?.sendText(frame),
      error: (err) => this.events.emit('error', err),
    });
    const backoff: BackoffConfig = { ...DEFAULT_BACKOFF, ...stripUndefined(opts.backoff ?? {}) };
    this.machine = new ReconnectMachine(backoff, this.timers, this.random, {
      connect: (refresh) => this.attempt(refresh),
      abort: (reason) => this.dropConnection(reason),
      state: (c) => {
        if (isTerminal(c.to)) this.onTerminal(c.reason);
        this.events.emit('state', c);
      },
      retry: (delayMs) => { this.lastRetryMs = delayMs; },
    });
  }

  // ---- public API ------------------------------------------------------------

  on<K extends keyof ClientEvents>(event: K, fn: (p: ClientEvents[K]) => void): () => void { return this.events.on(event, fn); }
  once<K extends keyof ClientEvents>(event: K, fn: (p: ClientEvents[K]) => void): () => void { return this.events.once(event, fn); }
  off<K extends keyof ClientEvents>(event: K, fn: (p: ClientEvents[K]) => void): void { this.events.off(event, fn); }

  get state(): ClientState { return this.machine.state; }
  get session(): string | undefined { return this.sessionId; }
  /** Highest push seq handed to the app. */
  get lastSeq(): number { return this.delivery.lastSeq; }
  /** The sequence epoch lastSeq belongs to (hello.epoch); undefined until a gateway named one. */
  get epoch(): number | undefined { return this.delivery.epoch; }
  /** Save this (e.g. in sessionStorage) and pass it as `resume` to continue after a restart. */
  get resumeState(): ResumeState | undefined {
    if (this.sessionId === undefined) return undefined;
    const channels = this.channelState.recoverPositions;
    return { ...resumeOf(this.sessionId, this.delivery.lastSeq, this.delivery.epoch), ...(channels.length > 0 ? { channels } : {}) };
  }

  /** Channels the current connection receives (the server decides: token claim, backend calls). */
  get channels(): string[] { return this.channelState.names; }

  /** Handles one channel's messages (in offset order, once each); returns the function that removes the handler. */
  channel(name: string, fn: (m: ChannelMessage) => void): () => void {
    return this.channelState.on(name, fn);
  }

  /** Current heartbeat interval (ms). */
  get heartbeatIntervalMs(): number { return this.learning.intervalMs; }
  get heartbeatStable(): boolean { return this.learning.stable; }
  get network(): string { return this.learning.network; }

  get stats(): ClientStats {
    return {
      state: this.machine.state, attempts: this.machine.attemptsStarted, connects: this.counters.connects, zombies: this.counters.zombies,
      heartbeatsSent: this.counters.heartbeatsSent, heartbeatAcks: this.counters.heartbeatAcks,
      tokenRefreshes: this.refresher.refreshes, tokenRefreshFailures: this.refresher.failures,
      pushes: this.delivery.delivered, duplicates: this.delivery.duplicates, acksSent: this.delivery.acksSent, lastRttMs: this.counters.lastRttMs,
    };
  }

  /** Starts connecting (and keeps the connection up). No-op while connecting or connected. */
  connect(): void {
    if (this.unsubscribe === undefined) this.unsubscribe = this.monitor.subscribe((ev) => this.onNetworkEvent(ev));
    this.machine.start();
  }

  /** Closes for good (until `connect()` again). Pending sends are rejected. */
  close(): void {
    this.machine.stop();
  }

  /** The app learned that the network is available / the page is visible: retry now if disconnected. */
  wake(source: WakeSource = 'app'): void {
    this.machine.wake(source);
  }

  /**
   * The device moved to network `key`. Loads what was learned there; if
   * connected, checks the link at once (old paths usually die silently on a
   * switch); if disconnected, retries now.
   */
  setNetwork(key: string): void {
    const changed = this.learning.switchTo(key);
    if (this.machine.state === 'connected') {
      if (changed) this.conn?.scheduler.check();
    } else {
      this.machine.wake('network');
    }
  }

  /** Upstream message; resolves on the gateway's `sent`. See upstream.ts for the semantics. */
  send(topic: string, data: unknown, opts: { timeoutMs?: number; id?: string } = {}): Promise<void> {
    if (isTerminal(this.machine.state) || this.machine.state === 'idle') {
      return Promise.reject(new SendError('closed', `client is ${this.machine.state}`, opts.id ?? ''));
    }
    return this.upstream.send(topic, data, opts.timeoutMs ?? this.sendTimeoutMs, opts.id);
  }

  /**
   * Upstream request (`send` with `reply: true`): resolves with the backend's
   * reply; rejects with RequestError (`kind`: no-backend, timeout, bad-reply,
   * busy, rejected, unsupported, closed). `timeoutMs` (default 5 s, at most
   * 30 s) is how long the gateway waits for the backend.
   */
  request(topic: string, data: unknown, opts: { timeoutMs?: number; id?: string } = {}): Promise<unknown> {
    if (isTerminal(this.machine.state) || this.machine.state === 'idle') {
      return Promise.reject(new RequestError('closed', `client is ${this.machine.state}`, opts.id ?? ''));
    }
    return this.upstream.request(topic, data, opts.timeoutMs ?? LIMITS.defaultReplyTimeoutMs, opts.id);
  }

  /** Resolves once connected (now, if already). Rejects on a terminal state or after `timeoutMs`. */
  whenConnected(timeoutMs = 30_000): Promise<void> {
    if (this.machine.state === 'connected') return Promise.resolve();
    return new Promise((resolve, reject) => {
      const timer = this.timers.setTimeout(() => { off(); reject(new Error(`not connected within ${timeoutMs} ms`)); }, timeoutMs);
      const off = this.events.on('state', (c) => {
        if (c.to === 'connected') { off(); timer.cancel(); resolve(); }
        else if (isTerminal(c.to)) { off(); timer.cancel(); reject(new Error(`client ${c.to}: ${c.reason}`)); }
      });
    });
  }

  // ---- attempts ----------------------------------------------------------------

  private attempt(refresh: boolean): void {
    const id = ++this.attemptSeq;
    this.attemptUsedFreshToken = refresh;
    const prepare = async (): Promise<string> => {
      await this.learning.ready();
      const token = await this.tokenProvider({ refresh });
      if (refresh || !tokenExpired(token, this.timers.wallNow())) return token;
      // Already expired (a browser would only see 1006 for the gateway's 401): ask for a fresh one now.
      if (id === this.attemptSeq) this.attemptUsedFreshToken = true;
      return await this.tokenProvider({ refresh: true });
    };
    const fail = (err: Error): void => {
      this.events.emit('error', err);
      this.machine.lost({ code: 1006, reason: `token provider failed: ${err.message}`, tokenError: true });
    };
    // A provider that never settles must not leave the client connecting forever.
    const timer = this.timers.setTimeout(() => {
      if (id !== this.attemptSeq || this.machine.state !== 'connecting') return;
      this.attemptSeq++; // whatever the provider returns later is stale
      fail(new Error(`no token within ${this.connectTimeoutMs} ms`));
    }, this.connectTimeoutMs);
    prepare().then(
      (token) => {
        timer.cancel();
        if (id === this.attemptSeq && this.machine.state === 'connecting') this.open(token);
      },
      (err: unknown) => {
        timer.cancel();
        if (id === this.attemptSeq && this.machine.state === 'connecting') fail(toError(err));
      },
    );
  }

  private open(token: string): void {
    const resume = this.resumeState;
    const conn: Connection = new Connection(
      {
        url: this.opts.url, token, tokenIn: this.opts.tokenIn ?? 'protocol', device: this.opts.device, hbMs: this.learning.intervalMs,
        resume, connectTimeoutMs: this.connectTimeoutMs, heartbeatTimeoutMs: this.hbTimeoutMs,
        ...(this.channelsSpoken ? { recover: this.channelState.recoverPositions.slice(0, LIMITS.maxRecoverChannels) } : {}),
      },
      this.opts.transport, this.timers, this.random,
      {
        hello: (f) => { if (this.conn === conn) this.onHello(conn, f); },
        push: (f) => { if (this.conn === conn) this.delivery.receive({ seq: f.seq, id: f.id, ts: f.ts, data: f.data, ...(f.epoch !== undefined ? { epoch: f.epoch } : {}) }); },
        undecodable: (p, reason) => {
          if (this.conn === conn && this.delivery.skip(p.seq, p.epoch)) this.events.emit('pushError', { seq: p.seq, id: p.id, reason });
        },
        sent: (f) => { if (this.conn === conn) this.upstream.onSent(f); },
        reply: (f) => { if (this.conn === conn) this.upstream.onReply(f); },
        refreshed: (f) => { if (this.conn === conn) this.refresher.answered(f); },
        pub: (f) => { if (this.conn === conn) this.channelState.onPub(f); },
        subscribed: (f) => { if (this.conn === conn) { this.channelsSpoken = true; this.channelState.onSubscribed(f); } },
        unsubscribed: (f) => { if (this.conn === conn) this.channelState.onUnsubscribed(f); },
        heartbeatAck: (f, beat, rtt) => { if (this.conn === conn) this.onHeartbeatAck(f.intervalMs, f.unread, beat, rtt); },
        beatSent: (b) => {
          this.counters.heartbeatsSent++;
          this.events.emit('heartbeat', { kind: b.kind, intervalMs: b.intervalMs });
        },
        lost: (info, beat) => { if (this.conn === conn) this.onLost(info, beat); },
      },
    );
    this.conn = conn;
    conn.start();
  }

  private onHello(conn: Connection, f: HelloFrame): void {
    this.sessionId = f.session;
    if (f.epoch !== undefined) {
      // A different epoch: the server lost the sequence our lastSeq is from. It says what could
      // not be recovered when we named our epoch (f.lost); otherwise we know it ourselves.
      const had = this.delivery.adopt(f.epoch);
      const lost = f.lost ?? had;
      if (lost !== undefined) this.events.emit('unrecoverable', { epoch: lost.epoch, afterSeq: lost.afterSeq, newEpoch: f.epoch });
    } else if (!f.resumed && f.seq < this.delivery.lastSeq) {
      // An older gateway without epochs: a sequence behind ours was reset.
      this.delivery.rebase();
    }
    this.learning.setBounds(f.hb.minMs, f.hb.maxMs);
    conn.scheduler.start(this.learning.intervalMs, f.hb.intervalMs);
    this.counters.connects++;
    this.delivery.attach((seq) => conn.sendAck(seq));
    this.upstream.attach((frame) => conn.sendText(frame));
    if (this.opts.tokenRefresh?.enabled !== false) this.refresher.start(f.tokenExpiresInMs);
    this.machine.opened();
    if (this.conn !== conn) return; // a state listener closed the client
    this.events.emit('connected', {
      session: f.session, resumed: f.resumed, gateway: f.gateway, conn: f.conn, intervalMs: this.learning.intervalMs, serverSeq: f.seq,
    });
  }

  private onHeartbeatAck(serverMs: number | undefined, unread: number | undefined, beat: Beat | undefined, rttMs: number): void {
    this.counters.heartbeatAcks++;
    this.counters.lastRttMs = rttMs;
    this.learning.answered(beat);
    if (serverMs !== undefined && serverMs !== this.conn?.scheduler.currentIntervalMs) this.conn?.scheduler.setInterval(serverMs);
    if (unread !== undefined) this.events.emit('unread', { count: unread });
    this.events.emit('heartbeatAck', { rttMs, kind: beat?.kind });
  }

  private onLost(info: LossInfo, beat: Beat | undefined): void {
    this.conn = undefined;
    this.channelState.detach();
    this.refresher.stop();
    this.delivery.detach();
    this.upstream.detach();
    if (info.zombie) this.counters.zombies++;
    this.learning.lost(info, beat);
    this.lastRetryMs = undefined;
    const d = this.machine.lost({ ...info, usedFreshToken: this.attemptUsedFreshToken });
    this.events.emit('disconnected', {
      code: info.code, reason: info.reason, zombie: info.zombie === true,
      ...(d?.kind === 'terminal' ? { terminal: d.state } : this.lastRetryMs !== undefined ? { retryInMs: this.lastRetryMs } : {}),
    });
  }

  private dropConnection(reason: string): void {
    const c = this.conn;
    this.conn = undefined;
    this.refresher.stop();
    this.delivery.flush();
    this.delivery.detach();
    this.upstream.detach();
    c?.dispose(1000, reason.slice(0, 120));
  }

  private onTerminal(reason: string): void {
    this.attemptSeq++;
    this.upstream.rejectAll(`client stopped: ${reason}`);
    this.unsubscribe?.();
    this.unsubscribe = undefined;
  }

  // ---- networks ------------------------------------------------------------------

  private onNetworkEvent(ev: NetworkEvent): void {
    if (ev === 'online' || ev === 'visible') this.machine.wake(ev);
    else if (ev === 'network') this.setNetwork(this.monitor.key());
  }
}

function smartConfig(hb: HeartbeatOptions): SmartHeartbeatConfig {
  const c: SmartHeartbeatConfig = { ...MARS_DEFAULTS };
  for (const k of Object.keys(MARS_DEFAULTS) as Array<keyof SmartHeartbeatConfig>) {
    const v = hb[k];
    if (v !== undefined) c[k] = v;
  }
  return c;
}

function stripUndefined<T extends object>(o: T): Partial<T> {
  return Object.fromEntries(Object.entries(o).filter(([, v]) => v !== undefined)) as Partial<T>;
}

export type { PushMessage };
