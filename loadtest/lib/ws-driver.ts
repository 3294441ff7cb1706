/**
 * Node driver for protocol-session.ts: one `ws` socket at a time per
 * ClientSession, from an optional loopback source address. It feeds frames to
 * the session, sends what the session's `poll()` returns when the owner calls
 * `tick()` (one sweep over many drivers instead of a timer per socket), and,
 * when asked to, reconnects with resume after the delay the session picks
 * (backoff with full jitter, drain delay, Retry-After of a 503).
 */
import WebSocket from 'ws';
import { refusalWait } from '../../sdk/src/backoff.js';
import { connectUrl, subprotocols, type ClientSession, type Ended, type SessionEvent } from './protocol-session.js';

export const nowMs = (): number => performance.timeOrigin + performance.now();

export interface EndInfo extends Ended {
  /** The socket had opened (hello or not) before it ended. */
  wasOpen: boolean;
  /** Client-side error text (ECONNREFUSED, handshake timeout…), if any. */
  error?: string;
  /** The close frame's reason text, when the server sent one. */
  closeReason?: string;
  /** Delay before the next attempt, or undefined when not reconnecting. */
  delayMs: number | undefined;
}

export interface DriverOptions {
  /** Gateway URL for the next attempt (`ws://host:port/ws`); a function lets the owner balance or fail over. */
  url: string | (() => string);
  token: string | (() => string | Promise<string>);
  tokenIn?: 'subprotocol' | 'query';
  device?: string;
  /** Ask for channel frames (`channels=1`, docs/protocol.md §13). */
  channels?: boolean;
  localAddress?: string;
  session: ClientSession;
  /** Reconnect (with resume) after an unplanned end, as the session advises. Default true. */
  reconnect?: boolean;
  connectTimeoutMs?: number;
  onEvent?: (e: SessionEvent, d: Driver) => void;
  /**
   * raw-driver.ts only: sees every whole data message first (`buf[start, end)`,
   * opcode 1 text / 2 binary; the buffer is reused after the call) and returns
   * true when it consumed it, so the session never decodes it. A load
   * generator's lean path for frames it only counts (bench:fanout's pub
   * frames, pub-scan.ts); anything it returns false for goes to the session.
   */
  intercept?: (opcode: number, buf: Buffer, start: number, end: number, d: Driver) => boolean;
  onOpen?: (d: Driver) => void;
  onEnd?: (e: EndInfo, d: Driver) => void;
  /**
   * Runs the socket creation of an attempt. A load generator passes a queue
   * here: a loopback connect() runs the TCP handshake inside the syscall, so
   * thousands at once would stall its event loop (and every other
   * connection's heartbeat timing) for seconds.
   */
  gate?: (start: () => void) => void;
}

export type DriverState = 'idle' | 'connecting' | 'open' | 'waiting' | 'stopped';

/** Where one attempt goes: the handshake URL (resume, heartbeat and token query built by the session) and the subprotocols to offer. */
export interface AttemptTarget { url: string; protocols: string[] }

/**
 * The start every driver's attempt shares: fetch the token (a fresh one per
 * attempt when `token` is a function), then build the URL and subprotocols
 * from the session's state. Undefined when `live()` turned false while the
 * token was awaited (the driver was stopped meanwhile).
 */
export async function attemptTarget(o: DriverOptions, live: () => boolean): Promise<AttemptTarget | { error: string } | undefined> {
  let token: string;
  try { token = typeof o.token === 'string' ? o.token : await o.token(); }
  catch (err) { return { error: `token: ${String(err)}` }; }
  if (!live()) return undefined;
  const base = typeof o.url === 'string' ? o.url : o.url();
  const inSub = (o.tokenIn ?? 'subprotocol') === 'subprotocol';
  const url = connectUrl(base, o.session.connectParams({
    token, tokenIn: inSub ? 'subprotocol' : 'query', device: o.device, channels: o.channels,
  }));
  return { url, protocols: subprotocols(inSub ? token : undefined) };
}

/** What owners use of a driver: this one over `ws`, or raw-driver.ts (lighter, for very many connections per process). */
export interface Driver {
  readonly state: DriverState;
  readonly attemptStartedAt: number;
  readonly helloAt: number;
  readonly ready: boolean;
  readonly session: ClientSession;
  connect(): void;
  tick(now: number): void;
  send(data: Uint8Array | string): void;
  drop(): void;
  stop(): void;
}

export class SessionDriver implements Driver {
  state: DriverState = 'idle';
  /** When the current attempt started, and when its hello arrived (ms, epoch). */
  attemptStartedAt = 0;
  helloAt = 0;
  private ws: WebSocket | undefined;
  private retryTimer: NodeJS.Timeout | undefined;

  constructor(readonly o: DriverOptions) {}

  get session(): ClientSession { return this.o.session; }

  /** Upgraded and hello received on the current connection. */
  get ready(): boolean { return this.state === 'open' && this.helloAt >= this.attemptStartedAt; }

  /** Starts an attempt now (no-op unless idle or waiting). */
  connect(): void {
    if (this.state !== 'idle' && this.state !== 'waiting') return;
    clearTimeout(this.retryTimer);
    this.state = 'connecting';
    this.attemptStartedAt = nowMs();
    if (this.o.gate) this.o.gate(() => { if (this.state === 'connecting') void this.open(); });
    else void this.open();
  }

  private async open(): Promise<void> {
    const target = await attemptTarget(this.o, () => this.state === 'connecting');
    if (target === undefined) return;
    if ('error' in target) { this.finish({ wasOpen: false, error: target.error }); return; }
    const ws = new WebSocket(target.url, target.protocols, {
      perMessageDeflate: false, handshakeTimeout: this.o.connectTimeoutMs ?? 10_000,
      ...(this.o.localAddress !== undefined ? { localAddress: this.o.localAddress } : {}),
    });
    this.ws = ws;
    ws.binaryType = 'nodebuffer';
    let done = false;
    let opened = false;
    let lastError: string | undefined;
    const end = (e: Omit<EndInfo, 'delayMs' | 'wasOpen'>): void => {
      if (done) return;
      done = true;
      if (this.ws === ws) this.ws = undefined;
      this.finish({ ...e, wasOpen: opened });
    };
    ws.on('unexpected-response', (req, res) => {
      // The SDK's own parser (delta-seconds or HTTP-date), as its Node transport reads it.
      const first = (h: string | string[] | undefined): string | undefined => (Array.isArray(h) ? h[0] : h);
      const wait = refusalWait(first(res.headers['retry-after']), first(res.headers['retry-after-ms']), Date.now());
      res.resume();
      req.destroy();
      end({ status: res.statusCode ?? 0, ...(wait ?? {}) });
    });
    ws.on('open', () => {
      opened = true;
      if (this.state !== 'connecting') { ws.terminate(); return; }
      this.state = 'open';
      this.session.opened(nowMs());
      this.o.onOpen?.(this);
    });
    ws.on('message', (data: Buffer, isBinary: boolean) => {
      const e = this.session.receive(isBinary ? data : data.toString('utf8'), nowMs());
      if (e.type === 'hello') this.helloAt = nowMs();
      this.o.onEvent?.(e, this);
    });
    ws.on('error', (err) => { lastError = err.message.slice(0, 100); });
    ws.on('close', (code, reason: Buffer) => end({ ...(opened ? { closeCode: code } : {}), ...(opened && reason.length > 0 ? { closeReason: reason.toString('utf8').slice(0, 80) } : {}),
      ...(lastError !== undefined ? { error: lastError } : {}) }));
  }

  private finish(e: Omit<EndInfo, 'delayMs'>): void {
    const stopped = this.state === 'stopped';
    const delay = this.session.ended(e, nowMs());
    const delayMs = stopped || this.o.reconnect === false ? undefined : delay;
    if (!stopped) this.state = delayMs === undefined ? 'idle' : 'waiting';
    this.o.onEnd?.({ ...e, delayMs }, this);
    if (delayMs !== undefined && this.state === 'waiting') {
      this.retryTimer = setTimeout(() => this.connect(), delayMs);
    }
  }

  /** Sends what the session has due (acks, heartbeats); closes a zombie connection (it then reconnects). */
  tick(now: number): void {
    if (this.state !== 'open' || !this.ws) return;
    const { frames, zombie } = this.session.poll(now);
    if (zombie) { this.ws.terminate(); return; }
    for (const f of frames) this.ws.send(f);
  }

  /** Sends an application frame (tests). */
  send(data: Uint8Array | string): void {
    this.ws?.send(data, { binary: typeof data !== 'string' });
  }

  /** Drops the TCP connection without a close handshake, as a dying network would; the driver then reconnects as advised. */
  drop(): void {
    this.ws?.terminate();
  }

  /** Closes for good (no reconnect). */
  stop(): void {
    this.state = 'stopped';
    clearTimeout(this.retryTimer);
    this.ws?.terminate();
  }
}
