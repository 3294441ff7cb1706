/**
 * The line of refused session starts (services/gateway/core/return-line.ts),
 * on real processes: a client refused 503 because the session-start limit
 * was full, and back at the time it was told, is admitted although the limit
 * is still full (within a bounded overshoot), ahead of clients refused after
 * it; back early, it is told the rest of its wait instead of a new, later
 * place. Before the line, it was refused again and booked behind everyone
 * refused in between: a crowd retrying in lockstep paid a handshake per
 * refusal, and the same clients could be refused over and over.
 *
 * The limit is held full by starts the router cannot answer (SIGSTOP), the
 * limit pinned at 4 (LONGLINK_MAX_STARTING_SESSIONS 4: floor = ceiling).
 */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { setTimeout as sleep } from 'node:timers/promises';
import { outcome, pinnedLimitEnv, stalledRouter, waitOf } from '../helpers/stalled-router.js';

describe('refused session starts keep their place in line', () => {
  const rig = stalledRouter();

  it('a client back on its booked time is admitted over the full limit; early, it keeps its place; the overshoot is bounded', async () => {
    await rig.start(pinnedLimitEnv(5000));
    const token = (u: string): Promise<string> => rig.token(u, 'd');
    const [holders, a, b, fresh] = [await Promise.all([0, 1, 2, 3].map((i) => token(`holder-${i}`))), await token('a'), await token('b'), await token('fresh')];
    rig.stall();
    try {
      for (const h of holders) assert.equal((await rig.attempt(h)).ok, true, 'the limit has room for 4 starts');
      await sleep(100);

      const a1 = await rig.attempt(a);
      assert.ok(!a1.ok && a1.status === 503 && /LL_ADMISSION_STARTING/.test(a1.body), `a refused: ${outcome(a1)}`);
      const t1 = performance.now();
      const wA = waitOf(a1);
      assert.ok(wA >= 500, `a told ${wA} ms`);
      const b1 = await rig.attempt(b);
      assert.ok(!b1.ok && b1.status === 503, 'b refused after a');
      const wB = waitOf(b1);

      // Back early (a client that retries on its own clock): the rest of its wait, not a new place behind b.
      await sleep(200);
      const a2 = await rig.attempt(a);
      assert.ok(!a2.ok && a2.status === 503, 'a, early, still refused');
      const left = wA - (performance.now() - t1);
      assert.ok(waitOf(a2) <= left + 150 && waitOf(a2) >= left - 250, `a told ${waitOf(a2)} ms the second time, ${Math.round(left)} ms left of its first wait`);

      // On time: admitted, though the 4 starts still hold the limit.
      await sleep(Math.max(0, wA - (performance.now() - t1)) + 50);
      const a3 = await rig.attempt(a);
      assert.equal(a3.ok, true, `a, back on its time, admitted over the full limit: ${outcome(a3)}`);
      // A client never refused is not: the limit is still full.
      const f1 = await rig.attempt(fresh);
      assert.ok(!f1.ok && f1.status === 503, 'a fresh client is refused while the limit is full');
      // The overshoot is a quarter of the limit (1 here), used up by a: b, on its time too, is refused again.
      await sleep(Math.max(0, wB - (performance.now() - t1)) + 50);
      const b2 = await rig.attempt(b);
      assert.ok(!b2.ok && b2.status === 503, 'no room above the overshoot');
    } finally {
      rig.resume();
    }
    // a's start was real: the router answers it once it runs again.
    const admitted = rig.clients.at(-1)!;
    await admitted.frame('hello', 0, 15_000);
  });
});

describe('a client told a wait past the schedule horizon holds no slot', () => {
  const rig = stalledRouter();

  it('back on its time into the full limit it is refused (and booked now); the client the schedule booked for that time is admitted', async () => {
    // Target 8 s: the schedule books one return a second (slots 0.5 … 9.5 s: ten clients), the held starts time out only at 24 s.
    await rig.start(pinnedLimitEnv(8000));
    const names = [...[0, 1, 2, 3].map((i) => `holder-${i}`), ...Array.from({ length: 10 }, (_, i) => `booked-${i}`), 'past-1', 'past-2'];
    const tokens = new Map(await Promise.all(names.map(async (n) => [n, await rig.token(n, 'd')] as const)));
    const attempt = (n: string): ReturnType<typeof rig.attempt> => rig.attempt(tokens.get(n)!);
    rig.stall();
    try {
      for (let i = 0; i < 4; i++) assert.equal((await attempt(`holder-${i}`)).ok, true, 'the limit has room for 4 starts');
      await sleep(100);
      const t0 = performance.now();
      const due = new Map<string, number>();
      for (const n of names.slice(4)) {
        const r = await attempt(n);
        assert.ok(!r.ok && r.status === 503, `${n} refused`);
        due.set(n, performance.now() + waitOf(r));
      }
      assert.ok(performance.now() - t0 < 450, 'the twelve refusals came within the first slot: the last two got no slot within 10 s');
      await sleep(Math.max(...due.values()) - performance.now() + 50);
      for (const n of ['past-1', 'past-2']) {
        const r = await attempt(n);
        assert.ok(!r.ok && r.status === 503, `${n}, told the horizon with no slot reserved, is not admitted over the limit: ${outcome(r)}`);
        assert.ok(waitOf(r) < 5000, `${n} takes a slot now, not the horizon (told ${waitOf(r)} ms)`);
      }
      assert.equal((await attempt('booked-9')).ok, true, 'the client booked for the last slot is admitted over the full limit');
    } finally {
      rig.resume();
    }
  });
});
