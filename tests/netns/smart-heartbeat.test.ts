/**
 * Scenario 1 on a real kernel NAT (namespaces, conntrack): the smart
 * heartbeat learns an interval just below the carrier's timeout and stays
 * there; no push lost; heartbeats per hour against a fixed 30 s heartbeat.
 * Scale 1:100 (T = 3 s stands for 5 minutes). Full-length run: npm run bench:netns.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { smartHeartbeatThroughNat } from '../../infra/netns/scenarios/heartbeat.js';

test('smart heartbeat through a real NAT: learns just below T, holds, 0 pushes lost', { timeout: 180_000 }, async () => {
  const f = await smartHeartbeatThroughNat({ steadyMs: 15_000 });
  console.log(JSON.stringify(f));
  const learned = f.learnedMs as number;
  assert.equal(f.stable, true);
  assert.ok(learned < 3000, `settled below T: ${learned}`);
  assert.ok(learned >= 3000 - 500 - 250, `within step + margin of T: ${learned} (${String(f.intervals)})`);
  assert.equal(f.steadyDisconnects, 0, `no connection lost once learned: ${JSON.stringify(f.disconnects)}`);
  assert.equal(f.fixedDisconnects, 0, 'the fixed 30 s client never idles long enough to be forgotten');
  const h = f.heartbeatsPerScaledHour as { smart: number; fixed30s: number };
  assert.ok(h.fixed30s > 100 && h.fixed30s < 130, `fixed 30 s: about 120 beats per hour, got ${h.fixed30s}`);
  assert.ok(h.smart < h.fixed30s / 5, `smart beats far less: ${h.smart}/h`);
  const p = f.pushes as { accepted: number; lost: number };
  assert.ok(p.accepted >= 4, `pushes accepted: ${p.accepted}`);
  assert.equal(p.lost, 0);
});
