/**
 * The webhook receiver of `bench:webhooks`, in its own process so its work
 * does not land on the driver's event loop: a node:http server that answers
 * every delivery (after `delayMs`, to play a slow receiver) and counts
 * distinct webhook-ids. Driven over IPC: {cmd:'delay', ms}, {cmd:'count'}.
 */
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';

let delayMs = 0;
const ids = new Set<string>();
let requests = 0;
let firstAt = 0, lastAt = 0;

const server = createServer((req, res) => {
  req.resume();
  req.on('end', () => {
    const id = String(req.headers['webhook-id'] ?? '');
    const answer = (): void => {
      requests++;
      if (!ids.has(id)) {
        ids.add(id);
        const now = performance.timeOrigin + performance.now();
        if (firstAt === 0) firstAt = now;
        lastAt = now;
      }
      res.writeHead(204).end();
    };
    if (delayMs > 0) setTimeout(answer, delayMs); else answer();
  });
});
server.keepAliveTimeout = 30_000;
server.listen(0, '127.0.0.1', () => {
  process.send!({ type: 'ready', port: (server.address() as AddressInfo).port });
});
process.on('message', (m: { cmd: string; ms?: number }) => {
  if (m.cmd === 'delay') { delayMs = m.ms ?? 0; process.send!({ type: 'delay' }); }
  if (m.cmd === 'count') process.send!({ type: 'count', distinct: ids.size, requests, firstAt, lastAt });
  if (m.cmd === 'reset') { ids.clear(); requests = 0; firstAt = 0; lastAt = 0; process.send!({ type: 'reset' }); }
  if (m.cmd === 'close') { server.closeAllConnections(); server.close(); process.exit(0); }
});
