/**
 * The smart heartbeat end to end inside the client, on fake time, against a
 * fake gateway behind a fake NAT: a heartbeat sent after the path was idle for
 * T or more vanishes, and so does everything after it on that connection.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { LonglinkClient } from '../../sdk/src/client.js';
import { MARS_DEFAULTS } from '../../sdk/src/heartbeat-policy.js';
import { ManualNetwork } from '../../sdk/src/network.js';
import { MemoryStorage } from '../../sdk/src/storage.js';
import { FakeTimers, FakeTransport, flushMicrotasks, type FakeGatewaySocket } from '../../sdk/src/testing.js';
import type { ClientOptions, IntervalEvent } from '../../sdk/src/types.js';

class FakeNatWorld {
  readonly timers = new FakeTimers();
  readonly tr = new FakeTransport();
  natMs: number;
  private seen = new Map<FakeGatewaySocket, { last: number; frames: number; dead: boolean }>();
  deaths = 0;

  constructor(natMs: number, private readonly serverMinMs = 100) { this.natMs = natMs; }

  /** Kill every current path (a network switch). */
  dropAll(): void {
    for (const st of this.seen.values()) st.dead = true;
  }

  /** Advances fake time in small steps, playing gateway + NAT. */
  async run(ms: number, step = 10): Promise<void> {
    for (let done = 0; done < ms; done += step) {
      this.timers.advance(step);
      await flushMicrotasks(3);
      for (const s of this.tr.sockets) this.serve(s);
    }
  }

  private serve(s: FakeGatewaySocket): void {
    let st = this.seen.get(s);
    const now = this.timers.now();
    if (st === undefined) {
      st = { last: now, frames: 0, dead: false };
      this.seen.set(s, st);
      s.open().hello({ hb: { minMs: this.serverMinMs } });
    }
    if (!s.live) return;
    const frames = s.frames();
    for (; st.frames < frames.length; st.frames++) {
      if (!st.dead && now - st.last >= this.natMs) { st.dead = true; this.deaths++; }
      if (st.dead) continue;
      st.last = now;
      if (frames[st.frames]!.op === 'heartbeat') s.heartbeatAck();
    }
  }
}

function client(world: FakeNatWorld, over: Partial<ClientOptions> = {}): { c: LonglinkClient; intervals: IntervalEvent[] } {
  const c = new LonglinkClient({
    url: 'ws://gw.test/ws', token: 't', transport: world.tr.factory, timers: world.timers, random: () => 0.5,
    heartbeat: { minMs: 1000, maxMs: 10_000, stepMs: 1000, marginMs: 200, successesToStep: 2, failuresToBackOff: 2, timeoutMs: 60_000 },
    backoff: { baseMs: 200, capMs: 2000, healthyAfterMs: 1000 },
    ...over,
  });
  const intervals: IntervalEvent[] = [];
  c.on('interval', (e) => intervals.push(e));
  return { c, intervals };
}

test('converges just below the NAT timeout, then holds with no more losses', async () => {
  const world = new FakeNatWorld(5500);
  const { c, intervals } = client(world);
  c.connect();
  await world.run(120_000);
  assert.equal(c.heartbeatStable, true);
  assert.equal(c.heartbeatIntervalMs, 4800, '6000 failed twice: 5000 survived, minus the 200 margin');
  assert.deepEqual(intervals.map((e) => `${e.reason}:${e.toMs}`), ['step-up:2000', 'step-up:3000', 'step-up:4000', 'step-up:5000', 'step-up:6000', 'settle:4800']);
  assert.equal(world.deaths, 2, 'exactly the two failed probes at 6000');
  const zombies = c.stats.zombies;
  await world.run(600_000, 50); // ten more fake minutes idle
  assert.equal(c.stats.zombies, zombies, 'no connection lost after convergence');
  assert.equal(c.state, 'connected');
});

test('a 2-minute carrier NAT under Mars\' 3.5-minute minimum: descends below it (server minimum 30 s) and stays connected', async () => {
  const world = new FakeNatWorld(120_000, 30_000);
  const { c, intervals } = client(world, { heartbeat: { ...MARS_DEFAULTS } });
  c.connect();
  await world.run(2 * 3_600_000, 1000);
  assert.equal(c.heartbeatStable, true);
  // 210 s dies twice, 150 s dies twice, 90 s survives five probes: settle at 90 − 20.
  assert.deepEqual(intervals.map((e) => `${e.reason}:${e.toMs / 1000}`), ['below-min:150', 'below-min:90', 'settle:70']);
  assert.equal(world.deaths, 4);
  const deaths = world.deaths;
  const before = c.stats.heartbeatsSent;
  await world.run(3_600_000, 1000);
  assert.equal(world.deaths, deaths, 'no connection lost after convergence');
  assert.equal(c.state, 'connected');
  const perHour = c.stats.heartbeatsSent - before;
  assert.ok(perHour >= 51 && perHour <= 52, `${perHour}/h at 70 s`);
  c.close();
});

test('Mars defaults at a 5-minute NAT: settles at 250 s; heartbeats per hour vs fixed 30 s', async () => {
  const world = new FakeNatWorld(300_000);
  const { c } = client(world, { heartbeat: { ...MARS_DEFAULTS } });
  c.connect();
  await world.run(4 * 3_600_000, 1000);
  assert.equal(c.heartbeatIntervalMs, 330_000 - 60_000 - 20_000);
  const before = c.stats.heartbeatsSent;
  await world.run(3_600_000, 1000);
  const smartPerHour = c.stats.heartbeatsSent - before;
  assert.ok(smartPerHour >= 14 && smartPerHour <= 15, `smart: ${smartPerHour}/h`);

  const fixedWorld = new FakeNatWorld(300_000);
  const fixed = client(fixedWorld, { heartbeat: { smart: false, intervalMs: 30_000 } }).c;
  fixed.connect();
  await fixedWorld.run(60_000, 1000);
  const b2 = fixed.stats.heartbeatsSent;
  await fixedWorld.run(3_600_000, 1000);
  assert.equal(fixed.stats.heartbeatsSent - b2, 120);
});

test('the NAT timeout drops under a stable interval: two losses, restart from the minimum, re-converge', async () => {
  const world = new FakeNatWorld(5500);
  const { c, intervals } = client(world);
  c.connect();
  await world.run(120_000);
  assert.equal(c.heartbeatIntervalMs, 4800);
  world.natMs = 2500;
  intervals.length = 0;
  await world.run(120_000);
  assert.deepEqual(intervals.map((e) => `${e.reason}:${e.toMs}`), ['restart:1000', 'step-up:2000', 'step-up:3000', 'settle:1800']);
  assert.equal(c.state, 'connected');
});

test('per network memory: a switch checks the link at once, learns the new network, and restores the old one', async () => {
  const world = new FakeNatWorld(5500);
  const net = new ManualNetwork('wifi');
  const storage = new MemoryStorage();
  const { c } = client(world, { network: net, storage, heartbeat: { minMs: 1000, maxMs: 10_000, stepMs: 1000, marginMs: 200, successesToStep: 2, timeoutMs: 3000 } });
  c.connect();
  await world.run(120_000);
  assert.equal(c.heartbeatIntervalMs, 4800);

  // Switch to cellular: the old path dies silently; the client checks it at once.
  const sockets = world.tr.count;
  const t0 = world.timers.now();
  world.dropAll();
  world.natMs = 2500;
  net.switchTo('cell');
  let lostAt = 0;
  c.once('disconnected', () => { lostAt = world.timers.now(); });
  await world.run(10_000);
  assert.ok(lostAt - t0 <= 3000 + 20, `dead link found within the timeout, not a whole interval: ${lostAt - t0} ms`);
  assert.ok(world.tr.count > sockets);
  assert.equal(c.network, 'cell');
  await world.run(120_000);
  assert.equal(c.heartbeatIntervalMs, 1800);

  // Back to Wi-Fi: the learned 4800 is used from the first connection on.
  world.dropAll();
  world.natMs = 5500;
  net.switchTo('wifi');
  await world.run(8000);
  assert.equal(c.heartbeatIntervalMs, 4800);
  assert.equal(world.tr.last.url.searchParams.get('hb'), '4800');

  // A new client on the same storage starts from what was learned.
  const again = client(new FakeNatWorld(5500), { network: new ManualNetwork('cell'), storage }).c;
  again.connect();
  await flushMicrotasks();
  assert.equal(again.heartbeatIntervalMs, 1800);
});
