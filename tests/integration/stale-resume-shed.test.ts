/**
 * A router that reads session starts late does not work on the ones whose
 * gateway already gave up (core/request-age.ts, work-queue.ts).
 *
 * Real processes. The router is stopped (SIGSTOP, as a CPU-starved router
 * or a long GC) while clients connect, for longer than the gateway's resume
 * timeout: the gateway answers each client with a `reconnect` frame and 1013
 * while their resume requests sit unread in the router's socket. Continued,
 * the router reads them all at once. Before, its queue deadlines counted from
 * that read, so it started every one of them: a session, a presence entry and
 * an inbox read each for connections already closed, work a storm can least
 * afford. Now each request carries its send time on the gateway's clock; the
 * router estimates the clocks' offset from earlier requests and drops these
 * unstarted (counted in longlink_router_resumes_aged_out_total). The clients
 * that come back afterwards all start.
 */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { setTimeout as sleep } from 'node:timers/promises';
import type { TestClient } from '../helpers/client.js';
import { stalledRouter } from '../helpers/stalled-router.js';
import { until } from '../helpers/until.js';

const CLIENTS = 30;
const RESUME_TIMEOUT_MS = 1200;

/** The router's resume counters: every start that did store work, and the ones dropped for their age. */
async function resumeCounters(apiUrl: string): Promise<{ started: number; agedOut: number }> {
  const text = await (await fetch(`${apiUrl}/metrics`)).text();
  let started = 0;
  for (const m of text.matchAll(/^longlink_router_resumes_total\{outcome="[^"]+"\} (\d+)$/gm)) started += Number(m[1]);
  const aged = /^longlink_router_resumes_aged_out_total (\d+)$/m.exec(text);
  return { started, agedOut: aged ? Number(aged[1]) : -1 };
}

describe('session starts read after their gateway gave up', () => {
  const rig = stalledRouter();

  it('are dropped by the router without store work; the clients that come back all start', async () => {
    const c = await rig.start({ LONGLINK_SESSION_START_TARGET_MS: '400', LONGLINK_RESUME_TIMEOUT_MS: String(RESUME_TIMEOUT_MS) });
    const apiUrl = c.routers[0]!.apiUrl;
    // A few starts before the stall: the router learns the gateway clock's offset from them.
    for (let i = 0; i < 3; i++) {
      const warm = await rig.attempt(await rig.token(`warm-${i}`, 'd'));
      assert.ok(warm.ok, 'a warm-up client is admitted');
      await warm.client.frame('hello');
    }
    const before = await resumeCounters(apiUrl);
    assert.equal(before.started, 3);

    const tokens = await Promise.all(Array.from({ length: CLIENTS }, (_, i) => rig.token(`stalled-${i}`, 'd')));
    rig.stall();
    let stalled: TestClient[];
    let stalledTokens: string[];
    try {
      const opened = await Promise.all(tokens.map((token) => rig.attempt(token)));
      stalled = opened.flatMap((o) => (o.ok ? [o.client] : []));
      stalledTokens = tokens.filter((_, i) => opened[i]!.ok);
      assert.ok(stalled.length >= CLIENTS / 2, `most upgrades accepted (${stalled.length} of ${CLIENTS})`);
      await Promise.all(stalled.map((x) => x.closeEvent(RESUME_TIMEOUT_MS + 4000)));
      await sleep(300);
    } finally {
      rig.resume();
    }
    for (const x of stalled) assert.equal(x.closed!.code, 1013, `the gateway gave up on the start: ${JSON.stringify(x.closed)}`);

    // The router reads the backlog at once: every request there is older than its budget.
    // (Before, every one of them started: done once started or dropped.)
    await until(async () => {
      const n = await resumeCounters(apiUrl);
      return n.started - before.started + Math.max(0, n.agedOut) >= stalled.length;
    }, 10_000, 'the backlog read');
    await sleep(500);
    const after = await resumeCounters(apiUrl);
    assert.ok(after.started - before.started <= 1, `store work for ${after.started - before.started} of ${stalled.length} starts whose gateway gave up`);
    assert.equal(after.agedOut, stalled.length, 'each counted once');

    // Back after their delay, every client starts: fresh requests are not taken for old ones.
    const back = await Promise.all(stalled.map((x, i) => {
      const hint = x.frames.find((f) => f.op === 'reconnect');
      return rig.comeBack(stalledTokens[i]!, hint !== undefined && hint.op === 'reconnect' ? hint.delayMs : 1000);
    }));
    assert.equal(back.filter(Boolean).length, stalled.length, 'every client started on its return');
    assert.equal((await resumeCounters(apiUrl)).agedOut, stalled.length, 'no fresh start dropped');
  });
});
