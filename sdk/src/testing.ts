/**
 * Test doubles for the SDK's own unit tests and for apps testing code that
 * uses the client: a scripted in-memory transport where the test plays the
 * gateway, plus FakeTimers. Not part of the entries' main surface: import
 * `sdk/src/testing.js` (dist: `dist/sdk/src/testing.js`).
 */
import {
  PROTOCOL_VERSION, decodeClientFrame, encodeHeartbeatAck, encodeJson,
  type ClientFrame, type HeartbeatAckFrame, type HelloFrame,
} from '../../protocol/index.js';
import type { LonglinkClient } from './client.js';
import type { TransportFactory, TransportHandlers, TransportSocket } from './transport.js';
import type { ClientEvents } from './types.js';

export { FakeTimers } from './fake-timers.js';

/** Fakes the gateway end as the SDK sees it: the test plays the server (hello, pushes, closes). */
export class FakeGatewaySocket implements TransportSocket {
  readonly url: URL;
  /** Raw frames the client wrote. */
  readonly sent: Array<string | Uint8Array> = [];
  /** Set when the client closed (gracefully) or terminated the socket. */
  clientClosed: { code: number; reason: string } | undefined;
  terminated = false;
  private ended = false;
  private helloCount = 0;

  constructor(url: string, readonly protocols: string[], private readonly h: TransportHandlers) {
    this.url = new URL(url);
  }

  /** True until the client or the "server" ended it. */
  get live(): boolean { return !this.ended && this.clientClosed === undefined && !this.terminated; }

  // ---- the client side (TransportSocket) ----
  send(data: string | Uint8Array): void {
    if (!this.live) throw new Error('FakeGatewaySocket: send after close');
    this.sent.push(typeof data === 'string' ? data : Uint8Array.from(data));
  }
  close(code: number, reason: string): void { this.clientClosed = { code, reason }; }
  terminate(): void { this.terminated = true; }

  /** Decoded client frames, in order. */
  frames(): ClientFrame[] {
    return this.sent.map((d) => {
      const r = decodeClientFrame(d, typeof d !== 'string');
      if (!r.ok) throw new Error(`client sent an invalid frame: ${r.reason}`);
      return r.frame;
    });
  }
  heartbeats(): Array<{ intervalMs?: number }> {
    return this.frames().filter((f) => f.op === 'heartbeat');
  }
  acks(): number[] {
    return this.frames().flatMap((f) => (f.op === 'ack' ? [f.seq] : []));
  }

  // ---- the "server" side ----
  open(): this { if (this.live) this.h.onOpen('longlink.v1'); return this; }

  hello(over: Omit<Partial<HelloFrame>, 'hb'> & { hb?: Partial<HelloFrame['hb']> } = {}): this {
    this.helloCount++;
    const hbParam = Number(this.url.searchParams.get('hb') ?? '60000');
    const hb = { minMs: 100, maxMs: 3_600_000, intervalMs: hbParam, graceMs: 1000, ...over.hb };
    const f: HelloFrame = {
      op: 'hello', v: PROTOCOL_VERSION, session: this.url.searchParams.get('session') ?? `s${this.helloCount}`, conn: 'c1', gateway: 'gw-test',
      resumed: this.url.searchParams.has('session'), seq: 0, limits: { maxPayload: 65536, ratePerSec: 20, burst: 60 },
      ...over, hb,
    };
    return this.text(encodeJson(f));
  }

  push(seq: number, data: unknown = { n: seq }, id = `m${seq}`, epoch?: number): this {
    return this.text(encodeJson({ op: 'push', seq, id, ts: 1_700_000_000_000 + seq, data, ...(epoch !== undefined ? { epoch } : {}) }));
  }

  heartbeatAck(fields?: Omit<HeartbeatAckFrame, 'op'>): this {
    if (this.live) this.h.onMessage(encodeHeartbeatAck(fields), true);
    return this;
  }

  sentAck(id: string, error?: string): this {
    return this.text(encodeJson(error === undefined ? { op: 'sent', id } : { op: 'sent', id, error }));
  }

  reconnect(delayMs: number): this {
    return this.text(encodeJson({ op: 'reconnect', delayMs, reason: 'draining' }));
  }

  text(s: string): this {
    if (this.live) this.h.onMessage(s, false);
    return this;
  }

  /** The server closes with `code` (a close frame arrived). */
  serverClose(code: number, reason = ''): void { this.end({ code, reason }); }
  /** The TCP connection dropped: 1006, no close frame. */
  drop(): void { this.end({ code: 1006, reason: '' }); }
  /** The upgrade was refused with an HTTP response (as the Node adapter reports it). */
  refuse(httpStatus: number, retryAfterMs?: number, errorCode?: string): void {
    this.end({ code: 1006, reason: `HTTP ${httpStatus}`, httpStatus, ...(retryAfterMs !== undefined ? { retryAfterMs } : {}), ...(errorCode ? { errorCode } : {}) });
  }

  private end(info: Parameters<TransportHandlers['onClose']>[0]): void {
    if (this.ended) return;
    this.ended = true;
    this.h.onClose(info);
  }
}

/** Records every socket the client opens; the test plays the gateway on each. */
export class FakeTransport {
  readonly sockets: FakeGatewaySocket[] = [];
  readonly factory: TransportFactory = (url, protocols, h) => {
    const s = new FakeGatewaySocket(url, protocols, h);
    this.sockets.push(s);
    return s;
  };
  get last(): FakeGatewaySocket {
    const s = this.sockets[this.sockets.length - 1];
    if (s === undefined) throw new Error('FakeTransport: no socket opened yet');
    return s;
  }
  get count(): number { return this.sockets.length; }
}

/** Lets pending promise callbacks run (token provider, storage) under fake timers. */
export async function flushMicrotasks(rounds = 10): Promise<void> {
  for (let i = 0; i < rounds; i++) await Promise.resolve();
}

/**
 * Resolves with the first `event` payload from `client` that satisfies `pred`,
 * or rejects after `timeoutMs` of real time (integration tests: wait for
 * events, never sleep).
 */
export function waitForEvent<K extends keyof ClientEvents>(
  client: Pick<LonglinkClient, 'on'>,
  event: K,
  pred: (p: ClientEvents[K]) => boolean = () => true,
  timeoutMs = 10_000,
  label: string = event,
): Promise<ClientEvents[K]> {
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => { off(); reject(new Error(`timed out after ${timeoutMs} ms waiting for ${label}`)); }, timeoutMs);
    const off = client.on(event, (p) => {
      if (!pred(p)) return;
      off();
      clearTimeout(timer);
      resolve(p);
    });
  });
}
