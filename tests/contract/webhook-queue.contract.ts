/**
 * The webhook queue contract (services/router/webhooks/core/queue.ts), run
 * against every adapter (webhook-queue.test.ts: memory and JetStream). Each
 * case uses its own endpoint name, so adapters may share one queue.
 */
import { it } from 'node:test';
import assert from 'node:assert/strict';
import type { LeasedJob, WebhookEvent, WebhookQueue } from '../../services/router/webhooks/core/queue.js';
import { until } from '../helpers/until.js';

/** Event `n` of the test using `endpoint` (each test enqueues it for that one endpoint unless it says otherwise). */
const eventOf = (endpoint: string, n: number): WebhookEvent => ({ id: `msg_${endpoint}_${n}`, type: 'push.offline', createdAt: Date.now(), body: `{"n":${n}}` });
const refusedByShare = (e: unknown): boolean => e instanceof Error && e.name === 'WebhookShareError' && /share/.test(e.message);
/** Each copy's outcome, in order: 'ok', 'share' (WebhookShareError), or the error. */
const outcomes = (ps: Array<Promise<void>>): Promise<string[]> => Promise.all(ps.map((p) => p.then(() => 'ok', (e: unknown) => (refusedByShare(e) ? 'share' : String(e)))));


export function webhookQueueContract(queue: () => WebhookQueue): void {
  it('hands out what was enqueued (attempt 1, the same job), and an ack removes it', async () => {
    const q = queue();
    const got: LeasedJob[] = [];
    const c = await q.consume('c-ack', 4, async (j) => { got.push(j); await j.ack(); });
    try {
      assert.deepEqual(await outcomes(q.enqueueEvent(eventOf('c-ack', 1), ['c-ack'])), ['ok']);
      assert.deepEqual(await outcomes(q.enqueueEvent(eventOf('c-ack', 2), ['c-ack'])), ['ok']);
      await until(() => got.length === 2, 5000, 'two jobs');
      assert.deepEqual(got.map((j) => [j.job.id, j.job.body, j.attempt]).sort(), [['msg_c-ack_1', '{"n":1}', 1], ['msg_c-ack_2', '{"n":2}', 1]]);
      await until(async () => (await q.depth('c-ack')) === 0, 5000, 'depth 0 after the acks');
    } finally { await c.stop(); }
  });

  it('retry(delay) hands the same job out again after the delay, attempt 2', async () => {
    const q = queue();
    const seen: Array<{ id: string; attempt: number; at: number }> = [];
    const c = await q.consume('c-retry', 4, async (j) => {
      seen.push({ id: j.job.id, attempt: j.attempt, at: Date.now() });
      if (j.attempt === 1) await j.retry(300); else await j.ack();
    });
    try {
      await Promise.all(q.enqueueEvent(eventOf('c-retry', 1), ['c-retry']));
      await until(() => seen.length === 2, 5000, 'the retry');
      assert.deepEqual(seen.map((s) => [s.id, s.attempt]), [['msg_c-retry_1', 1], ['msg_c-retry_1', 2]]);
      assert.ok(seen[1]!.at - seen[0]!.at >= 250, `waited the delay (${seen[1]!.at - seen[0]!.at} ms)`);
    } finally { await c.stop(); }
  });

  it('dead letters are counted and listed; a replay hands them out again with their id, and empties them', async () => {
    const q = queue();
    const seen: LeasedJob[] = [];
    const c = await q.consume('c-dead', 4, async (j) => {
      seen.push(j);
      if (seen.filter((s) => s.job.id === j.job.id).length === 1) await j.dead({ job: j.job, attempts: j.attempt, reason: 'HTTP 503', deadAt: 5 });
      else await j.ack();
    });
    try {
      for (let i = 0; i < 3; i++) await Promise.all(q.enqueueEvent(eventOf('c-dead', i), ['c-dead']));
      await until(async () => (await q.deadCount('c-dead')) === 3, 5000, 'three dead letters');
      const listed = await q.listDead('c-dead', 2);
      assert.equal(listed.length, 2);
      assert.deepEqual(listed.map((d) => [d.reason, d.attempts, d.deadAt]), [['HTTP 503', 1, 5], ['HTTP 503', 1, 5]]);
      assert.equal(await q.deadCount('c-dead'), 3, 'listing removes nothing');
      assert.equal(await q.replayDead('c-dead', 2), 2);
      assert.equal(await q.replayDead('c-dead', 10), 1);
      await until(() => seen.length === 6, 5000, 'the replays');
      assert.deepEqual(new Set(seen.slice(3).map((j) => j.job.id)), new Set(seen.slice(0, 3).map((j) => j.job.id)));
      await until(async () => (await q.deadCount('c-dead')) === 0 && (await q.depth('c-dead')) === 0, 5000, 'all gone');
      assert.deepEqual(await q.listDead('c-dead', 10), []);
      assert.equal(await q.replayDead('c-dead', 10), 0);
    } finally { await c.stop(); }
  });

  it('at most `concurrency` jobs at once; depth counts waiting and in-flight jobs', async () => {
    const q = queue();
    let active = 0, peak = 0, done = 0;
    const release: Array<() => void> = [];
    const c = await q.consume('c-conc', 2, async (j) => {
      active++; peak = Math.max(peak, active);
      await new Promise<void>((r) => release.push(r));
      active--; done++;
      await j.ack();
    });
    try {
      for (let i = 0; i < 5; i++) await Promise.all(q.enqueueEvent(eventOf('c-conc', i), ['c-conc']));
      await until(() => active === 2, 5000, 'two in flight');
      assert.equal(await q.depth('c-conc'), 5);
      while (done < 5) {
        await until(() => release.length > 0, 5000, 'a job in flight');
        release.shift()!();
        await new Promise((r) => setTimeout(r, 20));
      }
      assert.equal(peak, 2);
      await until(async () => (await q.depth('c-conc')) === 0, 5000, 'depth 0');
    } finally { await c.stop(); }
  });
}

/**
 * The per-user share (core/share.ts), against every adapter: `make` opens a
 * queue of its own with the given share (jobs; bytes generous unless given).
 */
export function webhookShareContract(make: (share: { maxJobs: number; maxBytes: number }) => Promise<WebhookQueue>): void {
  const of = (endpoint: string, key: string | undefined, n: number): WebhookEvent => ({ ...eventOf(endpoint, n), id: `msg_${endpoint}_${key ?? 'none'}_${n}`, key });
  /** One event for one endpoint: its one copy stored ('ok') or refused by the share ('share'); any other refusal throws. */
  const one = (q: WebhookQueue, e: WebhookEvent, endpoint: string): Promise<'ok' | 'share'> =>
    q.enqueueEvent(e, [endpoint])[0]!.then(() => 'ok' as const, (err: unknown) => { if (refusedByShare(err)) return 'share' as const; throw err; });

  it('a user past its share is refused while other users still enqueue; retries of its queued jobs are never refused; leaving frees the share', async () => {
    const q = await make({ maxJobs: 3, maxBytes: 1_000_000 });
    // Attempts held open (a slow receiver): their jobs stay in flight until released.
    const parked: Array<() => void> = [];
    const seen: Array<[string, number]> = [];
    try {
      // Three of alice's (one turn: one message of several with JetStream) fill her share.
      assert.deepEqual(await Promise.all([0, 1, 2].map((n) => one(q, of('s-fair', 'alice', n), 's-fair'))), ['ok', 'ok', 'ok']);
      assert.equal(await one(q, of('s-fair', 'alice', 3), 's-fair'), 'share');
      assert.equal(await one(q, of('s-fair', 'bob', 0), 's-fair'), 'ok');
      assert.equal(await one(q, of('s-fair', undefined, 0), 's-fair'), 'ok');
      const c = await q.consume('s-fair', 8, async (j) => {
        seen.push([j.job.id, j.attempt]);
        if (j.job.id.endsWith('alice_1') && j.attempt === 1) { await j.retry(1500); return; }
        if (/alice_[45]$/.test(j.job.id)) await new Promise<void>((r) => parked.push(r)); // held in flight: still hers
        await j.ack();
      });
      try {
        await until(() => ['alice_0', 'alice_2', 'bob_0', 'none_0'].every((s) => seen.some(([id]) => id.endsWith(s))), 5000, 'the first jobs handed out');
        // alice_0 and alice_2 left; alice_1 waits for its retry and still counts: two more fit, a third does not.
        await until(async () => (await one(q, of('s-fair', 'alice', 4), 's-fair')) === 'ok', 5000, 'room for alice again');
        assert.equal(await one(q, of('s-fair', 'alice', 5), 's-fair'), 'ok');
        await until(() => parked.length === 2, 5000, 'alice 4 and 5 in flight');
        assert.equal(await one(q, of('s-fair', 'alice', 6), 's-fair'), 'share', 'the job waiting for its retry and the two in flight fill the share');
        // The retry comes back (same id, attempt 2) although alice is at her share, and is delivered: room for one.
        await until(() => seen.some(([id, a]) => id.endsWith('alice_1') && a === 2), 5000, 'the retry');
        await until(async () => (await one(q, of('s-fair', 'alice', 7), 's-fair')) === 'ok', 5000, 'room after the retry was delivered');
        for (const release of parked.splice(0)) release();
        await until(async () => (await q.depth('s-fair')) === 0, 5000, 'all delivered');
        assert.deepEqual(seen.filter(([id]) => id.endsWith('alice_1')).map(([, a]) => a), [1, 2]);
        assert.ok(!seen.some(([id]) => id.endsWith('alice_3') || id.endsWith('alice_6')), 'refused jobs were never queued');
      } finally { await c.stop(); }
    } finally { await q.close(); }
  });

  it('an event larger than the whole byte share is queued when its user holds nothing (else the user would be refused forever)', async () => {
    const q = await make({ maxJobs: 100, maxBytes: 2048 });
    const huge = (n: number): WebhookEvent => ({ ...of('s-huge', 'erin', n), body: JSON.stringify({ n, pad: 'x'.repeat(5000) }) });
    try {
      assert.equal(await one(q, huge(0), 's-huge'), 'ok');
      assert.equal(await one(q, huge(1), 's-huge'), 'share', 'a second one waits until the first has left');
      assert.equal(await one(q, { ...huge(2), body: '{}' }, 's-huge'), 'share', 'the held bytes pass the share: even a small one waits');
    } finally { await q.close(); }
  });

  it('bytes count too, dead letters free the share, and a replayed dead letter is not refused by it', async () => {
    const q = await make({ maxJobs: 100, maxBytes: 2048 });
    const big = (n: number): WebhookEvent => ({ ...of('s-bytes', 'carol', n), body: JSON.stringify({ n, pad: 'x'.repeat(900) }) });
    let dead = true;
    const seen: string[] = [];
    const parked: Array<() => void> = [];
    try {
      assert.deepEqual([await one(q, big(0), 's-bytes'), await one(q, big(1), 's-bytes')], ['ok', 'ok']);
      assert.equal(await one(q, big(2), 's-bytes'), 'share', 'three 900-byte bodies pass 2048 bytes');
      assert.equal(await one(q, { ...big(3), key: 'dave' }, 's-bytes'), 'ok');
      const c = await q.consume('s-bytes', 4, async (j) => {
        seen.push(j.job.id);
        if (dead) await j.dead({ job: j.job, attempts: j.attempt, reason: 'HTTP 500', deadAt: Date.now() });
        else {
          if (/carol_[45]$/.test(j.job.id)) await new Promise<void>((r) => parked.push(r));
          await j.ack();
        }
      });
      try {
        await until(async () => (await q.deadCount('s-bytes')) === 3, 5000, 'three dead letters');
        dead = false;
        // Dead letters left the queue: carol has her share back, and fills it again (held in flight).
        await until(async () => (await one(q, big(4), 's-bytes')) === 'ok', 5000, 'room for carol again');
        assert.equal(await one(q, big(5), 's-bytes'), 'ok');
        await until(() => parked.length === 2, 5000, 'carol 4 and 5 in flight');
        assert.equal(await one(q, big(6), 's-bytes'), 'share');
        // A replay is the operator's: carol's dead letters go back although she is at her share.
        assert.equal(await q.replayDead('s-bytes', 10), 3);
        await until(() => seen.filter((id) => id.endsWith('carol_0') || id.endsWith('carol_1')).length === 4, 5000, 'the replays delivered');
        for (const release of parked.splice(0)) release();
        await until(async () => (await q.depth('s-bytes')) === 0 && (await q.deadCount('s-bytes')) === 0, 5000, 'replayed and delivered');
      } finally { await c.stop(); }
    } finally { await q.close(); }
  });

  it('dead letters have a share per user: past it a user\'s dead letters are dropped (dead() false) while other users\' are kept; a replay frees it', async () => {
    const q = await make({ maxJobs: 2, maxBytes: 1_000_000 });
    const kept: Array<[string, boolean]> = [];
    let kill = true;
    try {
      const c = await q.consume('s-dead', 4, async (j) => {
        if (kill) kept.push([j.job.id, await j.dead({ job: j.job, attempts: j.attempt, reason: 'HTTP 500', deadAt: Date.now() })]);
        else await j.ack();
      });
      const dieAll = async (events: WebhookEvent[], what: string): Promise<void> => {
        const before = kept.length;
        await Promise.all(events.flatMap((e) => q.enqueueEvent(e, ['s-dead'])));
        await until(() => kept.length === before + events.length, 5000, what);
      };
      try {
        await dieAll([of('s-dead', 'alice', 0), of('s-dead', 'alice', 1)], 'alice 0 and 1 dead');
        // Her queue share is free again (dead letters left the queue), her dead-letter share is not.
        await until(async () => { try { await dieAll([of('s-dead', 'alice', 2)], 'alice 2 dead'); return true; } catch (e) { if (!refusedByShare(e)) throw e; return false; } }, 5000, 'alice queues again');
        await dieAll([of('s-dead', 'alice', 3), of('s-dead', 'bob', 0), of('s-dead', undefined, 0)], 'alice 3, bob 0 and an event about no user dead');
        assert.deepEqual(Object.fromEntries(kept), {
          'msg_s-dead_alice_0': true, 'msg_s-dead_alice_1': true, 'msg_s-dead_alice_2': false, 'msg_s-dead_alice_3': false,
          'msg_s-dead_bob_0': true, 'msg_s-dead_none_0': true,
        });
        assert.equal(await q.deadCount('s-dead'), 4);
        assert.deepEqual((await q.listDead('s-dead', 10)).map((d) => d.job.id).sort(), ['msg_s-dead_alice_0', 'msg_s-dead_alice_1', 'msg_s-dead_bob_0', 'msg_s-dead_none_0']);
        assert.ok((await q.listDead('s-dead', 10)).every((d) => Object.keys(d).sort().join() === 'attempts,deadAt,job,reason'), 'the listing shows no share charge');
        // The replay path is unchanged: every dead letter goes back, and alice's dead-letter share is hers again.
        kill = false;
        assert.equal(await q.replayDead('s-dead', 10), 4);
        await until(async () => (await q.depth('s-dead')) === 0 && (await q.deadCount('s-dead')) === 0, 5000, 'replayed and delivered');
        kill = true;
        await until(async () => {
          await dieAll([of('s-dead', 'alice', kept.length + 10)], 'alice dies again');
          return kept[kept.length - 1]![1];
        }, 5000, 'alice\'s dead letters kept again after the replay');
      } finally { await c.stop(); }
    } finally { await q.close(); }
  });

  it('an event\'s copies enqueued together: each endpoint gets its copy, charged one job each; past the share the later copies are refused, as one by one', async () => {
    const q = await make({ maxJobs: 4, maxBytes: 1_000_000 });
    const eps = ['s-ev1', 's-ev2', 's-ev3'];
    const seen: Array<[string, string]> = [];
    const parked: Array<() => void> = [];
    const event = (key: string | undefined, n: number) => ({ id: `msg_ev_${key ?? 'none'}_${n}`, type: 'push.offline' as const, createdAt: Date.now(), body: `{"n":${n}}`, key });
    try {
      assert.deepEqual(await outcomes(q.enqueueEvent(event('frank', 0), eps)), ['ok', 'ok', 'ok']);
      // frank holds 3 of 4: one more copy fits, the later two are refused (as three events of one copy each would be).
      assert.deepEqual(await outcomes(q.enqueueEvent(event('frank', 1), eps)), ['ok', 'share', 'share']);
      assert.deepEqual(await outcomes(q.enqueueEvent(event('frank', 2), eps)), ['share', 'share', 'share']);
      assert.equal(await one(q, event('frank', 3), 's-ev1'), 'share', 'one copy: the same share');
      assert.deepEqual(await outcomes(q.enqueueEvent(event('gina', 0), eps)), ['ok', 'ok', 'ok'], 'another user still enqueues');
      assert.deepEqual(await outcomes(q.enqueueEvent(event(undefined, 0), eps)), ['ok', 'ok', 'ok'], 'an event about no user is not charged');
      assert.deepEqual(await outcomes(q.enqueueEvent(event('gina', 1), [])), [], 'no endpoint: nothing');
      const cs = await Promise.all(eps.map((ep) => q.consume(ep, 8, async (j) => {
        seen.push([ep, j.job.id]);
        if ((j.job.id === 'msg_ev_frank_0' && j.job.endpoint === 's-ev1') || j.job.id === 'msg_ev_frank_4') await new Promise<void>((r) => parked.push(r));
        await j.ack();
      })));
      try {
        await until(() => seen.length === 10 && parked.length === 1, 5000, 'every stored copy handed out');
        assert.deepEqual(seen.map(([ep, id]) => `${ep}:${id}`).sort(), [
          's-ev1:msg_ev_frank_0', 's-ev1:msg_ev_frank_1', 's-ev1:msg_ev_gina_0', 's-ev1:msg_ev_none_0',
          's-ev2:msg_ev_frank_0', 's-ev2:msg_ev_gina_0', 's-ev2:msg_ev_none_0',
          's-ev3:msg_ev_frank_0', 's-ev3:msg_ev_gina_0', 's-ev3:msg_ev_none_0',
        ]);
        // Each copy left on its own: frank holds the one in flight, so three of a new event fit.
        await until(async () => (await q.depth('s-ev2')) === 0 && (await q.depth('s-ev3')) === 0, 5000, 'the other copies acked');
        await until(async () => (await outcomes(q.enqueueEvent(event('frank', 4), ['s-ev2']))).join() === 'ok', 5000, 'frank\'s copies released');
        assert.deepEqual(await outcomes(q.enqueueEvent(event('frank', 5), eps)), ['ok', 'ok', 'share'], 'the two held (in flight or queued) count');
        await until(() => parked.length === 2, 5000, 'frank 4 in flight');
        for (const release of parked.splice(0)) release();
        await until(async () => (await Promise.all(eps.map((ep) => q.depth(ep)))).every((d) => d === 0), 5000, 'all delivered');
      } finally { for (const c of cs) await c.stop(); }
    } finally { await q.close(); }
  });
}
