/**
 * How long a request sat before the router read it, from its gateway's send
 * stamp (services/router/core/request-age.ts), and what the resume queue does
 * with a request that sat too long (work-queue.ts, gateway-events.ts): never
 * started, unanswered once the gateway's whole budget passed, refused with a
 * hint while it still waits. Manual clocks: the router's, and the gateway's
 * as an offset from it.
 */
import { describe, it, afterEach } from 'node:test';
import assert from 'node:assert/strict';
import { ManualClock } from '../../services/shared/clock.js';
import { RequestAges } from '../../services/router/core/request-age.js';
import { AgedOutError, WorkQueue } from '../../services/router/core/work-queue.js';
import { decodeMsg, encodeMsg } from '../../services/shared/bus/bus.js';
import type { Presence } from '../../services/router/core/presence.js';
import { setup, stopRouters } from '../helpers/router-harness.js';

afterEach(stopRouters);

const HOUR = 3600_000;

/** A gateway clock `skewMs` off the router's wall clock; `send(agoMs)` stamps a request sent that long ago. */
function gateway(router: ManualClock, skewMs: number): { send: (agoMs?: number) => number } {
  return { send: (agoMs = 0) => router.wallNow() + skewMs - agoMs };
}

describe('RequestAges', () => {
  for (const skew of [0, HOUR, -HOUR, 37_123]) {
    it(`reads a request's age from one earlier fresh sample, the gateway clock ${skew} ms off`, () => {
      const clock = new ManualClock(5000);
      const ages = new RequestAges(clock);
      const gw = gateway(clock, skew);
      assert.equal(ages.ageOf('gw-boot', gw.send(3)), 0, 'the first sample is the offset itself');
      clock.advance(100);
      assert.equal(ages.ageOf('gw-boot', gw.send(4000)), 4000 - 3, 'sat 4 s (read low by the first sample\'s transit)');
      assert.equal(ages.ageOf('gw-boot', gw.send(0)), 0, 'a faster one lowers the minimum');
      clock.advance(100);
      assert.equal(ages.ageOf('gw-boot', gw.send(4000)), 4000);
      assert.equal(ages.ageOf('gw-boot', gw.send(10)), 10);
    });
  }

  it('judges a backlog read after a long stall against the minimum from before it', () => {
    const clock = new ManualClock(0);
    const ages = new RequestAges(clock, { windowMs: 10_000 });
    const gw = gateway(clock, -HOUR);
    for (let i = 0; i < 5; i++) { ages.ageOf('g', gw.send(1)); clock.advance(1000); }
    clock.advance(60_000); // stopped: nothing read for a minute, far longer than the window
    const backlog = [60_000, 45_000, 30_000, 4000, 500].map((ago) => ages.ageOf('g', gw.send(ago)));
    assert.deepEqual(backlog, [59_999, 44_999, 29_999, 3999, 499]);
  });

  it('ignores malformed and implausible stamps (age 0, no effect on later requests)', () => {
    const clock = new ManualClock(0);
    const ages = new RequestAges(clock);
    const gw = gateway(clock, 0);
    ages.ageOf('g', gw.send(0));
    for (const [id, at] of [['g', 'soon'], ['g', NaN], ['g', Infinity], ['g', -5], ['g', 0], ['g', clock.wallNow() + 48 * HOUR], ['g', 1],
      [42, gw.send(0)], ['', gw.send(0)], ['x'.repeat(500), gw.send(0)], [undefined, gw.send(0)], ['g', undefined], [{}, []]] as Array<[unknown, unknown]>) {
      assert.equal(ages.ageOf(id, at), 0, `stamp ${String(id).slice(0, 10)} ${String(at)}`);
    }
    assert.equal(ages.ignored, 13);
    assert.equal(ages.ageOf(undefined, undefined), 0, 'no stamp at all (an older gateway)');
    assert.equal(ages.ignored, 13, 'no stamp is not a bad stamp');
    assert.equal(ages.ageOf('g', gw.send(0)), 0, 'a healthy request is still fresh');
    assert.equal(ages.ageOf('g', gw.send(2000)), 2000);
  });

  it('a lone stamp far in the future does not make healthy requests look old; a clock that jumped ahead is believed at its second sample', () => {
    const clock = new ManualClock(0);
    const ages = new RequestAges(clock);
    const gw = gateway(clock, 0);
    ages.ageOf('g', gw.send(0));
    clock.advance(50);
    assert.equal(ages.ageOf('g', gw.send(-30 * 60_000)), 0, 'forged: half an hour ahead');
    for (let i = 0; i < 5; i++) {
      clock.advance(50);
      assert.equal(ages.ageOf('g', gw.send(0)), 0, 'healthy requests stay fresh');
    }
    assert.equal(ages.ageOf('g', gw.send(3000)), 3000, 'an old one is still seen');
    // The gateway's clock really jumps ahead an hour: believed at its second request, never read as older meanwhile.
    const ahead = gateway(clock, HOUR);
    clock.advance(11_000); // a new window bucket (the forged sample is forgotten)
    assert.equal(ages.ageOf('g', ahead.send(0)), 0);
    assert.equal(ages.ageOf('g', ahead.send(0)), 0);
    assert.equal(ages.ageOf('g', ahead.send(2500)), 2500, 'the new offset is in use');
  });

  it('a clock that went back is healed within two windows (until then its requests read old)', () => {
    const clock = new ManualClock(0);
    const ages = new RequestAges(clock, { windowMs: 10_000 });
    ages.ageOf('g', gateway(clock, 0).send(0));
    const behind = gateway(clock, -HOUR);
    clock.advance(100);
    assert.ok(ages.ageOf('g', behind.send(0)) > HOUR - 1000, 'right after the step back every request looks an hour old');
    let healedAt = -1;
    for (let t = 0; t < 40_000; t += 500) {
      clock.advance(500);
      if (ages.ageOf('g', behind.send(0)) === 0 && healedAt < 0) healedAt = t;
    }
    assert.ok(healedAt >= 0 && healedAt <= 20_000, `healed after ${healedAt} ms`);
  });

  it('tracks each sender clock apart, at most maxClocks of them', () => {
    const clock = new ManualClock(0);
    const ages = new RequestAges(clock, { maxClocks: 3 });
    ages.ageOf('a', gateway(clock, HOUR).send(0));
    ages.ageOf('b', gateway(clock, -HOUR).send(0));
    clock.advance(10);
    assert.equal(ages.ageOf('a', gateway(clock, HOUR).send(700)), 700);
    assert.equal(ages.ageOf('b', gateway(clock, -HOUR).send(0)), 0);
    for (const id of ['c', 'd', 'e']) ages.ageOf(id, gateway(clock, 0).send(0));
    assert.equal(ages.clocks, 3);
  });
});

describe('WorkQueue with request ages', () => {
  it('never starts a task that sat past its start deadline: unanswered past the whole budget, refused with a hint before', async () => {
    const q = new WorkQueue({ concurrency: 4, maxQueued: 10, startWithin: 0.8 }, () => 0);
    let ran = 0;
    const task = async (): Promise<string> => { ran++; return 'ok'; };
    assert.equal(await q.run(task, 1000, 700), 'ok', 'within 80 % of its budget: runs');
    const late = await q.run(task, 1000, 900).catch((e: unknown) => e);
    assert.ok(late instanceof AgedOutError && late.answer && (late.retryAfterMs ?? 0) >= 250, 'the gateway still waits: told when to come back');
    const gone = await q.run(task, 1000, 1000).catch((e: unknown) => e);
    assert.ok(gone instanceof AgedOutError && !gone.answer, 'the whole budget passed: nobody waits for an answer');
    assert.equal(ran, 1);
    assert.deepEqual(q.stats, { started: 1, expired: 0, shed: 0, agedOut: 2 });
  });
});

describe('GatewayEvents: resume requests stamped by their gateway', () => {
  it('a start read after its gateway gave up does no store work and gets no answer; one still awaited gets a hint; a fresh one starts', async () => {
    let onlines = 0;
    const t = setup({
      presence: (p) => Object.assign(Object.create(p) as Presence, {
        online: (ev: Parameters<Presence['online']>[0]) => { onlines++; return p.online(ev); },
      }),
    });
    const skew = -HOUR; // the gateway's clock is an hour behind the router's
    const stamp = (agoMs: number): number => t.clock.wallNow() + skew - agoMs;
    const ask = (user: string, sentAt: unknown, timeoutMs = 300): Promise<unknown> =>
      t.bus.request(t.s.resume, encodeMsg({ gateway: 'gwX', conn: `c-${user}`, user, device: 'd', timeoutMs: 1000, sentAt, clock: 'gwX-boot' }), { timeoutMs })
        .then((m) => decodeMsg<unknown>(m.data), () => 'no answer');
    const warm = await ask('warm', stamp(0)) as { session?: string };
    assert.equal(typeof warm.session, 'string');
    const gone = await ask('gone', stamp(1500));
    assert.equal(gone, 'no answer', 'sat 1.5 s of a 1 s budget: the gateway closed it already');
    const late = await ask('late', stamp(900)) as { error?: { code: string; retryAfterMs?: number } };
    assert.equal(late.error?.code, 'LL_ROUTER_OVERLOADED', `sat 0.9 s: refused with a hint (${JSON.stringify(late)})`);
    const forged = await ask('forged', 'yesterday') as { session?: string };
    assert.equal(typeof forged.session, 'string', 'a malformed stamp is ignored, the request served');
    const fresh = await ask('fresh', stamp(5)) as { session?: string };
    assert.equal(typeof fresh.session, 'string');
    assert.equal(onlines, 3, 'only warm, forged and fresh registered a connection');
    assert.deepEqual(await t.presence.lookup('gone'), []);
    assert.deepEqual(t.router.resumeWork.stats, { started: 3, expired: 0, shed: 0, agedOut: 2 });
  });
});
