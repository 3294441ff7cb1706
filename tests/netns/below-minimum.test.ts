/**
 * Scenario 5 on a real kernel NAT: the carrier forgets idle mappings after
 * 2 minutes, the SDK's minimum is Mars' 3.5 minutes (scale 1:60). By Mars'
 * rules every connection would die on every beat forever; the SDK descends
 * below its minimum (not below the server's) and stays connected.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { natBelowMinimum } from '../../infra/netns/scenarios/heartbeat.js';

test('a NAT timeout below the SDK minimum: descends below it, converges, stays connected', { timeout: 180_000 }, async () => {
  const f = await natBelowMinimum({ holdMs: 15_000 });
  console.log(JSON.stringify(f));
  const learned = f.learnedMs as number;
  assert.equal(f.stable, true);
  assert.ok(learned < 2000, `below the NAT timeout: ${learned}`);
  assert.ok(learned >= 500, `not below the server minimum: ${learned}`);
  assert.ok((f.intervals as string[]).some((s) => s.startsWith('below-min:')), String(f.intervals));
  assert.equal(f.disconnectsAfter, 0, `stays connected once converged: ${JSON.stringify(f.disconnects)}`);
  assert.equal(f.state, 'connected');
  assert.equal((f.pushes as { lost: number }).lost, 0);
});
