/**
 * The NAT simulator itself, over raw TCP against an echo-ish server: it must
 * forward while traffic flows, swallow silently (no FIN, no RST) after T of
 * idleness, follow a run-time T change, blackhole on dropLink, cut with RST,
 * keep order under delay, and hang new connections while offline.
 */
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import net from 'node:net';
import { once } from 'node:events';
import { NatProxy, type NatEvent } from '../../loadtest/nat-sim/index.js';

let server: net.Server;
let serverPort = 0;
const serverSockets = new Set<net.Socket>();

before(async () => {
  // Answers "ping:N" with "pong:N"; "push:X" lines are sent to every client by the test through serverSockets.
  server = net.createServer({ allowHalfOpen: true }, (s) => {
    serverSockets.add(s);
    s.on('close', () => serverSockets.delete(s));
    s.on('error', () => {});
    s.on('data', (d: Buffer) => { for (const line of d.toString().split('\n')) if (line.startsWith('ping:')) s.write(`pong:${line.slice(5)}\n`); });
  });
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  serverPort = (server.address() as net.AddressInfo).port;
});

after(async () => {
  for (const s of serverSockets) s.destroy();
  await new Promise<void>((r) => server.close(() => r()));
});

async function client(port: number): Promise<{ s: net.Socket; lines: string[]; events: string[]; next(pred: (l: string) => boolean, ms: number): Promise<string | undefined> }> {
  const s = net.connect(port, '127.0.0.1');
  await once(s, 'connect');
  const lines: string[] = [];
  const events: string[] = [];
  const waiters = new Set<() => void>();
  s.on('data', (d: Buffer) => { lines.push(...d.toString().split('\n').filter(Boolean)); for (const w of [...waiters]) w(); });
  s.on('end', () => events.push('end'));
  s.on('error', (e: NodeJS.ErrnoException) => events.push(`error:${e.code ?? e.message}`));
  s.on('close', () => { events.push('close'); for (const w of [...waiters]) w(); });
  const next = (pred: (l: string) => boolean, ms: number): Promise<string | undefined> => new Promise((resolve) => {
    const check = (): void => {
      const l = lines.find(pred);
      if (l !== undefined || s.destroyed) { waiters.delete(check); clearTimeout(t); resolve(l); }
    };
    const t = setTimeout(() => { waiters.delete(check); resolve(undefined); }, ms);
    waiters.add(check);
    check();
  });
  return { s, lines, events, next };
}

async function proxy(idleTimeoutMs: number): Promise<{ p: NatProxy; events: NatEvent[] }> {
  const p = await NatProxy.start({ targetHost: '127.0.0.1', targetPort: serverPort, idleTimeoutMs });
  const events: NatEvent[] = [];
  p.subscribe((e) => events.push(e));
  return { p, events };
}

const waitFor = async (cond: () => boolean, ms: number): Promise<void> => {
  const end = Date.now() + ms;
  while (!cond()) {
    if (Date.now() > end) throw new Error('condition not met in time');
    await new Promise((r) => setTimeout(r, 10));
  }
};

test('forwards both ways while traffic flows (each packet refreshes the mapping)', async () => {
  const { p } = await proxy(400);
  const c = await client(p.port);
  for (let i = 0; i < 8; i++) {
    c.s.write(`ping:${i}\n`);
    assert.equal(await c.next((l) => l === `pong:${i}`, 2000), `pong:${i}`);
    await new Promise((r) => setTimeout(r, 150));
  }
  assert.equal(p.stats.expired, 0);
  c.s.destroy();
  await p.close();
});

test('after T idle: silently swallows both directions, no FIN, no RST, sockets stay open', async () => {
  const { p, events } = await proxy(300);
  const c = await client(p.port);
  c.s.write('ping:a\n');
  assert.equal(await c.next((l) => l === 'pong:a', 2000), 'pong:a');
  await waitFor(() => events.some((e) => e.type === 'expire'), 3000);
  c.s.write('ping:b\n');
  for (const s of serverSockets) s.write('push:x\n'); // downstream too
  assert.equal(await c.next((l) => l === 'pong:b' || l === 'push:x', 600), undefined);
  assert.deepEqual(c.events, [], 'no end, no error, no close on the client');
  assert.equal(c.s.destroyed, false);
  assert.ok(p.stats.bytesSwallowed > 0);
  assert.equal(p.mappings()[0]?.state, 'expired');
  // A new connection gets a new mapping and works.
  const c2 = await client(p.port);
  c2.s.write('ping:c\n');
  assert.equal(await c2.next((l) => l === 'pong:c', 2000), 'pong:c');
  c.s.destroy();
  c2.s.destroy();
  await p.close();
});

test('T changes at run time and applies to live mappings', async () => {
  const { p } = await proxy(60_000);
  const c = await client(p.port);
  c.s.write('ping:1\n');
  assert.equal(await c.next((l) => l === 'pong:1', 2000), 'pong:1');
  await new Promise((r) => setTimeout(r, 300));
  p.setIdleTimeout(200);
  c.s.write('ping:2\n');
  assert.equal(await c.next((l) => l === 'pong:2', 500), undefined, 'idle 300 ms >= new T 200 ms');
  assert.equal(p.idleTimeoutMs, 200);
  c.s.destroy();
  await p.close();
});

test('dropLink blackholes existing mappings only; offline hangs new ones', async () => {
  const { p } = await proxy(60_000);
  const c = await client(p.port);
  assert.equal(p.dropLink(), 1);
  c.s.write('ping:1\n');
  assert.equal(await c.next((l) => l === 'pong:1', 400), undefined);
  p.setOffline(true);
  const c2 = await client(p.port);
  c2.s.write('ping:2\n');
  assert.equal(await c2.next((l) => l === 'pong:2', 400), undefined);
  p.setOffline(false);
  const c3 = await client(p.port);
  c3.s.write('ping:3\n');
  assert.equal(await c3.next((l) => l === 'pong:3', 2000), 'pong:3');
  for (const x of [c, c2, c3]) x.s.destroy();
  await p.close();
});

test('resetAll cuts with an RST (ECONNRESET) on the client side and the server side', async () => {
  const { p } = await proxy(60_000);
  const c = await client(p.port);
  c.s.write('ping:1\n');
  await c.next((l) => l === 'pong:1', 2000);
  const srv = [...serverSockets].at(-1)!;
  const srvErr = new Promise<string>((resolve) => {
    srv.once('error', (e: NodeJS.ErrnoException) => resolve(e.code ?? ''));
    setTimeout(() => resolve('no error within 3 s'), 3000).unref();
  });
  assert.equal(p.resetAll(), 1);
  await waitFor(() => c.events.includes('close'), 3000);
  assert.ok(c.events.includes('error:ECONNRESET'), c.events.join(','));
  assert.equal(await srvErr, 'ECONNRESET');
  await p.close();
});

test('delay adds latency and keeps byte order, even when changed mid-stream', async () => {
  const { p } = await proxy(60_000);
  const c = await client(p.port);
  p.setDelay(150);
  const t0 = performance.now();
  c.s.write('ping:1\n');
  assert.equal(await c.next((l) => l === 'pong:1', 3000), 'pong:1');
  assert.ok(performance.now() - t0 >= 290, 'two one-way delays');
  for (let i = 2; i < 12; i++) {
    p.setDelay(i % 2 === 0 ? 100 : 0);
    c.s.write(`ping:${i}\n`);
  }
  await c.next((l) => l === 'pong:11', 5000);
  assert.deepEqual(c.lines.filter((l) => l.startsWith('pong:')), Array.from({ length: 11 }, (_, i) => `pong:${i + 1}`));
  c.s.destroy();
  await p.close();
});

test('a FIN on a live mapping is forwarded; on a dead one it is swallowed', async () => {
  const { p } = await proxy(250);
  const live = await client(p.port);
  live.s.write('ping:1\n');
  await live.next((l) => l === 'pong:1', 2000);
  const before = serverSockets.size;
  const srvLive = [...serverSockets][before - 1]!;
  const gotEnd = once(srvLive, 'end');
  live.s.end();
  await gotEnd;
  const dead = await client(p.port);
  const srvDead = [...serverSockets].at(-1)!;
  let ended = false;
  srvDead.on('end', () => { ended = true; });
  await new Promise((r) => setTimeout(r, 400));
  dead.s.end();
  await new Promise((r) => setTimeout(r, 300));
  assert.equal(ended, false, 'the server never hears of it');
  dead.s.destroy();
  await p.close();
});
