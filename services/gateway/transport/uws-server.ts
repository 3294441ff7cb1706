/**
 * The uWebSockets.js transport: the only file that touches uWS. It turns
 * HTTP upgrades into verified handshakes (admission precheck and the source's
 * budget → protocol → params → JWT → the shared admission budget, all
 * synchronous), hands sockets to the core, and serves /healthz and /readyz on
 * the same port, and /metrics there too unless `metricsPort` gives it a
 * listener of its own (that one serves the probes as well). The WebSocket
 * port is the public one (a LoadBalancer Service): a separate metrics port
 * keeps the scrape, and its CPU cost, off the internet.
 *
 * uWS rules this file keeps: the upgrade completes synchronously inside the
 * upgrade handler (req is stack-allocated, and async corked upgrades are
 * unsafe in uWS 20.30, the legacy build); async HTTP responses (/metrics) register
 * onAborted and cork their writes; never touch a WebSocket after its close
 * handler ran (the core guards that with `conn.closed`).
 */
import type * as uWS from 'uWebSockets.js';
import type { Clock } from '../../shared/clock.js';
import { Errors, LonglinkError, errorBody, statusLine, type ErrorSpec } from '../../shared/errors.js';
import { listenExclusive, loadNativeUws, type NativeUws } from '../../shared/uws-native.js';
import { SUBPROTOCOL, TOKEN_SUBPROTOCOL_PREFIX, checkDeviceId, checkSessionId } from '../../../protocol/index.js';
import type { Authenticator } from '../auth.js';
import type { Connection } from '../core/connection.js';
import type { GatewayCore } from '../core/gateway-core.js';
import type { Handshake } from '../core/ports.js';

/**
 * The native uWS build this process runs (see shared/uws-native.ts): throws
 * LL_NATIVE_UWS_MISSING naming the fix when none can run, refuses uWS's JS
 * fallback.
 */
export function assertNativeUws(): NativeUws {
  return loadNativeUws();
}

interface UserData {
  hs: Handshake | null;
  conn: Connection | null;
}

/**
 * uWS copies the upgrade's user data onto the WebSocket object and
 * getUserData() returns that very object (both builds; tested), so the
 * per-frame handlers read `conn` from `ws` without the native call. open()
 * stores it on `ws` itself as well, so this holds whatever a build does.
 */
type Socket = uWS.WebSocket<UserData> & { conn?: Connection | null };
const connOf = (ws: uWS.WebSocket<UserData>): Connection | null | undefined => (ws as Socket).conn;

export interface UwsGatewayOptions {
  core: GatewayCore;
  auth: Authenticator;
  clock: Clock;
  host: string;
  port: number;
  /** A separate listener (on `host`) for /metrics, /healthz and /readyz; the WebSocket port then answers /metrics with 404. undefined: /metrics on `port`. */
  metricsPort?: number | undefined;
  /** Lower-case header a trusted proxy sets to the client address (last entry used); undefined: the TCP peer. */
  clientIpHeader?: string | undefined;
  maxPayload: number;
  maxBackpressure: number;
  tickMs: number;
  /** Channels a token's claim may list (LONGLINK_MAX_CHANNELS_PER_CONNECTION). */
  maxChannels: number;
  ready: () => boolean;
  metrics: { contentType: string; metrics(): Promise<string> };
  log: { warn(obj: object, msg: string): void };
}

export interface UwsGateway {
  readonly port: number;
  /** The metrics listener's port, or undefined when /metrics is served on `port`. */
  readonly metricsPort: number | undefined;
  /** Stops listening (existing sockets stay) and stops the tick timer. */
  close(): void;
  /** Native fan-out: writes a text frame to every socket subscribed to `topic` (uWS app.publish). */
  publish(topic: string, message: string | Uint8Array): void;
}

/** RFC 6455 §4.1: the key is 16 random bytes, base64 (24 characters). */
const WS_KEY_RE = /^[A-Za-z0-9+/]{22}==$/;

function reject(res: uWS.HttpResponse, spec: ErrorSpec, detail?: string, retryAfterS?: number, retryAfterMs?: number): void {
  res.cork(() => {
    res.writeStatus(statusLine(spec.status));
    if (retryAfterS !== undefined) res.writeHeader('Retry-After', String(retryAfterS));
    // The exact wait of a scheduled refusal (protocol.md §2.3); Retry-After alone has whole seconds.
    if (retryAfterMs !== undefined) res.writeHeader('Retry-After-Ms', String(retryAfterMs));
    // RFC 6455 §4.4: a version the server does not speak is answered with the versions it does.
    if (spec.status === 426) res.writeHeader('Sec-WebSocket-Version', '13');
    res.writeHeader('Content-Type', 'application/json');
    // Close after a refusal: a refused client does not reuse the connection, and a flood of refused
    // upgrades must not hold the gateway's file descriptors until the HTTP idle timeout.
    res.end(errorBody(spec, detail), true);
  });
}

function parseUintParam(q: URLSearchParams, name: string): number | undefined | null {
  const raw = q.get(name);
  if (raw === null) return undefined;
  if (!/^\d{1,16}$/.test(raw)) return null;
  const n = Number(raw);
  return Number.isSafeInteger(n) ? n : null;
}

/** Validates query parameters into the handshake fields the core needs. Returns an error string on bad input. */
type Params = { device?: string; hb?: number; session?: string; lastSeq?: number; lastEpoch?: number; token?: string; recover?: boolean; channels?: boolean };

function parseParams(query: string): Params | string {
  const q = new URLSearchParams(query);
  const out: Params = {};
  for (const flag of ['channels', 'recover'] as const) {
    const v = q.get(flag);
    if (v !== null && v !== '0' && v !== '1') return `${flag} must be 0 or 1`;
    if (v === '1') out[flag] = true;
  }
  const device = q.get('device');
  if (device !== null) {
    const bad = checkDeviceId(device);
    if (bad !== undefined) return `device ${bad}`;
    out.device = device;
  }
  // Out of range is clamped by the core to the gateway's [hb.minMs, hb.maxMs] (docs/protocol.md §2.2); only non-integers are refused.
  const hb = parseUintParam(q, 'hb');
  if (hb === null) return 'hb must be a non-negative integer (ms)';
  if (hb !== undefined) out.hb = hb;
  const session = q.get('session');
  const lastSeq = parseUintParam(q, 'last_seq');
  if (lastSeq === null) return 'last_seq must be a non-negative integer';
  if ((session === null) !== (lastSeq === undefined)) return 'session and last_seq go together';
  if (session !== null) {
    const bad = checkSessionId(session);
    if (bad !== undefined) return `session ${bad}`;
    out.session = session;
    out.lastSeq = lastSeq!;
  }
  // The epoch last_seq belongs to (hello.epoch of the session it was read in).
  const epoch = parseUintParam(q, 'epoch');
  if (epoch === null) return 'epoch must be a non-negative integer';
  if (epoch !== undefined) {
    if (session === null) return 'epoch goes with session and last_seq';
    out.lastEpoch = epoch;
  }
  const token = q.get('access_token');
  if (token !== null) out.token = token;
  return out;
}

export async function startUwsGateway(o: UwsGatewayOptions): Promise<UwsGateway> {
  const { core, auth, clock } = o;
  const { uws } = loadNativeUws();
  const app = uws.App();
  const ipHeader = o.clientIpHeader?.toLowerCase();
  const decoder = new TextDecoder();
  /** The client's address: the trusted proxy's header (its last entry) or the TCP peer. */
  const sourceOf = (res: uWS.HttpResponse, req: uWS.HttpRequest): string => {
    if (ipHeader !== undefined) {
      const h = req.getHeader(ipHeader);
      const last = h.slice(h.lastIndexOf(',') + 1).trim();
      if (last.length > 0 && last.length <= 64) return last;
    }
    return decoder.decode(res.getRemoteAddressAsText());
  };

  app.ws<UserData>('/ws', {
    // Our own limit (o.maxPayload) is enforced in the core so the client gets
    // an error frame and 1009; uWS's hard cap only cuts absurd frames.
    maxPayloadLength: o.maxPayload * 2,
    maxBackpressure: o.maxBackpressure,
    closeOnBackpressureLimit: false,
    idleTimeout: 0,
    sendPingsAutomatically: false,

    upgrade: (res, req, context) => {
      const query = req.getQuery() ?? '';
      const key = req.getHeader('sec-websocket-key');
      const protoHeader = req.getHeader('sec-websocket-protocol');
      const extensions = req.getHeader('sec-websocket-extensions');
      // RFC 6455 §4.2.1: checked before anything is spent on the request.
      if (req.getHeader('sec-websocket-version') !== '13') {
        reject(res, Errors.UNSUPPORTED_WS_VERSION);
        return;
      }
      if (!WS_KEY_RE.test(key)) {
        reject(res, Errors.BAD_HANDSHAKE, 'Sec-WebSocket-Key must be 16 bytes in base64');
        return;
      }

      const pre = core.precheck(sourceOf(res, req));
      if (!pre.ok) {
        reject(res, pre.error, undefined, pre.retryAfterS);
        return;
      }
      const protocols = protoHeader.length > 0 ? protoHeader.split(',').map((p) => p.trim()) : [];
      if (protocols.length > 0 && !protocols.includes(SUBPROTOCOL)) {
        reject(res, Errors.UNSUPPORTED_PROTOCOL);
        return;
      }
      const params = parseParams(query);
      if (typeof params === 'string') {
        reject(res, Errors.BAD_HANDSHAKE, params);
        return;
      }
      const token = protocols.find((p) => p.startsWith(TOKEN_SUBPROTOCOL_PREFIX))?.slice(TOKEN_SUBPROTOCOL_PREFIX.length) ?? params.token ?? '';

      // Synchronous verification, so the upgrade completes inside this handler:
      // uWS 20.30 can close a fresh socket after an async, corked upgrade
      // (uNetworking/uWebSockets#1928; see jwt-verify.ts).
      let vt;
      try {
        vt = auth.verify(token);
      } catch (err) {
        const spec = err instanceof LonglinkError ? err.spec : Errors.AUTH_INVALID_TOKEN;
        core.recordAuthFailure(spec.code);
        reject(res, spec, undefined, spec.status === 503 ? 2 : undefined);
        return;
      }
      if (vt.device !== undefined && params.device !== undefined && vt.device !== params.device) {
        reject(res, Errors.BAD_HANDSHAKE, 'device parameter does not match the token');
        return;
      }
      if (vt.channels !== undefined && vt.channels.length > o.maxChannels) {
        reject(res, Errors.CHANNEL_LIMIT, `the token names ${vt.channels.length} channels, limit ${o.maxChannels}`);
        return;
      }
      const device = vt.device ?? params.device ?? 'default';
      // Only a verified upgrade spends the gateway-wide budget (adaptive session-start limit, connect rate),
      // and only a verified client holds a place in the line of refused starts.
      const admission = core.admitVerified(vt.user, device);
      if (!admission.ok) {
        reject(res, admission.error, undefined, admission.retryAfterS, admission.retryAfterMs);
        return;
      }
      const hs: Handshake = {
        user: vt.user,
        device,
        tokenExpiresAt: clock.now() + (vt.expiresAt - clock.wallNow()),
        requestedIntervalMs: params.hb,
        session: params.session,
        lastSeq: params.lastSeq,
        ...(params.lastEpoch !== undefined ? { lastEpoch: params.lastEpoch } : {}),
        // Channel frames only for clients that say they speak them: an older decoder would close on an unknown op.
        ...(params.channels || params.recover ? { channels: vt.channels ?? [] } : {}),
        ...(params.recover ? { recover: true } : {}),
      };
      res.upgrade<UserData>({ hs, conn: null }, key, protocols.length > 0 ? SUBPROTOCOL : '', extensions, context);
    },

    open: (ws) => {
      const ud = ws.getUserData();
      const hs = ud.hs!;
      ud.hs = null;
      const conn = core.open(ws, hs);
      ud.conn = conn;
      (ws as Socket).conn = conn;
    },
    message: (ws, message, isBinary) => {
      const c = connOf(ws);
      if (c != null) core.message(c, message, isBinary);
    },
    drain: (ws) => {
      const c = connOf(ws);
      if (c != null) core.sendBufferDrained(c);
    },
    close: (ws, code) => {
      const c = connOf(ws);
      if (c != null) core.closed(c, code);
    },
  });

  const probes = (a: uWS.TemplatedApp): void => {
    a.get('/healthz', (res) => {
      res.writeHeader('Content-Type', 'application/json').end('{"status":"ok"}');
    });
    a.get('/readyz', (res) => {
      if (o.ready()) res.writeHeader('Content-Type', 'application/json').end('{"status":"ready"}');
      else res.writeStatus(statusLine(503)).writeHeader('Content-Type', 'application/json').end(`{"status":"${core.isDraining ? 'draining' : 'degraded'}"}`);
    });
  };
  const metricsRoute = (a: uWS.TemplatedApp): void => {
    a.get('/metrics', (res) => {
      let aborted = false;
      res.onAborted(() => { aborted = true; });
      o.metrics.metrics().then(
        (text) => { if (!aborted) res.cork(() => { res.writeHeader('Content-Type', o.metrics.contentType).end(text); }); },
        (err: unknown) => {
          o.log.warn({ err: String(err) }, 'metrics collection failed');
          if (!aborted) res.cork(() => { res.writeStatus(statusLine(500)).end(); });
        },
      );
    });
  };
  const notFound = (a: uWS.TemplatedApp): void => {
    a.any('/*', (res) => {
      res.writeStatus(statusLine(404)).writeHeader('Content-Type', 'application/json').end(errorBody(Errors.NOT_FOUND));
    });
  };
  probes(app);
  if (o.metricsPort === undefined) metricsRoute(app);
  notFound(app);

  let metricsSocket: uWS.us_listen_socket | undefined;
  if (o.metricsPort !== undefined) {
    const m = uws.App();
    probes(m);
    metricsRoute(m);
    notFound(m);
    // Exclusive, as every listener: a port another gateway's (or the standalone push API's) listener holds is a
    // start-up error, not a port shared with it (a scrape of the other gateway, a push API request answered 404).
    metricsSocket = await listenExclusive(m, o.host, o.metricsPort, 'metrics listener');
  }
  let listenSocket: uWS.us_listen_socket;
  try {
    // Exclusive: a second gateway started on this port by mistake fails instead of taking half the connections.
    listenSocket = await listenExclusive(app, o.host, o.port, 'gateway WebSocket listener');
  } catch (err) {
    if (metricsSocket) uws.us_listen_socket_close(metricsSocket);
    throw err;
  }
  const port = uws.us_socket_local_port(listenSocket);
  const timer = setInterval(() => core.tick(), o.tickMs);
  let open = true;
  return {
    port,
    metricsPort: metricsSocket ? uws.us_socket_local_port(metricsSocket) : undefined,
    publish: (topic, message) => { app.publish(topic, message, false); },
    close() {
      if (!open) return;
      open = false;
      clearInterval(timer);
      uws.us_listen_socket_close(listenSocket);
      if (metricsSocket) uws.us_listen_socket_close(metricsSocket);
    },
  };
}
