/**
 * The Node SDK over real sockets against gateways that name absurd waits: a
 * real standalone gateway with a 60-day token (the refresh timer must not
 * overflow into a token-provider loop), and a hand-rolled `ws` server that
 * answers every attempt with a `reconnect` frame of 0 or 3e9 ms then 4000,
 * or refuses every upgrade with 503 + Retry-After-Ms: 0 or Retry-After:
 * 999999999. Each must leave the client waiting, not reconnecting in a loop.
 */
import { after, test } from 'node:test';
import assert from 'node:assert/strict';
import http from 'node:http';
import type { AddressInfo, Socket } from 'node:net';
import { WebSocketServer } from 'ws';
import { mintToken } from '../../services/standalone/dev-token.js';
import { createClient, type LonglinkClient } from '../../sdk/src/node.js';
import { TEST_SECRET, sleep, start } from '../helpers/standalone.js';

const clients: LonglinkClient[] = [];
after(() => { for (const c of clients) c.close(); });

test('a 60-day token: connected once, the token provider asked once, no 4009 (the refresh timer does not overflow)', async () => {
  const s = await start();
  try {
    let calls = 0;
    const closes: number[] = [];
    const c = createClient({ url: s.gatewayUrl, device: 'd1', token: async () => { calls++; return mintToken(TEST_SECRET, 'u-long', { ttlSeconds: 60 * 86_400 }); } });
    clients.push(c);
    c.on('disconnected', (d) => closes.push(d.code));
    c.connect();
    await sleep(1500);
    assert.equal(c.state, 'connected');
    assert.equal(calls, 1, `token provider calls in 1.5 s: ${calls}`);
    assert.deepEqual(closes, []);
    c.close();
  } finally {
    await s.close();
  }
});

type Mode = 'frame0' | 'framehuge' | 'retry0' | 'retryhuge';

async function hostile(mode: Mode): Promise<{ url: string; attempts: () => number; close: () => Promise<void> }> {
  let attempts = 0;
  const server = http.createServer((_req, res) => { res.writeHead(404); res.end(); });
  const wss = new WebSocketServer({ noServer: true, handleProtocols: () => 'longlink.v1' });
  const sockets = new Set<Socket>();
  server.on('connection', (sock) => { sockets.add(sock); sock.on('close', () => sockets.delete(sock)); });
  server.on('upgrade', (req, sock: Socket, head) => {
    attempts++;
    if (mode === 'retry0' || mode === 'retryhuge') {
      const hdr = mode === 'retry0' ? 'Retry-After-Ms: 0' : 'Retry-After: 999999999';
      sock.end(`HTTP/1.1 503 Service Unavailable\r\n${hdr}\r\nContent-Type: application/json\r\nContent-Length: 2\r\nConnection: close\r\n\r\n{}`);
      return;
    }
    wss.handleUpgrade(req, sock, head, (ws) => {
      ws.send(JSON.stringify({ op: 'reconnect', delayMs: mode === 'frame0' ? 0 : 3_000_000_000, reason: 'x' }));
      ws.close(4000, 'draining');
    });
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const port = (server.address() as AddressInfo).port;
  return {
    url: `ws://127.0.0.1:${port}/ws`,
    attempts: () => attempts,
    close: async () => {
      for (const s of sockets) s.destroy();
      wss.close();
      await new Promise<void>((r) => server.close(() => r()));
    },
  };
}

for (const mode of ['frame0', 'framehuge', 'retry0', 'retryhuge'] as const) {
  test(`a gateway answering ${mode}: a handful of attempts in 2 s, not hundreds (default backoff)`, async () => {
    const g = await hostile(mode);
    try {
      const c = createClient({ url: g.url, device: 'd1', token: () => 'x.y.z' });
      clients.push(c);
      c.connect();
      await sleep(2000);
      c.close();
      // 0 waits: at most one attempt per 250 ms floor (a drain's) or a growing backoff (base 1 s); huge waits are cut to 1 h.
      // Hundreds of attempts before; 1 + 2,000 / 250 at the very most now, whatever the random draws.
      assert.ok(g.attempts() <= 9, `${mode}: ${g.attempts()} attempts in 2 s`);
      assert.ok(g.attempts() >= 1);
    } finally {
      await g.close();
    }
  });
}
