/**
 * k6 side of the Longlink load scripts: environment, HS256 tokens minted in
 * the script, custom metrics, and `K6Connection`, which wires one
 * `k6/websockets` WebSocket to a ClientSession from
 * ../lib/protocol-session.ts (the same protocol logic the Node load
 * generator and CI's tests run), and `rampClients`, the clients scenario the
 * scripts share (VU slicing, a linear ramp of staggered starts, one end),
 * with `clientsAndSender` and `apiPost` for scripts that also call the
 * router's API at a fixed rate. Needs k6 ≥ 1.0 (stable k6/websockets);
 * run the bundles `npm run build:k6` writes to dist/k6/.
 *
 * k6's WebSocket takes no subprotocol list, so the token travels in the
 * `access_token` query parameter; a v1 gateway accepts a connection that
 * offers no subprotocol (docs/protocol.md §2.1).
 */
import exec from 'k6/execution';
import { sleep } from 'k6';
import http from 'k6/http';
import type { Options } from 'k6/options';
import { WebSocket } from 'k6/websockets';
import { setTimeout, clearTimeout, type TimeoutID } from 'k6/timers';
import { hmac } from 'k6/crypto';
import { b64encode } from 'k6/encoding';
import { Counter, Rate, Trend } from 'k6/metrics';
import { ClientSession, connectUrl, toArrayBuffer, type SessionEvent } from '../lib/protocol-session.ts';
import type { RetryPolicy } from '../lib/retry-policy.ts';

// ---- environment ------------------------------------------------------------------------

export function envStr(name: string, def: string): string {
  const v = __ENV[name];
  return v === undefined || v === '' ? def : v;
}
export function envNum(name: string, def: number): number {
  const v = Number(envStr(name, String(def)));
  if (!Number.isFinite(v)) throw new Error(`${name} must be a number`);
  return v;
}

/** Gateway URLs (comma-separated LONGLINK_URL); VU n uses URL n mod count, or a balancer's single URL. */
export const URLS = envStr('LONGLINK_URL', 'ws://127.0.0.1:8080/ws').split(',').map((s) => s.trim()).filter((s) => s !== '');
export const API = envStr('LONGLINK_API', 'http://127.0.0.1:8081');
export const API_KEY = envStr('LONGLINK_API_KEY', '');
export const SECRET = envStr('LONGLINK_JWT_SECRET', '');
export const USER_PREFIX = envStr('USER_PREFIX', 'k6-');
export const HB_MS = envNum('HB_MS', 30_000);

export function urlFor(n: number): string {
  return URLS[n % URLS.length]!;
}

// ---- tokens ------------------------------------------------------------------------------

const b64url = (s: string): string => b64encode(s, 'rawurl');

/** HS256 JWT for `user` signed with LONGLINK_JWT_SECRET (docs/protocol.md §3). */
export function mintToken(user: string, ttlS = 3600, channels?: string[]): string {
  if (SECRET === '') throw new Error('set LONGLINK_JWT_SECRET (the gateways\' HS256 secret) so the script can mint client tokens');
  const now = Math.floor(Date.now() / 1000);
  const input = b64url(JSON.stringify({ alg: 'HS256', typ: 'JWT' })) + '.' + b64url(JSON.stringify({ sub: user, iat: now, exp: now + ttlS, ...(channels ? { channels } : {}) }));
  return input + '.' + hmac('sha256', SECRET, input, 'base64rawurl');
}

// ---- metrics (init context) --------------------------------------------------------------------

export const m = {
  connectMs: new Trend('longlink_connect_ms', true),
  hbAckMs: new Trend('longlink_heartbeat_ack_ms', true),
  pushE2eMs: new Trend('longlink_push_latency_ms', true),
  pushRouterMs: new Trend('longlink_push_router_latency_ms', true),
  reconnectMs: new Trend('longlink_reconnect_ms', true),
  connected: new Counter('longlink_connections_opened'),
  connectFailures: new Counter('longlink_connect_failures'),
  unexpectedCloses: new Counter('longlink_unexpected_closes'),
  heartbeats: new Counter('longlink_heartbeats_sent'),
  pushes: new Counter('longlink_pushes_received'),
  channelE2eMs: new Trend('longlink_channel_latency_ms', true),
  channelMessages: new Counter('longlink_channel_messages_received'),
  duplicates: new Counter('longlink_push_duplicates'),
  zombies: new Counter('longlink_zombies'),
  lost: new Counter('longlink_pushes_lost'),
  resumed: new Rate('longlink_resumed'),
};

/** Counters a threshold watches get a 0 sample, so the threshold is evaluated even when nothing went wrong. */
export function touchCounters(): void {
  for (const c of [m.connectFailures, m.unexpectedCloses, m.zombies, m.lost, m.duplicates]) c.add(0);
}

// ---- one connection --------------------------------------------------------------------------------

export interface ConnOptions {
  url: string;
  user: string;
  device?: string;
  hbMs?: number;
  retry?: RetryPolicy;
  /** Reconnect (with resume) after an unplanned close or a failed connect. */
  reconnect?: boolean;
  /** Channels for the token's `channels` claim; the connection then says `channels=1` (docs/protocol.md §13). */
  channels?: string[];
  onEvent?: (e: SessionEvent, c: K6Connection) => void;
  /** After every end (planned or not) and every failed attempt. */
  onEnd?: (info: { code: number | undefined; planned: boolean; failed: boolean }, c: K6Connection) => void;
}

export class K6Connection {
  readonly session: ClientSession;
  private ws: WebSocket | undefined;
  private timer: TimeoutID | undefined;
  private retryTimer: TimeoutID | undefined;
  private planned = false;
  private dropping = false;
  private stopped = false;
  private startedAt = 0;
  private readonly token: string;

  constructor(readonly o: ConnOptions) {
    this.session = new ClientSession({ intervalMs: o.hbMs ?? HB_MS, ...(o.retry ? { retry: o.retry } : {}) });
    this.token = mintToken(o.user, 3600, o.channels);
  }

  connect(): void {
    if (this.stopped) return;
    this.planned = false;
    this.startedAt = Date.now();
    const url = connectUrl(this.o.url, this.session.connectParams({ token: this.token, tokenIn: 'query', device: this.o.device, channels: this.o.channels !== undefined }));
    const ws = new WebSocket(url, null, { tags: { name: 'longlink' } });
    this.ws = ws;
    ws.binaryType = 'arraybuffer';
    let opened = false;
    let ended = false;
    ws.onopen = () => {
      opened = true;
      this.session.opened(Date.now());
      this.arm();
    };
    ws.onmessage = (ev) => {
      const d = ev?.data;
      if (typeof d !== 'string' && !(d instanceof ArrayBuffer)) return;
      const e = this.session.receive(d, Date.now());
      this.record(e);
      this.o.onEvent?.(e, this);
      this.arm();
    };
    const end = (code: number | undefined): void => {
      if (ended) return;
      ended = true;
      if (this.ws === ws) this.ws = undefined;
      if (this.timer !== undefined) clearTimeout(this.timer);
      const dropped = this.dropping;
      this.dropping = false;
      if (!opened) m.connectFailures.add(1);
      else if (!this.planned && !dropped) m.unexpectedCloses.add(1, { code: String(code ?? 1006) });
      const delay = this.session.ended(opened ? { closeCode: dropped ? 1006 : code ?? 1006 } : {}, Date.now());
      this.o.onEnd?.({ code, planned: this.planned, failed: !opened }, this);
      if (!this.planned && !this.stopped && (this.o.reconnect || dropped) && delay !== undefined) {
        this.retryTimer = setTimeout(() => this.connect(), delay);
      }
    };
    // k6 passes the close code on the event object of newer versions; without it, treat the close as 1006.
    ws.addEventListener('close', (ev) => end((ev as unknown as { code?: number }).code));
    ws.onerror = () => { if (!opened) end(undefined); };
  }

  private record(e: SessionEvent): void {
    switch (e.type) {
      case 'hello':
        m.connected.add(1);
        m.connectMs.add(Date.now() - this.startedAt);
        break;
      case 'heartbeat_ack': if (e.rttMs !== undefined) m.hbAckMs.add(e.rttMs); break;
      case 'push':
        if (e.duplicate) { m.duplicates.add(1); break; }
        m.pushes.add(1);
        m.pushRouterMs.add(e.latencyMs);
        if (e.e2eMs !== undefined) m.pushE2eMs.add(e.e2eMs);
        break;
      case 'pub':
        m.channelMessages.add(1);
        if (e.e2eMs !== undefined) m.channelE2eMs.add(e.e2eMs);
        break;
      default: break;
    }
  }

  /** One timer per connection, set to the session's next deadline. */
  private arm(): void {
    if (this.timer !== undefined) clearTimeout(this.timer);
    const at = this.session.nextWakeAt();
    if (!Number.isFinite(at)) return;
    this.timer = setTimeout(() => this.tick(), Math.max(0, at - Date.now()));
  }

  private tick(): void {
    const ws = this.ws;
    if (!ws || ws.readyState !== WebSocket.OPEN) return;
    const { frames, zombie } = this.session.poll(Date.now());
    if (zombie) { m.zombies.add(1); ws.close(); return; }
    for (const f of frames) {
      ws.send(toArrayBuffer(f));
      if (f[0] === 0x01) m.heartbeats.add(1);
    }
    this.arm();
  }

  /** Closes normally; no reconnect. `forGood` also cancels a pending reconnect. */
  close(forGood = true): void {
    this.planned = true;
    if (forGood) {
      this.stopped = true;
      if (this.retryTimer !== undefined) clearTimeout(this.retryTimer);
    }
    if (this.timer !== undefined) clearTimeout(this.timer);
    this.ws?.close(1000);
  }

  /** Drops the connection as a network failure would (from the app's side) and reconnects after the retry delay. */
  drop(): void {
    this.planned = false;
    this.dropping = true;
    this.ws?.close(4999, 'k6 drop');
  }

  get open(): boolean { return this.ws !== undefined && this.ws.readyState === WebSocket.OPEN; }
}

// ---- the clients scenario ------------------------------------------------------------------------

export interface RampOptions {
  /** Connections in all (CONNECTIONS). */
  connections: number;
  /** Connections each VU opens (CONNS_PER_VU); the scenario runs ceil(connections / perVu) VUs. */
  perVu: number;
  /** Connection n opens at n/connections of this ramp (s), counted from the scenario's start. */
  rampS: number;
  /** Every connection closes this long (s) after the scenario's start. */
  closeAtS: number;
  /** Options of every connection beyond its URL and user. */
  conn: Omit<ConnOptions, 'url' | 'user'>;
}

/** VUs a `per-vu-iterations` clients scenario needs for `connections` at `perVu` each. */
export function rampVus(connections: number, perVu: number): number {
  return Math.ceil(connections / perVu);
}

/**
 * One VU's iteration of a clients scenario: its slice of the connections
 * (VU v opens n = (v-1)·perVu … v·perVu-1, user USER_PREFIX+n, gateway urlFor(n)),
 * each started at its point of a linear ramp and closed at `closeAtS`. The
 * iteration lasts while the sockets and timers live.
 */
export function rampClients(r: RampOptions): void {
  touchCounters();
  const vu = exec.vu.idInTest; // 1-based
  const start = exec.scenario.startTime;
  const end = start + r.closeAtS * 1000;
  for (let k = 0; k < r.perVu; k++) {
    const n = (vu - 1) * r.perVu + k;
    if (n >= r.connections) break;
    const openAt = start + (r.rampS * 1000 * n) / r.connections;
    const c = new K6Connection({ ...r.conn, url: urlFor(n), user: `${USER_PREFIX}${n}` });
    setTimeout(() => {
      c.connect();
      setTimeout(() => c.close(), Math.max(0, end - Date.now()));
    }, Math.max(0, openAt - Date.now()));
  }
  sleep(0);
}

// ---- a sender beside the clients ---------------------------------------------------------------

export interface SenderOptions {
  /** VUs of the clients scenario (rampVus). */
  clientVus: number;
  /** The clients' ramp and settle time (s): the sender starts after both. */
  rampS: number;
  settleS: number;
  /** The exported function that sends, one call per arrival; also the scenario's name. */
  exec: string;
  /** Calls per second, for `sendS` seconds. */
  rate: number;
  sendS: number;
  /** Floors of the sender's preallocated and maximum VUs (rate / 20 and rate above them). */
  minPreVus: number;
  minMaxVus: number;
}

/**
 * The scenarios of a script whose clients (exported `clients`, one
 * iteration per VU that lasts the run) are sent to through the router's API:
 * the clients, and a constant-arrival-rate sender that starts once every
 * client is in and settled.
 */
export function clientsAndSender(o: SenderOptions): NonNullable<Options['scenarios']> {
  return {
    clients: { executor: 'per-vu-iterations', vus: o.clientVus, iterations: 1, maxDuration: `${o.rampS + o.settleS + o.sendS + 60}s`, exec: 'clients' },
    [o.exec]: {
      executor: 'constant-arrival-rate', exec: o.exec, rate: o.rate, timeUnit: '1s', duration: `${o.sendS}s`,
      startTime: `${o.rampS + o.settleS}s`, preAllocatedVUs: Math.max(o.minPreVus, Math.ceil(o.rate / 20)), maxVUs: Math.max(o.minMaxVus, o.rate),
    },
  };
}

/** POSTs `payload` as JSON to the router's API (LONGLINK_API) with the API key; `name` tags the request in k6's metrics. */
export function apiPost(path: string, payload: unknown, name: string): ReturnType<typeof http.post> {
  return http.post(`${API}${path}`, JSON.stringify(payload), { headers: { authorization: `Bearer ${API_KEY}`, 'content-type': 'application/json' }, tags: { name } });
}
