/**
 * Scenario 3 on real namespaces: a mobile link of 150 ms RTT ± 50 ms and 3 %
 * loss each way (NFQUEUE delayer + iptables statistic) between a client host
 * and the carrier NAT, a clean host beside it as the baseline. No spurious
 * heartbeat timeouts; push p50/p99 both ways reported. 60 s here; several
 * minutes in npm run bench:netns.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { lossySlowLink } from '../../infra/netns/scenarios/network.js';

test('a lossy, slow mobile link: no spurious heartbeat timeouts, push latency reported, 0 lost', { timeout: 240_000 }, async () => {
  const f = await lossySlowLink({ durationMs: 60_000 });
  console.log(JSON.stringify(f));
  const m = f.mobile as { heartbeatAcks: number; disconnects: number; zombies: number; lost: unknown[]; heartbeatRttMs: { p50: number }; push: { p50: number; p99: number; n: number } };
  const w = f.clean as { push: { p50: number } };
  assert.ok(m.heartbeatAcks >= 60, `heartbeats went through: ${m.heartbeatAcks}`);
  assert.equal(m.zombies, 0, `no spurious heartbeat timeout: ${JSON.stringify(m.lost)}`);
  assert.equal(m.disconnects, 0, `no connection lost: ${JSON.stringify(m.lost)}, gateway closes ${JSON.stringify(f.gatewayCloses)}`);
  assert.ok(m.heartbeatRttMs.p50 >= 100 && m.heartbeatRttMs.p50 <= 400, `the link really is slow: heartbeat RTT p50 ${m.heartbeatRttMs.p50}`);
  assert.ok((f.packetsDroppedByLossRule as number) > 0, 'and really lossy');
  assert.ok(m.push.n >= 80 && m.push.p50 > w.push.p50, `push p50 mobile ${m.push.p50} vs clean ${w.push.p50}`);
  assert.equal((f.pushes as { lost: number }).lost, 0);
});
