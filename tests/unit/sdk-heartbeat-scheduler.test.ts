import { test } from 'node:test';
import assert from 'node:assert/strict';
import { FakeTimers } from '../../sdk/src/fake-timers.js';
import { HeartbeatScheduler, type Beat } from '../../sdk/src/heartbeat-scheduler.js';

interface Rig {
  t: FakeTimers;
  s: HeartbeatScheduler;
  beats: Array<{ at: number; announce: number | undefined; kind: string }>;
  zombies: Beat[];
}

function rig(opts: { timeoutMs?: number; random?: () => number } = {}): Rig {
  const t = new FakeTimers();
  const beats: Rig['beats'] = [];
  const zombies: Beat[] = [];
  const s: HeartbeatScheduler = new HeartbeatScheduler(t, opts.random ?? (() => 0.5), { timeoutMs: opts.timeoutMs ?? 60_000 }, {
    send: (announce) => beats.push({ at: t.now(), announce, kind: s.pending?.kind ?? '?' }),
    zombie: (b) => zombies.push(b),
  });
  return { t, s, beats, zombies };
}

const noLearn = (): void => {};

test('the first beat is jittered uniformly in [interval/2, interval)', () => {
  for (const [r, expected] of [[0, 5000], [0.5, 7500], [0.999, 9995]] as const) {
    const { t, s, beats } = rig({ random: () => r });
    s.start(10_000, 10_000);
    t.advance(expected - 1);
    assert.equal(beats.length, 0);
    t.advance(1);
    assert.equal(beats.length, 1);
    assert.equal(beats[0]!.kind, 'first');
  }
});

test('last-packet time: no beat while frames flow either way; every frame moves the due time', () => {
  const { t, s, beats } = rig();
  s.start(1000, 1000);
  for (let i = 0; i < 50; i++) {
    t.advance(400);
    if (i % 2 === 0) s.received();
    else s.sent();
  }
  assert.equal(beats.length, 0);
  t.advance(499); // first span is 750 with random 0.5
  assert.equal(beats.length, 0);
  t.advance(351);
  assert.equal(beats.length, 1);
});

test('after the first beat, beats come one full idle interval after the last frame and are probes', () => {
  const { t, s, beats } = rig();
  s.start(1000, 1000);
  t.advance(750);
  assert.equal(beats.length, 1);
  t.advance(10);
  s.received();
  s.ack(undefined, noLearn);
  t.advance(999);
  assert.equal(beats.length, 1);
  t.advance(1);
  assert.equal(beats.length, 2);
  assert.equal(beats[1]!.kind, 'probe');
  assert.equal(beats[1]!.at, 1760);
});

test('zombie: no frame within min(interval, timeoutMs) after a beat', () => {
  const { t, s, beats, zombies } = rig({ timeoutMs: 60_000 });
  s.start(1000, 1000);
  t.advance(750);
  assert.equal(beats.length, 1);
  t.advance(999);
  assert.equal(zombies.length, 0);
  t.advance(1);
  assert.equal(zombies.length, 1);
  assert.equal(zombies[0]!.kind, 'first');
  t.advance(10_000);
  assert.equal(zombies.length, 1, 'reported once');
  assert.equal(beats.length, 1, 'no further beats on a zombie');
});

test('zombie wait is capped by timeoutMs for long intervals (seeds: 60 s)', () => {
  const { t, s, zombies } = rig({ timeoutMs: 60_000 });
  s.start(300_000, 300_000);
  t.advance(225_000); // first beat
  t.advance(59_999);
  assert.equal(zombies.length, 0);
  t.advance(1);
  assert.equal(zombies.length, 1);
});

test('any received frame (not only the ack) ends the zombie wait', () => {
  const { t, s, zombies, beats } = rig();
  s.start(1000, 1000);
  t.advance(750);
  t.advance(500);
  s.received(); // a push, say
  t.advance(1500);
  assert.equal(zombies.length, 0);
  assert.equal(beats.length, 2, 'after an interval without the ack, beat again');
  t.advance(1000);
  assert.equal(zombies.length, 1, 'and that one unanswered is a zombie');
});

test('a new interval is announced at once when no beat is in flight, and with the ack otherwise', () => {
  const { t, s, beats } = rig();
  s.start(1000, 1000);
  s.setInterval(2000);
  assert.deepEqual(beats.map((b) => [b.kind, b.announce]), [['announce', 2000]]);
  s.received();
  s.ack(undefined, noLearn);
  // In flight: the change waits for the ack, then goes out before the gateway's old deadline.
  t.advance(1500); // first (jittered) beat at 1500 from the ack: 2000 * 0.75
  assert.equal(beats.length, 2);
  s.setInterval(3000);
  assert.equal(beats.length, 2);
  s.received();
  s.ack(undefined, noLearn);
  assert.deepEqual(beats.map((b) => [b.kind, b.announce]), [['announce', 2000], ['first', undefined], ['announce', 3000]]);
});

test('a change made while learning from an ack is announced right after it', () => {
  const { t, s, beats } = rig();
  s.start(1000, 1000);
  t.advance(750);
  s.received();
  s.ack(undefined, (beat) => {
    assert.equal(beat?.kind, 'first');
    s.setInterval(1500);
  });
  assert.deepEqual(beats.map((b) => [b.kind, b.announce]), [['first', undefined], ['announce', 1500]]);
});

test('the gateway correcting our interval in an ack means no announcement is needed', () => {
  const { t, s, beats } = rig();
  s.start(1000, 1000);
  s.setInterval(5000);
  s.received();
  s.ack(4000, () => s.setInterval(4000));
  assert.equal(beats.length, 1);
  t.advance(3000); // jittered first beat at 0.75 * 4000
  assert.equal(beats.length, 2);
  assert.equal(beats[1]!.announce, undefined);
});

test('check() sends a beat at once (network change) and its silence is a zombie', () => {
  const { t, s, beats, zombies } = rig({ timeoutMs: 400 });
  s.start(10_000, 10_000);
  t.advance(100);
  s.check();
  assert.equal(beats[0]!.kind, 'check');
  s.check();
  assert.equal(beats.length, 1, 'one check in flight at a time');
  t.advance(400);
  assert.equal(zombies.length, 1);
  assert.equal(zombies[0]!.kind, 'check');
});

test('stop() silences everything', () => {
  const { t, s, beats, zombies } = rig();
  s.start(1000, 1000);
  t.advance(750);
  s.stop();
  t.advance(100_000);
  assert.equal(beats.length, 1);
  assert.equal(zombies.length, 0);
  assert.equal(t.pending, 0);
});
