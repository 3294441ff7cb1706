/**
 * Baseline servers for the benchmarks, built the usual way with the most
 * common libraries and the same heartbeat behaviour (answer a 1-byte
 * heartbeat with a 1-byte ack, close connections idle past 1.5 x interval):
 *  - `uws`: a bare uWebSockets.js server, no auth, no sessions (the floor);
 *  - `ws`:  a `ws` server with the ws README's isAlive sweep.
 * Usage: node baseline-servers.js <uws|ws> <intervalMs>; prints "PORT <n>".
 */
import uWS from 'uWebSockets.js';
import { WebSocketServer, type WebSocket } from 'ws';

const kind = process.argv[2];
const intervalMs = Number(process.argv[3] ?? 10_000);
const ACK = Uint8Array.of(0x02);

if (kind === 'uws') {
  uWS.App().ws('/*', {
    idleTimeout: Math.ceil((intervalMs * 1.5) / 1000) + 5,
    maxPayloadLength: 65536,
    message: (ws, _m, isBinary) => { if (isBinary) ws.send(ACK, true); },
  }).listen('127.0.0.1', 0, (ls) => {
    if (!ls) process.exit(1);
    console.log(`PORT ${uWS.us_socket_local_port(ls)}`);
  });
} else if (kind === 'ws') {
  const alive = new WeakMap<WebSocket, boolean>();
  const wss = new WebSocketServer({ host: '127.0.0.1', port: 0, perMessageDeflate: false, maxPayload: 65536 });
  wss.on('connection', (ws) => {
    alive.set(ws, true);
    ws.on('message', (_d, isBinary) => { alive.set(ws, true); if (isBinary) ws.send(ACK); });
  });
  // The ws README's pattern: a full scan of every client per check.
  setInterval(() => {
    for (const ws of wss.clients) {
      if (alive.get(ws) === false) { ws.terminate(); continue; }
      alive.set(ws, false);
    }
  }, intervalMs * 1.5);
  wss.on('listening', () => console.log(`PORT ${(wss.address() as { port: number }).port}`));
} else {
  console.error('usage: baseline-servers <uws|ws> <intervalMs>');
  process.exit(2);
}
