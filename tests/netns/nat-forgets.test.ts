/**
 * Scenario 2 on a real kernel NAT: the carrier forgets a mapping while the
 * link is idle (conntrack entry deleted; then expired by a lower timeout).
 * Mid-stream packets of the forgotten flow are dropped both ways (no RST).
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { natForgetsMapping } from '../../infra/netns/scenarios/heartbeat.js';

test('the NAT forgets a mapping: zombie found within the bound, resume with 0 lost, gateway closes the half-open side', { timeout: 120_000 }, async () => {
  const f = await natForgetsMapping();
  console.log(JSON.stringify(f));
  const bound = f.clientBoundMs as number;
  const deadline = f.gatewayDeadlineMs as number;
  for (const k of f.cases as Array<Record<string, number | boolean | string>>) {
    assert.equal(k.zombie, true, `${k.how}: detected as a zombie (no close, no reset reached the client)`);
    // The documented bound counts from the last frame received: the beat goes out one interval later, the zombie wait follows.
    // Slack: timers and process hops on a loaded 2-core machine.
    assert.ok((k.sinceLastFrameMs as number) <= bound + 500, `${k.how}: detected ${k.sinceLastFrameMs} ms after the last frame received, bound ${bound}`);
    if (k.how === 'deleted') assert.ok((k.detectMs as number) <= bound + 500, `deleted: detected ${k.detectMs} ms after the NAT forgot`);
    assert.equal(k.resumed, true, `${k.how}: resumed the session`);
    assert.equal(k.lost, 0, `${k.how}: pushes into the dead path all arrived after the resume`);
    assert.ok((k.pushesIntoDeadPath as number) >= 1);
    assert.equal(k.oldConnReplacedByResume, true, `${k.how}: the resume replaced the old connection in presence`);
    assert.equal(k.gatewayHeartbeatTimeouts, 1, `${k.how}: the half-open connection of the cut-off client was closed by the heartbeat deadline (not by a reset)`);
    const gone = k.halfOpenClosedAfterMs as number;
    assert.ok(gone > 0 && gone <= deadline + 1500, `${k.how}: presence dropped it ${gone} ms after the NAT forgot (deadline ${deadline} from its last beat)`);
  }
});
