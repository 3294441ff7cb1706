/**
 * A session start the router does not answer in time is overload, not a
 * failure: the gateway closes it with 1013 TRY_AGAIN_LATER after a
 * `reconnect` frame with a delay (booked like a router's shed), and the
 * client is told when to come back. 1011 stays for starts that genuinely
 * failed (no router listening, a store error).
 *
 * Real processes. The router is stopped (SIGSTOP, as a CPU-starved router
 * whose event loop does not run) for longer than the gateway's resume
 * timeout while clients connect: admission lets them in (the limit learns
 * of the stall only from the starts' age), their resume requests sit in the
 * router's socket, and the gateway's deadline passes. Before, every one of
 * them closed 1011 'session service unavailable, retry' with no delay; the
 * clients then came back at once into the same stall.
 */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import type { TestClient } from '../helpers/client.js';
import { stalledRouter } from '../helpers/stalled-router.js';

const CLIENTS = 30;
const RESUME_TIMEOUT_MS = 1200;

describe('a session start that times out at the gateway', () => {
  const rig = stalledRouter();

  it('is closed 1013 with a delay to come back after, never 1011; back after the delay, every client starts', async () => {
    await rig.start({ LONGLINK_SESSION_START_TARGET_MS: '400', LONGLINK_RESUME_TIMEOUT_MS: String(RESUME_TIMEOUT_MS) });
    const warm = await rig.attempt(await rig.token('warm', 'd'));
    assert.ok(warm.ok, 'the warm-up client is admitted');
    await warm.client.frame('hello');

    const tokens = await Promise.all(Array.from({ length: CLIENTS }, (_, i) => rig.token(`stalled-${i}`, 'd')));
    rig.stall();
    let started: TestClient[];
    try {
      const opened = await Promise.all(tokens.map((token) => rig.attempt(token)));
      started = opened.flatMap((o) => (o.ok ? [o.client] : []));
      assert.ok(started.length >= CLIENTS / 2, `most upgrades accepted (${started.length} of ${CLIENTS}): the limit has room until the starts age`);
      // Past the gateway's deadline for every start (the timeout in use is at most RESUME_TIMEOUT_MS).
      await Promise.all(started.map((x) => x.closeEvent(RESUME_TIMEOUT_MS + 4000)));
    } finally {
      rig.resume();
    }
    const codes = started.map((x) => x.closed!.code);
    assert.deepEqual(codes.filter((code) => code === 1011), [], `no 1011 for a start the router did not answer in time: ${JSON.stringify(started.map((x) => x.closed))}`);
    const delays: number[] = [];
    for (const x of started) {
      assert.equal(x.closed!.code, 1013, `closed TRY_AGAIN_LATER: ${JSON.stringify(x.closed)}`);
      const hint = x.frames.find((f) => f.op === 'reconnect');
      assert.ok(hint !== undefined && hint.op === 'reconnect' && hint.delayMs > 0, `told when to come back: ${JSON.stringify(x.frames)}`);
      delays.push(hint.delayMs);
    }
    assert.ok(Math.min(...delays) >= 250, `delays ${Math.min(...delays)}-${Math.max(...delays)} ms: not an immediate retry into the stall`);

    // Each comes back after its delay (as the SDK does) and starts: the router runs again.
    const back = await Promise.all(started.map((_, i) => rig.comeBack(tokens[i]!, delays[i]!)));
    assert.equal(back.filter(Boolean).length, started.length, 'every refused client started on its return');
  });
});
