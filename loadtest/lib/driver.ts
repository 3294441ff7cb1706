/**
 * What the load tools' session drivers share (ws-driver.ts over `ws`,
 * raw-driver.ts over `net`): their options and end report, where an attempt
 * goes, and DriverBase, the attempt lifecycle both run: idle or waiting →
 * connecting (through the owner's gate) → open → ended, then waiting for the
 * delay the session advises (or idle, or stopped). A driver only moves bytes;
 * the session (protocol-session.ts: the SDK's heartbeat, ack and reconnect
 * rules) decides.
 */
import { connectUrl, subprotocols, type ClientSession, type Ended, type SessionEvent } from './protocol-session.js';

const NOTHING_DUE: { frames: Uint8Array[]; zombie: boolean } = Object.freeze({ frames: Object.freeze([]) as unknown as Uint8Array[], zombie: false });

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

/** What owners use of a driver: ws-driver.ts over `ws`, or raw-driver.ts (lighter, for very many connections per process). */
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

/**
 * The attempt lifecycle of a driver. A subclass opens the socket (open()),
 * calls upgraded() when the handshake succeeded, received() for each whole
 * message, and finish() exactly once when the attempt's socket is gone.
 */
export abstract class DriverBase implements Driver {
  state: DriverState = 'idle';
  /** When the current attempt started, and when its hello arrived (ms, epoch). */
  attemptStartedAt = 0;
  helloAt = 0;
  /**
   * When the session next has something for tick() to do, as of its last call
   * from this driver: its timers and outbox only change inside opened(),
   * receive(), poll() and ended(), which only the driver calls, so a sweep's
   * visit before then skips the poll (a load worker sweeps thousands of idle
   * sessions every 100 ms; late in a storm that sweep was most of its CPU).
   */
  protected wakeAt = Infinity;
  private retryTimer: NodeJS.Timeout | undefined;

  constructor(readonly o: DriverOptions) {}

  get session(): ClientSession { return this.o.session; }

  /** Upgraded and hello received on the current connection. */
  get ready(): boolean { return this.state === 'open' && this.helloAt >= this.attemptStartedAt; }

  /** Starts an attempt now (no-op unless idle or waiting). */
  connect(): void {
    if (this.state !== 'idle' && this.state !== 'waiting') return;
    clearTimeout(this.retryTimer);
    this.retryTimer = undefined;
    this.state = 'connecting';
    this.attemptStartedAt = nowMs();
    if (this.o.gate) this.o.gate(() => { if (this.state === 'connecting') void this.open(); });
    else void this.open();
  }

  /** Closes for good (no reconnect). */
  stop(): void {
    this.state = 'stopped';
    clearTimeout(this.retryTimer);
    this.drop();
  }

  /** Sends what the session has due (acks, heartbeats); closes a zombie connection (it then reconnects). Cheap before `wakeAt`. */
  abstract tick(now: number): void;

  /** The session's frames due at `now` (none before `wakeAt`, without asking it); remembers its next wake-up. */
  protected due(now: number): { frames: Uint8Array[]; zombie: boolean } {
    if (now < this.wakeAt) return NOTHING_DUE;
    const r = this.session.poll(now);
    this.wakeAt = this.session.nextWakeAt();
    return r;
  }
  /** Sends an application frame (tests). */
  abstract send(data: Uint8Array | string): void;
  /** Drops the TCP connection without a close handshake, as a dying network would; the driver then reconnects as advised. */
  abstract drop(): void;

  /** One attempt: token, target, socket. Its end, whatever it is, reaches finish(). */
  protected abstract open(): Promise<void>;

  /** The handshake succeeded. False when the driver stopped meanwhile: the caller drops the socket. */
  protected upgraded(): boolean {
    if (this.state !== 'connecting') return false;
    this.state = 'open';
    this.session.opened(nowMs());
    this.wakeAt = this.session.nextWakeAt();
    this.o.onOpen?.(this);
    return true;
  }

  /** A whole message from the gateway: to the session, then to the owner. */
  protected received(data: Buffer | string): void {
    const e = this.session.receive(data, nowMs());
    this.wakeAt = this.session.nextWakeAt();
    if (e.type === 'hello') this.helloAt = nowMs();
    this.o.onEvent?.(e, this);
  }

  /** The attempt ended: tell the session and the owner, and schedule the next attempt when the session advises one. */
  protected finish(e: Omit<EndInfo, 'delayMs'>): void {
    const stopped = this.state === 'stopped';
    const delay = this.session.ended(e, nowMs());
    this.wakeAt = Infinity;
    const delayMs = stopped || this.o.reconnect === false ? undefined : delay;
    if (!stopped) this.state = delayMs === undefined ? 'idle' : 'waiting';
    this.o.onEnd?.({ ...e, delayMs }, this);
    if (delayMs !== undefined && this.state === 'waiting') this.retryTimer = setTimeout(() => this.connect(), delayMs);
  }
}
