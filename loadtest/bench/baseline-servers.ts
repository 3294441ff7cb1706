/**
 * Baseline servers for the benchmarks, built the usual way with the most
 * common libraries and the same heartbeat behaviour (answer a 1-byte
 * heartbeat with a 1-byte ack, close connections idle past 1.5 x interval):
 *  - `uws`: a bare uWebSockets.js server, no auth, no sessions (the floor);
 *  - `ws`:  a `ws` server with the ws README's isAlive sweep.
 * Usage: node baseline-servers.js <uws|ws> <intervalMs> [jwtSecret]; prints "PORT <n>".
 * With a secret (the benchmark suite), `ws` also verifies an HS256 JWT in
 * `verifyClient` (subprotocol `longlink.token.<jwt>` or `access_token`) and
 * serves `POST /push {"user","data"}` on the same port (baseline-auth.ts).
 * `socketio` is baseline-socketio.ts.
 */
import http, { type IncomingMessage } from 'node:http';
import { WebSocketServer, type WebSocket } from 'ws';
import { loadNativeUws } from '../../services/shared/uws-native.js';
import { pushHandler, tokenFrom, verifyHs256 } from './baseline-auth.js';
import { heartbeatDeadlineMs } from '../../protocol/index.js';

const kind = process.argv[2];
const intervalMs = Number(process.argv[3] ?? 10_000);
const ACK = Uint8Array.of(0x02);

if (kind === 'uws') {
  const uWS = loadNativeUws().uws;
  uWS.App().ws('/*', {
    // The gateway's deadline with its default 5 s grace, in whole seconds (uWS takes seconds).
    idleTimeout: Math.ceil(heartbeatDeadlineMs(intervalMs, 5000) / 1000),
    maxPayloadLength: 65536,
    message: (ws, _m, isBinary) => { if (isBinary) ws.send(ACK, true); },
  }).listen('127.0.0.1', 0, (ls) => {
    if (!ls) process.exit(1);
    console.log(`PORT ${uWS.us_socket_local_port(ls)}`);
  });
} else if (kind === 'ws') {
  const secret = process.argv[4];
  const alive = new WeakMap<WebSocket, boolean>();
  const byUser = new Map<string, Set<WebSocket>>();
  const users = new WeakMap<IncomingMessage, string>();
  const server = http.createServer(pushHandler((user, data) => {
    const set = byUser.get(user);
    const frame = JSON.stringify({ op: 'push', data });
    for (const ws of set ?? []) ws.send(frame);
    return set?.size ?? 0;
  }));
  const wss = new WebSocketServer({ server, perMessageDeflate: false, maxPayload: 65536, ...(secret ? {
    verifyClient: (info: { req: IncomingMessage }, cb: (ok: boolean, code?: number) => void): void => {
      try { users.set(info.req, verifyHs256(tokenFrom(info.req) ?? '', secret)); cb(true); } catch { cb(false, 401); }
    },
  } : {}) });
  wss.on('connection', (ws, req) => {
    alive.set(ws, true);
    const user = users.get(req);
    if (user !== undefined) {
      let set = byUser.get(user);
      if (!set) byUser.set(user, (set = new Set()));
      set.add(ws);
      ws.on('close', () => { set.delete(ws); if (set.size === 0) byUser.delete(user); });
    }
    ws.on('message', (_d, isBinary) => { alive.set(ws, true); if (isBinary) ws.send(ACK); });
  });
  // The ws README's pattern: a full scan of every client per check.
  setInterval(() => {
    for (const ws of wss.clients) {
      if (alive.get(ws) === false) { ws.terminate(); continue; }
      alive.set(ws, false);
    }
  }, intervalMs * 1.5);
  server.listen(0, '127.0.0.1', () => console.log(`PORT ${(server.address() as { port: number }).port}`));
} else if (kind === 'socketio') {
  const { startSocketIoBaseline } = await import('./baseline-socketio.js');
  console.log(`PORT ${(await startSocketIoBaseline(intervalMs, process.argv[4] ?? '')).port}`);
} else {
  console.error('usage: baseline-servers <uws|ws|socketio> <intervalMs> [jwtSecret]');
  process.exit(2);
}
