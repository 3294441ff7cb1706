/**
 * Smart heartbeat through a real NAT simulator and a real gateway, on scaled
 * time. Scale: 1 real second = 100 scaled seconds, so the NAT's T = 3 s stands
 * for a 5-minute carrier NAT, and the 15 s idle check for 25 minutes.
 *
 * SDK: min 0.5 s, max 6 s, step 0.5 s, margin 0.25 s, 2 successes to step up,
 * 2 failures to back off, heartbeat timeout 1 s. Expected: probes 0.5 … 2.5 s
 * survive, 3.0 s dies twice (idle >= T), so it settles at 2.5 − 0.25 = 2.25 s.
 */
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { startRig, type Rig } from '../../loadtest/nat-sim/harness.js';
import { createClient, type IntervalEvent } from '../../sdk/src/node.js';
import { waitForEvent } from '../../sdk/src/testing.js';

const NAT_MS = 3000;
const HB = { minMs: 500, maxMs: 6000, stepMs: 500, marginMs: 250, successesToStep: 2, failuresToBackOff: 2, timeoutMs: 1000 };

let rig: Rig;
before(async () => { rig = await startRig({ natTimeoutMs: NAT_MS }); });
after(async () => { await rig.close(); });

test('learns an interval just below the NAT timeout, then loses no connection over a long idle period', async () => {
  const c = createClient({
    url: rig.url, device: 'idle', token: () => rig.token('nat-user', 'idle'), heartbeat: HB,
    backoff: { baseMs: 100, capMs: 1000, healthyAfterMs: 500 },
  });
  const log: string[] = [];
  const intervals: IntervalEvent[] = [];
  c.on('interval', (e) => { intervals.push(e); log.push(`${e.reason}:${e.toMs}`); });
  c.on('disconnected', (d) => log.push(`lost:${d.code}${d.zombie ? ':zombie' : ''}`));
  try {
    c.connect();
    await waitForEvent(c, 'interval', (e) => e.stable, 75_000, 'the interval to settle');
    const learned = c.heartbeatIntervalMs;
    assert.ok(learned < NAT_MS, `settled below T: ${learned} (${log.join(' ')})`);
    assert.ok(learned >= NAT_MS - HB.stepMs - HB.marginMs, `and close to it: ${learned} (${log.join(' ')})`);
    assert.equal(learned, 2250, log.join(' '));
    // Every loss during learning was a probe at or above T.
    const failedAt = intervals.filter((e) => e.reason === 'settle').map((e) => e.fromMs);
    assert.deepEqual(failedAt, [3000]);

    // Sustained idleness: 15 s real = 25 scaled minutes, no connection lost to the NAT.
    await c.whenConnected(10_000);
    const zombies = c.stats.zombies;
    const session = c.session;
    const acksBefore = c.stats.heartbeatAcks;
    let lost = 0;
    const off = c.on('disconnected', () => { lost++; });
    const t0 = performance.now();
    await new Promise<void>((resolve) => {
      // Count time by heartbeat acks rather than sleeping: each ack is a survived idle period.
      const offAck = c.on('heartbeatAck', () => {
        if (performance.now() - t0 >= 15_000) { offAck(); resolve(); }
      });
    });
    off();
    assert.equal(lost, 0, log.join(' '));
    assert.equal(c.stats.zombies, zombies);
    assert.equal(c.session, session);
    const beats = c.stats.heartbeatAcks - acksBefore;
    assert.ok(beats >= 5 && beats <= 8, `about one beat per 2.25 s over 15 s: ${beats}`);
    assert.equal(rig.proxy.stats.expired, 2, 'the NAT expired exactly the two probes at 3 s');
  } finally {
    c.close();
  }
});
