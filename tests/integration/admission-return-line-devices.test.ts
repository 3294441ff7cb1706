/**
 * The return line against one token naming made-up devices, on real
 * processes (a gateway whose session-start limit is held full by starts the
 * router cannot answer, SIGSTOP; limit pinned at 4). A token without a
 * device claim lets the client name any device; its user holds at most 16
 * tickets (RETURN_TICKETS_PER_USER), but on the previous code every refusal
 * past them still booked a slot of the return timetable (~250 ms slots at
 * this limit): 100 such refusals pushed the next other client's return from
 * ~4.5 s to the 10 s horizon, past which it has no claim above the limit. Now a refusal
 * its user's tickets cannot remember books nothing: it is told to come back
 * after the line, and the other client gets the slot after the 16 booked.
 */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { setTimeout as sleep } from 'node:timers/promises';
import { pinnedLimitEnv, stalledRouter, waitOf } from '../helpers/stalled-router.js';

describe('return line: one token, many devices', () => {
  const rig = stalledRouter();

  it('refusals past its user\'s 16 tickets book no slot: another client\'s return is not pushed to the horizon', async () => {
    await rig.start(pinnedLimitEnv(1000));
    rig.stall();
    for (let i = 0; i < 4; i++) assert.ok((await rig.attempt(await rig.token(`holder-${i}`, 'd'))).ok, 'the limit has room for 4 starts');
    await sleep(100);
    const mallory = await rig.token('mallory'); // no device claim
    const waits: number[] = [];
    for (let i = 0; i < 100; i++) {
      const r = await rig.attempt(mallory, { device: `made-up-${i}` });
      assert.ok(!r.ok && r.status === 503, `refused: ${r.ok ? 'admitted' : r.status}`);
      waits.push(waitOf(r));
    }
    const other = await rig.attempt(await rig.token('other', 'phone'));
    assert.ok(!other.ok && other.status === 503);
    const w = waitOf(other);
    assert.ok(w < Math.max(...waits.slice(0, 16)) + 1000, `the other client is told ${w} ms (mallory's 16 booked: up to ${Math.max(...waits.slice(0, 16))} ms)`);
    assert.ok(w < 7000, `the other client is told ${w} ms, not the horizon`);
    assert.ok(waits.slice(16).every((x) => x >= Math.max(...waits.slice(0, 16)) * 0.9), 'past its tickets, told to come back after the line');
  });
});
