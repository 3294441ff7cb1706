/**
 * What happens when the NAT changes under a client that had already learned
 * its interval — real gateway, real NAT simulator, Node `ws`, scaled time
 * (1 real s = 100 scaled s: T = 3 s stands for 5 minutes, 1.5 s for 2.5 min).
 *
 * The learned state for network 'wifi' (2.25 s, stable: what
 * sdk-nat-heartbeat.test.ts learns at T = 3 s) is seeded into the client's
 * storage, so these tests start converged.
 */
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { startRig, type Rig } from '../../loadtest/nat-sim/harness.js';
import { HeartbeatMemory, ManualNetwork, MemoryStorage, createClient, type LonglinkClient } from '../../sdk/src/node.js';
import { waitForEvent } from '../../sdk/src/testing.js';

const HB = { minMs: 500, maxMs: 6000, stepMs: 500, marginMs: 250, successesToStep: 2, failuresToBackOff: 2, timeoutMs: 1000 };
const LEARNED_WIFI = 2250;
/** Detection budget: one interval + the timeout, plus slack for a loaded 2-core machine. */
const SLACK_MS = 1500;

let rig: Rig;
before(async () => { rig = await startRig({ natTimeoutMs: 3000 }); });
after(async () => { await rig.close(); });

async function seededClient(user: string, net: ManualNetwork): Promise<{ c: LonglinkClient; data: unknown[]; log: string[] }> {
  const storage = new MemoryStorage();
  await new HeartbeatMemory(storage).save('wifi', { intervalMs: LEARNED_WIFI, stable: true, successes: 0, failures: 0, modifiedAt: Date.now() });
  const c = createClient({
    url: rig.url, device: 'phone', token: () => rig.token(user, 'phone'), heartbeat: HB, storage, network: net,
    backoff: { baseMs: 100, capMs: 1000, healthyAfterMs: 500 }, ackDelayMs: 20,
  });
  const data: unknown[] = [];
  const log: string[] = [];
  c.on('push', (p) => data.push(p.data));
  c.on('interval', (e) => log.push(`${e.network}:${e.reason}:${e.toMs}`));
  c.on('disconnected', (d) => log.push(`lost:${d.code}${d.zombie ? ':zombie' : ''}`));
  c.on('connected', (e) => log.push(`up:${e.intervalMs}${e.resumed ? ':resumed' : ''}`));
  return { c, data, log };
}

/** Resolves after `n` acked probes (survived idle periods at the current interval). */
function probes(c: LonglinkClient, n: number, timeoutMs: number): Promise<void> {
  let k = 0;
  return waitForEvent(c, 'heartbeatAck', (a) => a.kind === 'probe' && ++k >= n, timeoutMs, `${n} probes`).then(() => {});
}

test('T drops under the learned interval: dead link found within interval + timeout, resume loses no push, back off and re-converge', async () => {
  rig.proxy.setIdleTimeout(3000);
  const { c, data, log } = await seededClient('ursula', new ManualNetwork('wifi'));
  try {
    c.connect();
    await c.whenConnected(10_000);
    assert.equal(c.heartbeatIntervalMs, LEARNED_WIFI, 'starts from what storage remembers');
    await rig.push('ursula', 'before');
    await probes(c, 2, 15_000);

    // The carrier shortens its NAT timeout: the next idle period kills the mapping silently.
    const expired = new Promise<void>((resolve) => {
      const off = rig.proxy.subscribe((ev) => { if (ev.type === 'expire') { off(); resolve(); } });
    });
    const lost = waitForEvent(c, 'disconnected', () => true, 15_000, 'the dead link to be detected');
    const t0 = performance.now();
    rig.proxy.setIdleTimeout(1500);
    await expired;
    await rig.push('ursula', 'while dead'); // swallowed by the NAT; must come back on resume
    const d = await lost;
    const detectMs = performance.now() - t0;
    assert.equal(d.zombie, true, log.join(' '));
    assert.ok(detectMs <= LEARNED_WIFI + HB.timeoutMs + SLACK_MS, `detected in ${Math.round(detectMs)} ms`);

    const back = await waitForEvent(c, 'connected', () => true, 10_000, 'reconnect');
    assert.equal(back.resumed, true);
    await waitForEvent(c, 'interval', (e) => e.stable && e.toMs < 1500, 60_000, 're-convergence below the new T').catch((e: Error) => {
      throw new Error(`${e.message}: ${log.join(' ')}`);
    });
    assert.ok(log.some((l) => l === 'wifi:restart:500'), `two losses at the stable value restart probing from the minimum: ${log.join(' ')}`);
    assert.equal(c.heartbeatIntervalMs, 750, log.join(' '));

    await rig.push('ursula', 'after');
    await c.whenConnected(10_000);
    await probes(c, 3, 15_000);
    assert.deepEqual(data, ['before', 'while dead', 'after'], 'each push once, in order');
  } finally {
    c.close();
  }
});

test('network switch: the dead path is found at once, the new network is learned, the old one restored on return', async () => {
  rig.proxy.setIdleTimeout(3000);
  const net = new ManualNetwork('wifi');
  const { c, data, log } = await seededClient('victor', net);
  try {
    c.connect();
    await c.whenConnected(10_000);
    await probes(c, 1, 10_000);

    // Wi-Fi → cellular: every old mapping is gone, and the new NAT has T = 1.5 s.
    const lost = waitForEvent(c, 'disconnected', () => true, 10_000, 'the switch to be noticed');
    const t0 = performance.now();
    rig.proxy.dropLink();
    rig.proxy.setIdleTimeout(1500);
    net.switchTo('cell');
    await rig.push('victor', 'during switch');
    await lost;
    const detectMs = performance.now() - t0;
    assert.ok(detectMs <= HB.timeoutMs + SLACK_MS, `a link check finds the dead path within the timeout: ${Math.round(detectMs)} ms`);
    const up = await waitForEvent(c, 'connected', () => true, 10_000, 'reconnect on cell');
    assert.equal(up.intervalMs, HB.minMs, 'nothing learned on cell yet: start at the minimum');
    await waitForEvent(c, 'interval', (e) => e.network === 'cell' && e.stable, 60_000, 'cell to settle').catch((e: Error) => {
      throw new Error(`${e.message}: ${log.join(' ')}`);
    });
    assert.equal(c.heartbeatIntervalMs, 750);

    // Back to Wi-Fi: the remembered 2.25 s applies from the first connection.
    const back = waitForEvent(c, 'connected', () => true, 10_000, 'reconnect on wifi');
    rig.proxy.dropLink();
    rig.proxy.setIdleTimeout(3000);
    net.switchTo('wifi');
    const upAgain = await back;
    assert.equal(upAgain.intervalMs, LEARNED_WIFI, log.join(' '));
    let lostAgain = 0;
    const off = c.on('disconnected', () => { lostAgain++; });
    await probes(c, 3, 20_000);
    off();
    assert.equal(lostAgain, 0, log.join(' '));
    assert.deepEqual(data, ['during switch']);
  } finally {
    c.close();
  }
});
