/**
 * Token expiry without a reconnect herd: 5,000 SDK clients whose tokens all
 * expire in the same second refresh in-band at jittered points late in the
 * token's life, and stay connected (0 reconnects, 0 closes with 4002). An
 * old client that never refreshes still gets 4002, and resumes with a fresh
 * token. Real gateway process (standalone), real sockets.
 */
import { after, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { Close, encodeAck } from '../../protocol/index.js';
import { mintToken } from '../../services/standalone/dev-token.js';
import { createClient, type LonglinkClient } from '../../sdk/src/node.js';
import { spawnNode, type Spawned } from '../../infra/local/process.js';
import { mustConnect } from '../helpers/client.js';
import { TEST_API_KEY, TEST_SECRET } from '../helpers/standalone.js';

const CLIENTS = Number(process.env.LONGLINK_REFRESH_CLIENTS ?? 5000);
/** How long all clients may take to connect (a busy machine needs far more than a quiet one); the common expiry comes after it. */
const CONNECT_MS = 75_000;
const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

/** A token for `user` expiring at the whole second `expSec`. */
const tokenUntil = (user: string, expSec: number): Promise<string> => mintToken(TEST_SECRET, user, { ttlSeconds: expSec - Math.floor(Date.now() / 1000) });

function metric(text: string, name: string, label: string): number {
  const m = new RegExp(`^${name}\\{[^}]*${label}[^}]*\\} (\\d+)`, 'm').exec(text);
  return m ? Number(m[1]) : 0;
}

describe('in-band token refresh at scale', () => {
  let proc: Spawned | undefined;
  const clients: LonglinkClient[] = [];
  after(() => { for (const c of clients) c.close(); proc?.kill(); });

  it(`${CLIENTS} clients whose tokens expire in the same second stay connected with 0 reconnects; a client that never refreshes gets 4002 and resumes`, async () => {
    proc = spawnNode('dist/services/standalone/main.js', {
      LONGLINK_GATEWAY_HOST: '127.0.0.1', LONGLINK_GATEWAY_PORT: '0', LONGLINK_API_PORT: '0',
      LONGLINK_JWT_SECRET: TEST_SECRET, LONGLINK_API_KEYS: TEST_API_KEY, LONGLINK_LOG_LEVEL: 'warn',
      LONGLINK_CONNECT_RATE: '100000', LONGLINK_CONNECT_BURST: '100000', LONGLINK_WHEEL_TICK_MS: '100',
    });
    const url = (await proc.waitFor(/WebSocket:\s+(ws:\/\/\S+)/))[1]!;
    const httpBase = url.replace('ws://', 'http://').replace(/\/ws$/, '');
    const api = (await proc.waitFor(/Push API:\s+(http:\/\/\S+)\/v1\/push/))[1]!;
    // Connecting takes a while on a shared machine: the common expiry leaves room for it.
    const expSec = Math.floor(Date.now() / 1000) + CONNECT_MS / 1000 + 10 + Math.ceil(CLIENTS / 500);
    const first = await Promise.all(Array.from({ length: CLIENTS }, (_, i) => tokenUntil(`u${i}`, expSec)));
    const asked = new Array<number>(CLIENTS).fill(0);
    const closes = new Map<number, number>();
    const errors = new Map<string, number>();
    const why = (): string => JSON.stringify({ closes: [...closes], errors: [...errors], asked: asked.filter((n) => n > 0).length, refreshed: clients.filter((c) => c.stats.tokenRefreshes > 0).length });
    for (let i = 0; i < CLIENTS; i++) {
      const c = createClient({
        url,
        token: async ({ refresh }) => {
          if (!refresh) return first[i]!;
          asked[i]!++;
          return mintToken(TEST_SECRET, `u${i}`, { ttlSeconds: 3600 });
        },
        heartbeat: { smart: false, intervalMs: 600_000 },
        connectTimeoutMs: 30_000,
      });
      c.on('error', (e) => { errors.set(e.message.slice(0, 60), (errors.get(e.message.slice(0, 60)) ?? 0) + 1); });
      c.on('disconnected', (d) => { closes.set(d.code, (closes.get(d.code) ?? 0) + 1); });
      clients.push(c);
      c.connect();
      if (i % 250 === 249) await sleep(50);
    }
    const deadline = Date.now() + CONNECT_MS;
    while (clients.some((c) => c.state !== 'connected') && Date.now() < deadline) await sleep(200);
    assert.equal(clients.filter((c) => c.state === 'connected').length, CLIENTS, 'all connected');
    // Connecting 5,000 on a busy machine may take a retry or two; what counts is what happens from here.
    const attemptsBefore = clients.map((c) => c.stats.attempts);
    closes.clear();

    // The old client: same expiry, never refreshes (speaks the raw protocol, ignores tokenExpiresInMs).
    const old = await mustConnect(url, { token: await tokenUntil('old', expSec) });
    const hello = await old.frame('hello');
    assert.ok(hello.tokenExpiresInMs !== undefined && hello.tokenExpiresInMs <= (expSec * 1000 - Date.now()) + 5000, 'hello says how long the token has left');

    const waitMs = expSec * 1000 - Date.now() + 2500;
    assert.ok(waitMs > 0, 'the common expiry is still ahead once everyone connected');
    await sleep(waitMs);
    // Past the common expiry. A refresh sent late in the window may still have
    // its `refreshed` answer in flight on a busy machine (the gateway already
    // extended the session): give the answers a moment before counting them.
    const answeredBy = Date.now() + 10_000;
    while (clients.some((c) => c.stats.tokenRefreshes === 0) && Date.now() < answeredBy) await sleep(100);
    const stats = clients.map((c) => c.stats);
    assert.equal(stats.filter((s) => s.state === 'connected').length, CLIENTS, `still connected ${why()}`);
    assert.equal(stats.reduce((n, s, i) => n + s.attempts - attemptsBefore[i]!, 0), 0, `0 reconnects ${why()}`);
    assert.equal(closes.size, 0, `no connection lost ${why()}`);
    assert.equal(stats.filter((s) => s.tokenRefreshes === 1).length, CLIENTS, `each refreshed once, in-band ${why()}`);
    assert.ok(asked.every((n) => n === 1), 'the app was asked once per client');

    assert.equal((await old.closeEvent(3000)).code, Close.TOKEN_EXPIRED, 'the client that did not refresh gets 4002');
    const metrics = await (await fetch(`${httpBase}/metrics`)).text();
    assert.equal(metric(metrics, 'longlink_gateway_connections_closed_total', 'reason="TOKEN_EXPIRED"'), 1, 'only the old client expired');
    assert.equal(metric(metrics, 'longlink_gateway_token_refreshes_total', 'outcome="ok"'), CLIENTS);

    // ... and resumes with a fresh token, getting what was pushed meanwhile.
    const push = await fetch(`${api}/v1/push`, {
      method: 'POST', headers: { authorization: `Bearer ${TEST_API_KEY}`, 'content-type': 'application/json' },
      body: JSON.stringify({ users: ['old'], data: { while: 'away' } }),
    });
    assert.equal(push.status, 200);
    const back = await mustConnect(url, { token: await mintToken(TEST_SECRET, 'old'), query: { session: hello.session, last_seq: String(hello.seq) } });
    const h2 = await back.frame('hello');
    assert.equal(h2.resumed, true);
    const p = await back.frame('push');
    assert.deepEqual(p.data, { while: 'away' });
    back.send(encodeAck(p.seq));
    back.close();
  });
});
