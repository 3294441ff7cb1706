import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { AdaptiveLimit, type AdaptiveLimitOptions } from '../../services/gateway/core/adaptive-limit.js';
import { RetrySchedule } from '../../services/gateway/core/retry-schedule.js';
import { SourceBudget } from '../../services/gateway/core/source-budget.js';

const opts = (o: Partial<AdaptiveLimitOptions> = {}): AdaptiveLimitOptions => ({ initial: 10, min: 2, max: 1000, targetMs: 100, minRatio: 0.5, smoothing: 0.1, ...o });

/** Keeps the limit full (unbounded demand) while `limit` starts settle with `latencyMs`; returns the limit after. */
function round(l: AdaptiveLimit, now: number, latencyMs: number, outcome: 'ok' | 'failed' = 'ok'): number {
  const n = l.limit;
  while (l.hasRoom) l.acquire();
  for (let i = 0; i < n; i++) {
    l.release(now, now + latencyMs, outcome);
    while (l.hasRoom) l.acquire();
  }
  while (l.inFlight > 0) l.release(now, now, 'ignore');
  return l.limit;
}

/**
 * A backend serving `rate(t)` starts per second in FIFO order, each taking at least `baseMs`,
 * behind a client with unbounded demand that starts whatever the limit allows.
 */
class Backend {
  private readonly queue: number[] = [];
  private credit = 0;
  constructor(private readonly l: AdaptiveLimit, private readonly baseMs = 20) {}

  run(rate: number, fromMs: number, toMs: number): { latencies: number[]; done: number } {
    const latencies: number[] = [];
    let done = 0;
    const step = 5;
    for (let t = fromMs; t < toMs; t += step) {
      while (this.l.hasRoom) { this.l.acquire(); this.queue.push(t); }
      this.credit += (rate * step) / 1000;
      while (this.credit >= 1 && this.queue.length > 0 && t - this.queue[0]! >= this.baseMs) {
        this.credit -= 1;
        const started = this.queue.shift()!;
        this.l.release(started, t, 'ok');
        latencies.push(t - started);
        done++;
      }
      if (this.queue.length === 0) this.credit = Math.min(this.credit, 1);
    }
    return { latencies, done };
  }
}

const median = (xs: number[]): number => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;

describe('AdaptiveLimit', () => {
  it('grows while starts are faster than the target and the limit is in use, not while traffic is light', () => {
    const l = new AdaptiveLimit(opts());
    assert.equal(round(l, 0, 10), 20, 'ten starts far under the target at a full limit: +1 each (a doubling per round trip)');
    const half = new AdaptiveLimit(opts({ initial: 100 }));
    assert.equal(round(half, 0, 80), 112, 'at 80 % of the target: +1/8 per start (half the headroom per round trip)');
    const at = new AdaptiveLimit(opts({ initial: 100 }));
    assert.equal(round(at, 0, 100), 100, 'at the target: no growth');
    const idle = new AdaptiveLimit(opts());
    for (let i = 0; i < 30; i++) { idle.acquire(); idle.release(0, 50, 'ok'); }
    assert.equal(idle.limit, 10, 'one start at a time never used the limit: no growth');
    assert.ok(l.stats.increases === 10 && idle.stats.increases === 0);
  });

  it('cuts in proportion to how far latency is over the target, once per congestion episode', () => {
    const l = new AdaptiveLimit(opts({ initial: 100 }));
    for (let i = 0; i < 100; i++) l.acquire();
    // The first slow sample (latency 2 x target) cuts to 100 x 0.5.
    l.release(0, 200, 'ok');
    assert.equal(l.limit, 50);
    // Starts that began before that decrease reflect the old limit: no further cut.
    for (let i = 0; i < 50; i++) l.release(100, 300, 'ok');
    assert.equal(l.limit, 50);
    // Nor does one that began after it but before the queue in front of it drained (cut at 200 + latency 200).
    l.acquire();
    l.release(250, 375, 'ok');
    assert.equal(l.limit, 50);
    // Starts admitted after the drain judge the cut: at the target (100 ms against 200 before), it bought latency.
    for (let i = 0; i < 16; i++) { l.acquire(); l.release(400, 500, 'ok'); }
    assert.equal(l.stats.reverts, 0);
    // A start that began after that and is still slow (1.25 x target) cuts again, by 0.8.
    l.acquire();
    l.release(600, 725, 'ok');
    assert.equal(l.limit, 40);
    // The cut is never deeper than minRatio, never shallower than 0.9.
    const deep = new AdaptiveLimit(opts({ initial: 100 }));
    deep.acquire(); deep.release(0, 10_000, 'ok');
    assert.equal(deep.limit, 50);
    const shallow = new AdaptiveLimit(opts({ initial: 100 }));
    shallow.acquire(); shallow.release(0, 101, 'ok');
    assert.equal(shallow.limit, 90);
  });

  it('a start unanswered for longer than the target cuts the limit before it completes, once per episode', () => {
    const l = new AdaptiveLimit(opts({ initial: 100 }));
    for (let i = 0; i < 10; i++) l.acquire(0);
    l.observe(100);
    assert.equal(l.limit, 100, 'at the target: nothing yet');
    l.observe(150);
    assert.equal(l.limit, 66, 'x target / age');
    l.observe(400);
    assert.equal(l.limit, 66, 'the same old starts do not cut twice');
    l.acquire(400);
    for (let i = 0; i < 10; i++) l.release(0, 500, 'ok'); // the old ones answer (started before the cut: no new cut)
    assert.equal(l.limit, 66);
    l.observe(500);
    assert.equal(l.limit, 66, 'the oldest in flight is now the one from t=400: at the target, no cut');
    l.observe(600);
    assert.equal(l.limit, 66, 'a start admitted after the cut and slow too, but not twice as slow as the one that cut: the cut is still being judged');
    l.observe(701);
    assert.equal(l.limit, 33, 'twice as slow (301 ms against 150 ms): cut again');
  });

  it('a start admitted before a cut and still waiting does not hide the slow starts admitted after it from the age check', () => {
    const l = new AdaptiveLimit(opts({ initial: 100 }));
    for (let i = 0; i < 10; i++) l.acquire(0);
    l.observe(150);
    assert.equal(l.limit, 66, 'x target / age; the queue in front of the cut drains by t=300');
    for (let i = 0; i < 9; i++) l.release(0, 200, 'ok'); // one straggler from t=0 still waits
    for (let i = 0; i < 10; i++) l.acquire(400);
    l.observe(600);
    assert.equal(l.limit, 66, '200 ms old: the cut is still being judged');
    l.observe(701);
    assert.equal(l.limit, 33, 'starts admitted after the drain, 301 ms old (twice the 150 ms that cut): cut again, straggler or not');
    l.observe(2000);
    assert.equal(l.limit, 33, 'once per episode: the starts from t=400 do not cut twice');
    // Admitted after that cut's drain (701 + 301): the age check follows them, not the older ones.
    for (let i = 0; i < 10; i++) l.release(400, 2000, 'ok');
    l.acquire(2100);
    l.observe(2200);
    assert.equal(l.limit, 33, '100 ms old: at the target');
    l.release(2100, 2180, 'ok');
    l.observe(5000);
    assert.equal(l.limit, 33, 'only the straggler from before the first cut is left: it never cuts');
  });

  it('a failed start halves the limit; the limit stays within [min, max]', () => {
    const l = new AdaptiveLimit(opts({ initial: 40, min: 3, max: 44 }));
    l.acquire(); l.release(0, 10, 'failed');
    assert.equal(l.limit, 20);
    for (let t = 1; t < 10; t++) { l.acquire(); l.release(t * 100, t * 100 + 10, 'failed'); }
    assert.equal(l.limit, 3, 'floored at min');
    assert.equal(l.stats.failures, 10);
    for (let t = 0; t < 20; t++) round(l, 10_000 + t * 100, 10);
    assert.equal(l.limit, 44, 'capped at the static ceiling');
    l.acquire(); l.release(0, 0, 'ignore');
    assert.equal(l.inFlight, 0, "'ignore' frees the slot without a sample");
  });

  it('tracks the smoothed latency', () => {
    const l = new AdaptiveLimit(opts());
    assert.equal(l.latencyMs, 0);
    l.acquire(); l.release(0, 50, 'ok');
    assert.equal(l.latencyMs, 50);
    l.acquire(); l.release(0, 150, 'ok');
    assert.equal(l.latencyMs, 60);
  });

  it('settles where the backend keeps latency near the target at full throughput, and follows the backend when it slows down', () => {
    const l = new AdaptiveLimit(opts({ initial: 10, min: 4, max: 5000, targetMs: 200 }));
    const backend = new Backend(l);
    // 2,000 starts/s: Little's law says ~400 in flight for 200 ms.
    const first = backend.run(2000, 0, 3000);
    assert.ok(first.done >= 0.8 * 2000 * 3, `reaches the backend's throughput within seconds: ${first.done} in 3 s`);
    const settled = backend.run(2000, 3000, 13_000);
    const lat = median(settled.latencies);
    assert.ok(lat <= 200 * 1.5 && lat >= 200 * 0.3, `median latency near the 200 ms target: ${lat}`);
    assert.ok(settled.done >= 0.95 * 2000 * 10, `throughput kept: ${settled.done} in 10 s`);
    assert.ok(l.limit >= 150 && l.limit <= 600, `limit ~ throughput x target: ${l.limit}`);
    // The backend drops to 500/s (a CPU hog, a busy Redis): the limit follows down.
    backend.run(500, 13_000, 20_000);
    const slow = backend.run(500, 20_000, 30_000);
    const slowLat = median(slow.latencies);
    assert.ok(slowLat <= 300, `latency back near the target after the slowdown: ${slowLat}`);
    assert.ok(slow.done >= 0.95 * 500 * 10, `throughput kept: ${slow.done}`);
    assert.ok(l.limit <= 200, `limit followed down: ${l.limit}`);
  });

  /** Every start takes `latencyMs` however many run at once (a CPU-starved machine); returns the starts done in `ms`. */
  function starved(l: AdaptiveLimit, latencyMs: number, ms: number, inFlight: number[]): number {
    let done = 0;
    for (let t = 0; t < ms; t += 5) {
      while (inFlight.length > 0 && t - inFlight[0]! >= latencyMs) { l.release(inFlight.shift()!, t, 'ok'); done++; }
      l.observe(t);
      while (l.hasRoom) { l.acquire(t); inFlight.push(t); }
    }
    return done;
  }

  it('undoes a cut that bought no latency (a CPU-starved machine), but keeps cutting a real queue', () => {
    // Every start takes 150 ms (target 100) however many run at once: latency that is not queueing behind the limit.
    const l = new AdaptiveLimit(opts({ initial: 200, min: 4, max: 5000 }));
    const inFlight: number[] = [];
    const done = starved(l, 150, 10_000, inFlight);
    assert.ok(l.stats.decreases >= 1 && l.stats.reverts >= 1, `cut, then undone: ${JSON.stringify(l.stats)}`);
    assert.ok(l.limit >= 180, `the limit stays where it was, not cut to the floor: ${l.limit}`);
    assert.ok(done >= 0.9 * (200 / 0.15) * 10, `throughput kept (limit / latency): ${done} in 10 s`);
    assert.ok(l.noQueueLatencyMs >= 140 && l.noQueueLatencyMs <= 160, `the judged latency: ${l.noQueueLatencyMs}`);
    for (const t of inFlight) l.release(t, 10_000, 'ignore');
    // The same limit then meets a real queue (a backend at 500/s): latency well past 1.25 x 150 ms cuts, and the cuts stay.
    const backend = new Backend(l);
    backend.run(500, 10_000, 20_000);
    const q = backend.run(500, 20_000, 30_000);
    assert.ok(median(q.latencies) <= 300, `latency back near the target: ${median(q.latencies)}`);
    assert.ok(l.limit <= 200, `limit followed down: ${l.limit}`);
  });

  for (const latencyMs of [250, 400]) {
    it(`undoes a cut that bought no latency when starved starts take ${latencyMs / 100} x the target (older than twice the age check's trigger while waiting)`, () => {
      const l = new AdaptiveLimit(opts({ initial: 200, min: 4, max: 5000 }));
      const done = starved(l, latencyMs, 10_000, []);
      assert.ok(l.stats.decreases >= 1 && l.stats.reverts >= 1, `cut, then undone: ${JSON.stringify(l.stats)}`);
      assert.ok(l.limit >= 180, `the limit back where it was, not at the floor: ${l.limit}`);
      assert.ok(done >= 0.8 * (200 / (latencyMs / 1000)) * 10, `throughput kept (limit / latency): ${done} in 10 s`);
      assert.ok(Math.abs(l.noQueueLatencyMs - latencyMs) <= 0.1 * latencyMs, `the judged latency: ${l.noQueueLatencyMs}`);
    });
  }

  it('a slow sample at the floor cuts nothing and leaves the judgement alone', () => {
    const l = new AdaptiveLimit(opts({ initial: 8, min: 4 }));
    for (let i = 0; i < 8; i++) l.acquire(0);
    l.observe(200); // x 0.5: 4, the floor; settles at 400
    assert.equal(l.limit, 4);
    for (let i = 0; i < 8; i++) l.release(0, 300, 'ok'); // the old starts: 300 ms
    for (let i = 0; i < 4; i++) l.acquire(400);
    l.observe(1100); // 700 ms old: over twice the episode's 300 ms, but the limit is at its floor: no cut, no new drain time
    assert.equal(l.stats.decreases, 1);
    for (let i = 0; i < 4; i++) l.release(400, 1100, 'ok'); // judge: 700 ms against 300 ms under 8 slots; the cut bought nothing
    assert.equal(l.stats.reverts, 1, JSON.stringify(l.stats));
    assert.equal(l.limit, 8);
  });

  it('drops a judgement left open when traffic stopped instead of judging it later against the stale episode', () => {
    const l = new AdaptiveLimit(opts({ initial: 100 }));
    for (let i = 0; i < 10; i++) l.acquire(0);
    l.observe(150); // x 0.66: a cut worth judging
    assert.equal(l.limit, 66);
    for (let i = 0; i < 10; i++) l.release(0, 200, 'ok');
    // Traffic stops for 100 s, then starts of 300 ms: a new episode, not samples judging the old cut.
    for (let i = 0; i < 16; i++) l.acquire(100_000);
    for (let i = 0; i < 16; i++) l.release(100_000, 100_300, 'ok');
    assert.equal(l.stats.reverts, 0, `the stale cut is not undone: ${JSON.stringify(l.stats)}`);
    assert.equal(l.limit, 33, 'the new slow start cuts as the first of its own episode');
    // A judgement with samples coming in is not dropped however long it stays open.
    const busy = new AdaptiveLimit(opts({ initial: 100 }));
    for (let i = 0; i < 100; i++) busy.acquire(0);
    busy.observe(150);
    for (let t = 0; t < 100; t++) busy.release(0, 200 + t * 100, 'ok'); // one old start every 100 ms for 10 s
    for (let i = 0; i < 16; i++) busy.acquire(10_200);
    for (let i = 0; i < 16; i++) busy.release(10_200, 10_500, 'ok');
    assert.equal(busy.stats.reverts, 0, 'judged, not dropped: the cut bought latency (300 ms against the old starts\' ~5 s)');
    assert.equal(busy.noQueueLatencyMs, 0);
  });

  it('validates its options', () => {
    assert.throws(() => new AdaptiveLimit(opts({ min: 0 })), RangeError);
    assert.throws(() => new AdaptiveLimit(opts({ min: 10, max: 5 })), RangeError);
    assert.throws(() => new AdaptiveLimit(opts({ targetMs: 0 })), RangeError);
    assert.throws(() => new AdaptiveLimit(opts({ minRatio: 1 })), RangeError);
    assert.throws(() => new AdaptiveLimit(opts({ smoothing: 0 })), RangeError);
  });
});

describe('RetrySchedule', () => {
  const opts = { maxMs: 30_000, minWaitMs: 500, periodMs: 1000, headroom: 1.25 };

  it('hands a crowd refused at once slots spread at the rate: returns arrive evenly, the last one when the rest are served', () => {
    const s = new RetrySchedule(opts, 0);
    // 1,000 clients refused within one instant, the limit supporting 200/s: they return over 5 s at 200/s.
    const waits = Array.from({ length: 1000 }, (_, i) => s.refuse(0, () => (i % 10) / 10, 200));
    assert.ok(waits.every((w, i) => i === 0 || w >= waits[i - 1]! - 5), 'in order of refusal (a slot is 5 ms wide)');
    assert.ok(Math.min(...waits) >= 500, 'never sooner than minWaitMs');
    const last = Math.max(...waits);
    assert.ok(last >= 500 + 4990 && last <= 500 + 5000, `the last returns after 1,000 / 200 s (+ minWait), got ${last} ms`);
    const perSecond = [0, 0, 0, 0, 0];
    for (const w of waits) perSecond[Math.min(4, Math.floor((w - 500) / 1000))]!++;
    assert.ok(perSecond.every((n) => Math.abs(n - 200) <= 1), `even: 200 returns in each second (±1 for rounding), got ${perSecond}`);
    assert.equal(Math.round(s.horizonMs(0)), 5500);
    assert.equal(s.rate, 200);
  });

  it('runs at headroom x the best recent admission rate when that is above the floor, and remembers it through a dip', () => {
    const s = new RetrySchedule(opts, 0);
    for (let i = 0; i < 800; i++) s.admit(i); // 800 admitted in the first second
    s.admit(1000); // rolls: capacity 800/s
    const a = s.refuse(1000, () => 0, 10);
    const b = s.refuse(1000, () => 0, 10);
    assert.equal(s.rate, 1000, '1.25 x 800/s, not the floor of 10/s');
    assert.equal(b - a, 1, 'slots 1 ms apart');
    // Admissions collapse for 3 s (router congestion): the remembered rate decays 0.9 per period, not to 50/s.
    for (let t = 2; t <= 4; t++) { for (let i = 0; i < 50; i++) s.admit(t * 1000); }
    s.refuse(5000, () => 0, 10);
    assert.ok(Math.abs(s.rate - 1.25 * 800 * 0.9 ** 4) < 1, `rate ${s.rate}`);
  });

  it('starts the schedule afresh once it has drained, and caps waits without reserving slots past the cap', () => {
    const s = new RetrySchedule(opts, 0);
    for (let i = 0; i < 100; i++) s.refuse(0, () => 0, 100); // a 1 s schedule
    assert.equal(s.refuse(10_000, () => 0, 100), 500, 'drained: minWaitMs from now, not behind old slots');
    const c = new RetrySchedule(opts, 0);
    for (let i = 0; i < 60; i++) c.refuse(0, () => 0, 2); // 60 at 2/s: slots to 30.5 s
    const horizon = c.horizonMs(0);
    const capped = c.refuse(0, () => 0.5, 2);
    assert.equal(capped, 28_500, 'past the cap: maxMs, jittered down by up to a tenth');
    assert.equal(c.horizonMs(0), horizon, 'no slot reserved for it');
    assert.ok(Array.from({ length: 50 }, () => c.refuse(0, Math.random, 2)).every((w) => w <= 30_000), 'never above maxMs');
  });

  it('a refusal with a longer shortest wait (a router hint) takes the first free slot after it', () => {
    const s = new RetrySchedule(opts, 0);
    assert.equal(s.refuseAfter(0, () => 0, 100, 3000), 3000, 'an empty schedule: the hint itself');
    assert.equal(s.refuseAfter(0, () => 0, 100, 3000), 3010, 'the next slot after it');
    assert.equal(s.refuse(0, () => 0, 100), 500, 'later refusals do not queue behind it');
    assert.equal(s.refuse(0, () => 0, 100), 510);
    assert.equal(s.refuseAfter(0, () => 0, 100, 0), 3020, 'a short hint still queues behind the longer ones');
    const horizon = s.horizonMs(0);
    assert.equal(s.refuseAfter(0, () => 0, 100, 50_000), 50_000, 'beyond the horizon: the hint, not the horizon');
    assert.equal(s.refuseAfter(0, () => 0.999, 100, 50_000), 54_995, 'jittered up by up to a tenth');
    assert.equal(s.horizonMs(0), horizon, 'and not reserved');
  });

  it('a hint is honoured whatever the schedule holds: never a wait below it', () => {
    const full = new RetrySchedule({ ...opts, maxMs: 10_000 }, 0);
    for (let i = 0; i < 100; i++) full.refuse(0, () => 0, 10); // booked to 10.5 s: no slot within the horizon
    for (const hint of [0, 2000, 8999, 9000, 9500, 9999, 10_000, 12_000, 30_000]) {
      for (const r of [0, 0.5, 0.999]) {
        const w = full.refuseAfter(0, () => r, 10, hint);
        assert.ok(w >= hint && w >= 9000 && w <= Math.max(10_000, hint * 1.1), `hint ${hint}, random ${r}: ${w} ms`);
      }
    }
    const empty = new RetrySchedule({ ...opts, maxMs: 10_000 }, 0);
    for (const hint of [9999, 10_000, 12_000, 30_000]) assert.ok(empty.refuseAfter(0, () => 0.5, 10, hint) >= hint, `${hint} on an empty schedule`);
  });

  it('refuses nonsense options', () => {
    assert.throws(() => new RetrySchedule({ ...opts, maxMs: 0 }, 0), RangeError);
    assert.throws(() => new RetrySchedule({ ...opts, minWaitMs: 40_000 }, 0), RangeError);
    assert.throws(() => new RetrySchedule({ ...opts, periodMs: 0 }, 0), RangeError);
    assert.throws(() => new RetrySchedule({ ...opts, headroom: 0.5 }, 0), RangeError);
  });
});

describe('SourceBudget', () => {
  it('each address has its own bucket: a flooding one is refused, the others are not', () => {
    const b = new SourceBudget({ ratePerSec: 10, burst: 5, maxSources: 100 });
    const flood = Array.from({ length: 20 }, () => b.take('198.51.100.7', 0));
    assert.equal(flood.filter((w) => w === 0).length, 5);
    assert.ok(flood.slice(5).every((w) => w >= 1), 'refused with a wait in seconds');
    assert.equal(b.take('203.0.113.1', 0), 0, 'another address is unaffected');
    assert.equal(b.take('198.51.100.7', 100), 0, 'refills at its rate');
    assert.equal(b.refused, 15);
  });

  it('bounded: full buckets are swept, the oldest evicted at the cap; rate 0 turns it off', () => {
    const b = new SourceBudget({ ratePerSec: 10, burst: 5, maxSources: 3 });
    for (const s of ['a', 'b', 'c', 'd']) b.take(s, 0);
    assert.equal(b.sources, 3);
    b.take('d', 400);
    b.sweep(500); // a bucket refills in 500 ms: b and c are full again and forgotten; d was used at 400
    assert.equal(b.sources, 1);
    const off = new SourceBudget({ ratePerSec: 0, burst: 1, maxSources: 3 });
    assert.ok(Array.from({ length: 100 }, () => off.take('x', 0)).every((w) => w === 0));
    assert.equal(off.sources, 0);
  });
});
