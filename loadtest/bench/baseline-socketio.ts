/**
 * Socket.IO baseline for the benchmark suite, built the usual way: a
 * Socket.IO 4 server on a Node HTTP server, JWT checked in an `io.use`
 * middleware (`socket.handshake.auth.token`), each socket joins a room named
 * after its user, `POST /push` emits to that room. Heartbeats are Socket.IO's
 * own (the server pings every interval, the client pongs); the timeout is set
 * like Longlink's deadline (interval × 0.5 more, plus 5 s grace).
 *
 * Usage: node baseline-socketio.js <intervalMs> <jwtSecret>; prints "PORT <n>".
 */
import http from 'node:http';
import { fileURLToPath } from 'node:url';
import { Server } from 'socket.io';
import { pushHandler, verifyHs256 } from './baseline-auth.js';

export function startSocketIoBaseline(intervalMs: number, secret: string): Promise<{ port: number; close: () => Promise<void> }> {
  const ref: { io?: Server } = {};
  // The push route is registered before Socket.IO attaches, so Socket.IO passes it the requests it does not own.
  const server = http.createServer(pushHandler((user, data) => {
    const room = ref.io!.sockets.adapter.rooms.get(user);
    ref.io!.to(user).emit('push', data);
    return room?.size ?? 0;
  }));
  const io = (ref.io = new Server(server, { pingInterval: intervalMs, pingTimeout: Math.round(intervalMs * 0.5) + 5000, perMessageDeflate: false, serveClient: false, maxHttpBufferSize: 65536 }));
  io.use((socket, next) => {
    try {
      const token: unknown = (socket.handshake.auth as { token?: unknown }).token;
      socket.data = { user: verifyHs256(typeof token === 'string' ? token : '', secret) };
      next();
    } catch (err) {
      next(err instanceof Error ? err : new Error(String(err)));
    }
  });
  io.on('connection', (socket) => { void socket.join((socket.data as { user: string }).user); });
  return new Promise((resolve) => server.listen(0, '127.0.0.1', () => resolve({
    port: (server.address() as { port: number }).port,
    close: () => new Promise<void>((r) => { io.close(); server.close(() => r()); }),
  })));
}

if (process.argv[1] === fileURLToPath(import.meta.url)) {
  const [interval, secret] = process.argv.slice(2);
  if (!interval || !secret) { console.error('usage: baseline-socketio <intervalMs> <jwtSecret>'); process.exit(2); }
  const { port } = await startSocketIoBaseline(Number(interval), secret);
  console.log(`PORT ${port}`);
}
