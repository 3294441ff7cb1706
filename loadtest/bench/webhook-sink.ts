/**
 * The webhook receiver of `bench:webhooks`, in its own process so its work
 * does not land on the driver's event loop. It answers every delivery 204
 * (after `delayMs`, to play a slow receiver) and counts distinct
 * webhook-ids. Driven over IPC: {cmd:'delay', ms}, {cmd:'count'}, {cmd:'reset'}.
 *
 * Two implementations (argv[2]):
 *  - `node` (default): node:http, what a typical Node.js backend runs, about
 *    95 µs of CPU per request on the bench machine;
 *  - `raw`: a minimal HTTP/1.1 keep-alive responder on node:net (reads the
 *    head, skips Content-Length bytes of body, writes a fixed 204), a few
 *    times cheaper. A receiver runs on the backend's machines in any
 *    deployment, not beside the router: on the bench's one box its CPU is
 *    taken from the push path, so `raw` is the closer stand-in for "the
 *    receiver's cost is not ours" (docs/benchmarks.md).
 * Neither verifies signatures (the tests do, with `standardwebhooks`).
 */
import { createServer as createHttpServer } from 'node:http';
import { createServer as createNetServer, type Server, type Socket } from 'node:net';
import type { AddressInfo } from 'node:net';

const kind = process.argv[2] === 'raw' ? 'raw' : 'node';
let delayMs = 0;
const ids = new Set<string>();
let requests = 0;
let firstAt = 0, lastAt = 0;

function seen(id: string): void {
  requests++;
  if (!ids.has(id)) {
    ids.add(id);
    const now = performance.timeOrigin + performance.now();
    if (firstAt === 0) firstAt = now;
    lastAt = now;
  }
}

function nodeServer(): Server {
  const server = createHttpServer((req, res) => {
    req.resume();
    req.on('end', () => {
      const id = String(req.headers['webhook-id'] ?? '');
      const answer = (): void => { seen(id); res.writeHead(204).end(); };
      if (delayMs > 0) setTimeout(answer, delayMs); else answer();
    });
  });
  server.keepAliveTimeout = 30_000;
  return server;
}

const NO_CONTENT = Buffer.from('HTTP/1.1 204 No Content\r\nKeep-Alive: timeout=30\r\n\r\n');
const HEAD_END = Buffer.from('\r\n\r\n');

/** Requests in order per socket (the router does not pipeline, but nothing here relies on it). */
function rawConnection(sock: Socket): void {
  sock.setNoDelay(true);
  let buf: Buffer = Buffer.alloc(0);
  let skip = 0;
  sock.on('data', (chunk: Buffer) => {
    buf = buf.length === 0 ? chunk : Buffer.concat([buf, chunk]);
    for (;;) {
      if (skip > 0) {
        const n = Math.min(skip, buf.length);
        skip -= n;
        buf = buf.subarray(n);
        if (skip > 0) return;
      }
      const end = buf.indexOf(HEAD_END);
      if (end < 0) return;
      const head = buf.toString('latin1', 0, end);
      buf = buf.subarray(end + 4);
      const len = /\r\ncontent-length:\s*(\d+)/i.exec(head);
      skip = len ? Number(len[1]) : 0;
      const id = /\r\nwebhook-id:\s*([^\r]*)/i.exec(head)?.[1] ?? '';
      const answer = (): void => { seen(id); if (!sock.destroyed) sock.write(NO_CONTENT); };
      if (delayMs > 0) setTimeout(answer, delayMs); else answer();
    }
  });
  sock.on('error', () => sock.destroy());
}

const server = kind === 'raw' ? createNetServer(rawConnection) : nodeServer();
const sockets = new Set<Socket>();
server.on('connection', (s: Socket) => { sockets.add(s); s.on('close', () => sockets.delete(s)); });
server.listen(0, '127.0.0.1', () => {
  process.send!({ type: 'ready', port: (server.address() as AddressInfo).port, kind });
});
process.on('message', (m: { cmd: string; ms?: number }) => {
  if (m.cmd === 'delay') { delayMs = m.ms ?? 0; process.send!({ type: 'delay' }); }
  if (m.cmd === 'count') process.send!({ type: 'count', distinct: ids.size, requests, firstAt, lastAt });
  if (m.cmd === 'reset') { ids.clear(); requests = 0; firstAt = 0; lastAt = 0; process.send!({ type: 'reset' }); }
  if (m.cmd === 'close') { for (const s of sockets) s.destroy(); server.close(); process.exit(0); }
});
