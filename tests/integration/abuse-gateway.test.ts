/**
 * Attack and misuse cases against real processes (standalone and a cluster):
 * malformed WebSocket handshakes, secrets in the banner, a router that would
 * claim readiness with its store gone, one token opening many devices.
 */
import { after, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import net from 'node:net';
import { mintToken } from '../../services/standalone/dev-token.js';
import { Close, SUBPROTOCOL, TOKEN_SUBPROTOCOL_PREFIX } from '../../protocol/index.js';
import { spawnNode, type Spawned } from '../../infra/local/process.js';
import { startCluster, type Cluster } from '../../infra/local/cluster-harness.js';
import { start, TEST_API_KEY, TEST_SECRET } from '../helpers/standalone.js';
import { mustConnect, type TestClient } from '../helpers/client.js';
import type { Standalone } from '../../services/standalone/app.js';

/** Sends a raw HTTP upgrade request and returns the response head and body. */
function rawUpgrade(port: number, headers: Record<string, string>, path = '/ws'): Promise<{ status: number; head: string; body: string }> {
  return new Promise((resolve, reject) => {
    const sock = net.connect(port, '127.0.0.1');
    let buf = '';
    sock.setEncoding('utf8');
    sock.on('data', (d: string) => {
      buf += d;
      const end = buf.indexOf('\r\n\r\n');
      if (end < 0) return;
      const head = buf.slice(0, end);
      const len = Number(/content-length: (\d+)/i.exec(head)?.[1] ?? 0);
      if (buf.length - end - 4 < len && !/^HTTP\/1\.1 101/.test(head)) return;
      sock.destroy();
      resolve({ status: Number(head.split(' ')[1]), head, body: buf.slice(end + 4) });
    });
    sock.on('error', reject);
    // A request the HTTP parser refuses outright is closed without a response: status 0.
    sock.on('close', () => resolve({ status: 0, head: buf, body: '' }));
    sock.write(`GET ${path} HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n` + Object.entries(headers).map(([k, v]) => `${k}: ${v}\r\n`).join('') + '\r\n');
  });
}

describe('abuse: handshake', () => {
  let s: Standalone | undefined;
  after(async () => { await s?.close(); });

  it('Sec-WebSocket-Version other than 13 gets 426 naming 13; a malformed key gets 400; a good one upgrades', async () => {
    s = await start();
    const port = Number(new URL(s.gatewayUrl).port);
    const token = await mintToken(TEST_SECRET, 'mallory');
    const base = { 'Sec-WebSocket-Key': 'dGhlIHNhbXBsZSBub25jZQ==', 'Sec-WebSocket-Protocol': `${SUBPROTOCOL}, ${TOKEN_SUBPROTOCOL_PREFIX}${token}` };
    for (const v of ['8', '14', '', '13, 8', '013']) {
      const r = await rawUpgrade(port, { ...base, ...(v === '' ? {} : { 'Sec-WebSocket-Version': v }) });
      assert.equal(r.status, 426, `version ${JSON.stringify(v)}: ${r.head}`);
      assert.match(r.head, /sec-websocket-version: 13/i);
      assert.match(r.body, /LL_UNSUPPORTED_WS_VERSION/);
    }
    // (uWS answers a key that is missing or not 24 characters long as a plain GET: 404.)
    for (const key of ['!!!!!!!!!!!!!!!!!!!!!!==', 'dGhlIHNhbXBsZSBub25jZQAA']) {
      const r = await rawUpgrade(port, { ...base, 'Sec-WebSocket-Version': '13', 'Sec-WebSocket-Key': key });
      assert.equal(r.status, 400, `key ${JSON.stringify(key)}: ${r.head}`);
      assert.match(r.body, /LL_BAD_HANDSHAKE/);
    }
    const ok = await rawUpgrade(port, { ...base, 'Sec-WebSocket-Version': '13' });
    assert.equal(ok.status, 101, ok.head);
    assert.equal(s.gateway.core.stats.admissionRejections.size, 0, 'refused before admission spent anything');
  });
});

describe('abuse: secrets in the standalone banner', () => {
  const procs: Spawned[] = [];
  after(() => { for (const p of procs) p.kill(); });

  it('a configured API key is never printed; a generated dev key is, marked as such', async () => {
    const configured = spawnNode('dist/services/standalone/main.js', {
      LONGLINK_GATEWAY_HOST: '127.0.0.1', LONGLINK_GATEWAY_PORT: '0', LONGLINK_API_PORT: '0', LONGLINK_LOG_LEVEL: 'warn',
      LONGLINK_API_KEYS: TEST_API_KEY, LONGLINK_DEV: 'true',
    });
    procs.push(configured);
    await configured.waitFor(/Try it/);
    assert.ok(!configured.output().includes(TEST_API_KEY), configured.output());
    assert.match(configured.output(), /API key:\s+\(configured in LONGLINK_API_KEYS, not shown\)/);
    assert.match(configured.output(), /Bearer \$API_KEY/);

    const generated = spawnNode('dist/services/standalone/main.js', {
      LONGLINK_GATEWAY_HOST: '127.0.0.1', LONGLINK_GATEWAY_PORT: '0', LONGLINK_API_PORT: '0', LONGLINK_LOG_LEVEL: 'warn', LONGLINK_API_KEYS: '',
    });
    procs.push(generated);
    const key = (await generated.waitFor(/API key:\s+(dev-\S+)\s+\(generated for this run\)/))[1]!;
    const api = (await generated.waitFor(/Push API:\s+(http:\/\/\S+)\/v1\/push/))[1]!;
    const res = await fetch(`${api}/v1/presence/alice`, { headers: { authorization: `Bearer ${key}` } });
    assert.equal(res.status, 200, 'the printed key works');
  });
});

describe('abuse: router readiness without its store', () => {
  let c: Cluster | undefined;
  after(async () => { await c?.stop(); });

  it('/readyz turns 503 while Redis is down or hung, and 200 again once it answers', async () => {
    c = await startCluster({ gateways: 1 });
    const cl = c;
    const readyz = async (): Promise<number> => (await fetch(`${cl.apiUrl}/readyz`)).status;
    const until = async (want: number, what: string): Promise<void> => {
      const deadline = Date.now() + 15_000;
      while ((await readyz()) !== want) {
        if (Date.now() > deadline) assert.fail(`${what}: /readyz still not ${want}`);
        await new Promise((r) => setTimeout(r, 100));
      }
    };
    assert.equal(await readyz(), 200);
    await cl.redis.kill();
    await until(503, 'Redis killed');
    assert.equal((await cl.push(['u'], { x: 1 })).status, 503, 'pushes refused meanwhile');
    await cl.redis.restart();
    await until(200, 'Redis back');
    cl.redis.pause();
    await until(503, 'Redis hung (SIGSTOP)');
    cl.redis.resume();
    await until(200, 'Redis resumed');
    assert.equal((await cl.push(['u'], { x: 2 })).status, 200);
  });
});

describe('abuse: one token, many devices', () => {
  let c: Cluster | undefined;
  const clients: TestClient[] = [];
  after(async () => { for (const x of clients) x.close(); await c?.stop(); });

  it('device N+1 is refused with 4011 across two gateways (also when started at once); the same device reconnecting still replaces its session', async () => {
    const cap = 3;
    c = await startCluster({ gateways: 2, routerEnv: { LONGLINK_MAX_DEVICES_PER_USER: String(cap) } });
    const [a, b] = c.gateways as [typeof c.gateways[0], typeof c.gateways[0]];
    // One token without a device claim: the device comes from ?device=, as in the attack.
    const token = await c.token('mallory');
    const open = async (url: string, device: string): Promise<TestClient> => {
      const x = await mustConnect(url, { token, query: { device } });
      clients.push(x);
      return x;
    };
    // A burst of 12 distinct devices at once over both gateways: exactly `cap` get a session.
    const burst = await Promise.all(Array.from({ length: 12 }, (_, i) => open(i % 2 === 0 ? a.url : b.url, `d${i}`)));
    const outcome = await Promise.all(burst.map((x) => x.until(() => (x.frames.some((f) => f.op === 'hello') ? 'hello' : x.closed ? x.closed.code : undefined), 10_000, 'hello or close')));
    assert.equal(outcome.filter((o) => o === 'hello').length, cap, JSON.stringify(outcome));
    assert.deepEqual(outcome.filter((o) => o !== 'hello'), Array(12 - cap).fill(Close.DEVICE_LIMIT));
    const live = burst.filter((_, i) => outcome[i] === 'hello');
    const liveDevices = burst.map((_, i) => `d${i}`).filter((_, i) => outcome[i] === 'hello');
    // One more device on either gateway: refused with the documented code and reason.
    for (const g of [a, b]) {
      const extra = await open(g.url, 'one-more');
      const closed = await extra.closeEvent(10_000);
      assert.equal(closed.code, Close.DEVICE_LIMIT);
      assert.match(closed.reason, /too many devices/);
      assert.equal(extra.frames.some((f) => f.op === 'hello'), false);
    }
    // The first live device reconnects on the other gateway: it replaces itself, not counted twice.
    const firstIdx = burst.indexOf(live[0]!);
    const again = await open(firstIdx % 2 === 0 ? b.url : a.url, liveDevices[0]!);
    await again.frame('hello', 0, 10_000);
    assert.equal((await live[0]!.closeEvent(10_000)).code, Close.REPLACED);
    for (const x of live.slice(1)) assert.equal(x.closed, undefined);
    // A device that leaves frees its place for a new one.
    live[1]!.ws.close(1000);
    await live[1]!.closeEvent();
    const deadline = Date.now() + 10_000;
    for (;;) {
      const next = await open(a.url, 'newcomer');
      const r = await next.until(() => (next.frames.some((f) => f.op === 'hello') ? 'hello' : next.closed ? next.closed.code : undefined), 10_000, 'hello or close');
      if (r === 'hello') break;
      assert.equal(r, Close.DEVICE_LIMIT);
      if (Date.now() > deadline) assert.fail('the place of the device that left was never freed');
      await new Promise((res) => setTimeout(res, 200));
    }
    const metrics = await (await fetch(`${a.httpUrl}/metrics`)).text();
    assert.match(metrics, /session_starts_device_limit_total \d+/);
  });
});
