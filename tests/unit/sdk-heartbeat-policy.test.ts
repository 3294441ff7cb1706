import { test } from 'node:test';
import assert from 'node:assert/strict';
import {
  FixedHeartbeatPolicy, MARS_DEFAULTS, SmartHeartbeatPolicy, isHeartbeatRecord, validateSmartConfig, type SmartHeartbeatConfig,
} from '../../sdk/src/heartbeat-policy.js';
import { HeartbeatMemory, MemoryStorage } from '../../sdk/src/storage.js';

const cfg: SmartHeartbeatConfig = { minMs: 1000, maxMs: 6000, stepMs: 1000, marginMs: 200, successesToStep: 3, failuresToBackOff: 2, reprobeAfterMs: 60_000 };

function policy(c: SmartHeartbeatConfig = cfg, clock = { t: 0 }): SmartHeartbeatPolicy {
  return new SmartHeartbeatPolicy(c, () => clock.t);
}

function succeed(p: SmartHeartbeatPolicy, n: number): void {
  for (let i = 0; i < n; i++) p.onSuccess(p.intervalMs);
}

test('defaults are Tencent Mars: 3.5 min .. 10 min, step 60 s, margin 20 s, 5 up, 2 down', () => {
  assert.deepEqual({ ...MARS_DEFAULTS, reprobeAfterMs: undefined }, {
    minMs: 210_000, maxMs: 600_000, stepMs: 60_000, marginMs: 20_000, successesToStep: 5, failuresToBackOff: 2, reprobeAfterMs: undefined,
  });
  const p = new SmartHeartbeatPolicy(MARS_DEFAULTS, () => 0);
  assert.equal(p.intervalMs, 210_000);
  assert.equal(p.stable, false);
});

test('starts at the minimum and steps up only after N consecutive successes', () => {
  const p = policy();
  assert.equal(p.intervalMs, 1000);
  assert.equal(p.onSuccess(1000), undefined);
  assert.equal(p.onSuccess(1000), undefined);
  const ch = p.onSuccess(1000);
  assert.deepEqual(ch, { fromMs: 1000, toMs: 2000, stable: false, reason: 'step-up' });
  assert.equal(p.intervalMs, 2000);
});

test('a failure breaks the run of successes (counts are consecutive)', () => {
  const p = policy();
  p.onSuccess(1000); // at the minimum a failure is ignored entirely, so step up first
  p.onSuccess(1000);
  p.onSuccess(1000);
  assert.equal(p.intervalMs, 2000);
  p.onSuccess(2000);
  p.onSuccess(2000);
  p.onFailure(2000);
  assert.equal(p.record().successes, 0);
  p.onSuccess(2000);
  p.onSuccess(2000);
  assert.equal(p.intervalMs, 2000, 'needs 3 fresh successes after the failure');
  p.onSuccess(2000);
  assert.equal(p.intervalMs, 3000);
});

test('results for another interval than the current one are ignored (Mars: "dynamic heart stop")', () => {
  const p = policy();
  succeed(p, 3);
  assert.equal(p.intervalMs, 2000);
  assert.equal(p.onSuccess(1000), undefined);
  assert.equal(p.onFailure(1000), undefined);
  assert.equal(p.onFailure(1500), undefined);
  assert.deepEqual([p.record().successes, p.record().failures], [0, 0]);
});

test('before the server said its minimum, failures at the minimum are ignored (Mars)', () => {
  const p = policy();
  for (let i = 0; i < 10; i++) assert.equal(p.onFailure(1000), undefined);
  assert.equal(p.intervalMs, 1000);
  assert.equal(p.record().failures, 0);
});

test('two failures while probing settle at the largest surviving interval minus the margin', () => {
  const p = policy();
  succeed(p, 3); // 2000
  succeed(p, 3); // 3000
  succeed(p, 3); // 4000
  assert.equal(p.intervalMs, 4000);
  assert.equal(p.onFailure(4000), undefined, 'one failure may be noise');
  assert.equal(p.intervalMs, 4000);
  const ch = p.onFailure(4000);
  assert.deepEqual(ch, { fromMs: 4000, toMs: 4000 - 1000 - 200, stable: true, reason: 'settle' });
  assert.equal(p.stable, true);
});

test('settling never goes below the minimum', () => {
  const p = policy({ ...cfg, marginMs: 900 });
  succeed(p, 3); // 2000
  p.onFailure(2000);
  p.onFailure(2000);
  assert.equal(p.intervalMs, 1000);
  assert.equal(p.stable, true);
});

test('reaching the maximum settles at max minus margin', () => {
  const p = policy();
  for (let i = 0; i < 5; i++) succeed(p, 3);
  assert.equal(p.intervalMs, 6000);
  assert.equal(p.stable, false);
  succeed(p, 2);
  const ch = p.onSuccess(6000);
  assert.equal(ch?.reason, 'settle-at-max');
  assert.equal(p.intervalMs, 5800);
  assert.equal(p.stable, true);
});

test('stable: two failures mean the NAT changed, so probing restarts from the minimum', () => {
  const p = policy();
  succeed(p, 3);
  succeed(p, 3);
  p.onFailure(3000);
  p.onFailure(3000); // settle at 1800
  assert.equal(p.intervalMs, 1800);
  succeed(p, 10);
  assert.equal(p.intervalMs, 1800, 'stable: successes do not step up');
  p.onFailure(1800);
  assert.equal(p.intervalMs, 1800);
  const ch = p.onFailure(1800);
  assert.deepEqual(ch, { fromMs: 1800, toMs: 1000, stable: false, reason: 'restart' });
});

test('stable for reprobeAfterMs: re-probe from the largest interval that survived', () => {
  const clock = { t: 0 };
  const p = policy(cfg, clock);
  succeed(p, 3);
  succeed(p, 3);
  p.onFailure(3000);
  p.onFailure(3000);
  assert.equal(p.intervalMs, 1800);
  clock.t += 59_999;
  succeed(p, 5);
  assert.equal(p.intervalMs, 1800);
  clock.t += 1;
  const ch = p.onSuccess(1800);
  assert.deepEqual(ch, { fromMs: 1800, toMs: 2000, stable: false, reason: 'reprobe' });
  succeed(p, 3);
  assert.equal(p.intervalMs, 3000, 'probing continues upward');
});

test('converges below the NAT timeout for any timeout in range (simulated NAT)', () => {
  for (let natMs = 1100; natMs <= 7000; natMs += 137) {
    const p = policy();
    let rounds = 0;
    while (!p.stable && rounds++ < 1000) {
      const i = p.intervalMs;
      if (i < natMs) p.onSuccess(i);
      else p.onFailure(i);
    }
    assert.equal(p.stable, true, `T=${natMs}: stable`);
    const settled = p.intervalMs;
    if (natMs > cfg.maxMs) assert.equal(settled, cfg.maxMs - cfg.marginMs, `T=${natMs}`);
    else {
      assert.ok(settled < natMs, `T=${natMs}: settled ${settled} must be below T`);
      assert.ok(settled >= natMs - cfg.stepMs - cfg.marginMs || settled === cfg.minMs, `T=${natMs}: settled ${settled} within step + margin of T`);
    }
    // Once stable, the learned interval keeps working: no more changes.
    for (let k = 0; k < 20; k++) assert.equal(p.onSuccess(p.intervalMs), undefined);
  }
});

test('repeated deaths at the minimum descend below it, down to the server minimum, then settle', () => {
  const p = policy();
  p.setBounds(200, 3_600_000); // the server allows 200 ms; our minimum is 1000
  assert.equal(p.onFailure(1000), undefined, 'one failure may be noise');
  assert.deepEqual(p.onFailure(1000), { fromMs: 1000, toMs: 200, stable: false, reason: 'below-min' }, 'one step (1000) down, not below the floor');
  assert.equal(p.record().descending, true);
  succeed(p, 2);
  assert.equal(p.stable, false);
  assert.deepEqual(p.onSuccess(200), { fromMs: 200, toMs: 200, stable: true, reason: 'settle' }, 'settles at the floor: margin not below it');
  assert.equal(p.record().descending, undefined);
  for (let i = 0; i < 5; i++) assert.equal(p.onFailure(200), undefined, 'at the server floor failures are ignored');
});

test('a NAT timeout below the minimum: converges below it for any timeout the server allows (simulated NAT)', () => {
  const c = { ...cfg, minMs: 3000, stepMs: 500, marginMs: 100 };
  for (let natMs = 450; natMs < 3000; natMs += 97) {
    const p = policy(c);
    p.setBounds(300, 3_600_000);
    let rounds = 0;
    let deaths = 0;
    while (!p.stable && rounds++ < 1000) {
      const i = p.intervalMs;
      if (i < natMs) p.onSuccess(i);
      else { deaths++; p.onFailure(i); }
    }
    assert.equal(p.stable, true, `T=${natMs}: stable`);
    const settled = p.intervalMs;
    assert.ok(settled < natMs, `T=${natMs}: settled ${settled} below T`);
    assert.ok(settled >= Math.max(300, natMs - c.stepMs - c.marginMs), `T=${natMs}: settled ${settled} within step + margin of T`);
    assert.ok(deaths <= 2 * Math.ceil((3000 - natMs) / c.stepMs) + 2, `T=${natMs}: ${deaths} deaths`);
    for (let k = 0; k < 20; k++) assert.equal(p.onSuccess(p.intervalMs), undefined, 'stays');
    // The record learned below the minimum survives a restart (storage) and the next hello.
    const q = policy(c);
    q.useNetwork(p.record());
    q.setBounds(300, 3_600_000);
    assert.equal(q.intervalMs, settled);
    // A server that raises its minimum above it clamps it back.
    q.setBounds(3000, 3_600_000);
    assert.equal(q.intervalMs, 3000);
  }
});

test('stable below the minimum and the NAT shrinks again: descends from there', () => {
  const p = policy();
  p.setBounds(100, 3_600_000);
  p.onFailure(1000);
  p.onFailure(1000); // descend to 100? step 1000 -> floor 100
  assert.equal(p.intervalMs, 100);
  const q = policy({ ...cfg, stepMs: 300 });
  q.setBounds(100, 3_600_000);
  q.onFailure(1000);
  q.onFailure(1000);
  assert.equal(q.intervalMs, 700);
  succeed(q, 3);
  assert.equal(q.intervalMs, 500);
  assert.equal(q.stable, true);
  q.onFailure(500);
  assert.equal(q.onFailure(500)?.reason, 'below-min');
  assert.equal(q.intervalMs, 200);
});

test('server bounds clamp the interval; the network record restores what was learned', () => {
  const p = policy();
  succeed(p, 3);
  succeed(p, 3);
  assert.equal(p.intervalMs, 3000);
  const saved = p.record();
  const ch = p.setBounds(100, 2500);
  assert.equal(ch?.toMs, 2500);
  assert.equal(p.intervalMs, 2500);
  p.setBounds(100, 3_600_000);
  assert.equal(p.useNetwork(undefined)?.toMs, 1000, 'unknown network: start at the minimum');
  assert.equal(p.useNetwork(saved)?.toMs, 3000);
  assert.equal(p.setBounds(1500, 10_000), undefined);
});

test('fixed policy: one interval, clamped by the server, learns nothing', () => {
  const f = new FixedHeartbeatPolicy(30_000);
  assert.equal(f.intervalMs, 30_000);
  assert.equal(f.onSuccess(), undefined);
  assert.equal(f.onFailure(), undefined);
  assert.equal(f.setBounds(100, 20_000)?.toMs, 20_000);
  assert.equal(f.setBounds(40_000, 60_000)?.toMs, 40_000);
  assert.throws(() => new FixedHeartbeatPolicy(50), RangeError);
});

test('config validation rejects nonsense', () => {
  assert.throws(() => validateSmartConfig({ ...cfg, minMs: 50 }), /minMs/);
  assert.throws(() => validateSmartConfig({ ...cfg, maxMs: 500 }), /maxMs/);
  assert.throws(() => validateSmartConfig({ ...cfg, stepMs: 0 }), /stepMs/);
  assert.throws(() => validateSmartConfig({ ...cfg, successesToStep: 0 }), /successesToStep/);
  assert.throws(() => validateSmartConfig({ ...cfg, marginMs: Number.NaN }), /marginMs/);
});

test('HeartbeatMemory keeps one record per network, survives garbage, evicts the oldest', async () => {
  const storage = new MemoryStorage();
  storage.setItem('k', '{not json');
  const m = new HeartbeatMemory(storage, 'k', 3);
  assert.equal(await m.load('wifi'), undefined);
  for (const [i, n] of ['a', 'b', 'c', 'd'].entries()) await m.save(n, { intervalMs: 1000 + i, stable: true, successes: 0, failures: 0, modifiedAt: i });
  const fresh = new HeartbeatMemory(storage, 'k', 3);
  assert.equal(await fresh.load('a'), undefined, 'oldest evicted');
  assert.equal((await fresh.load('d'))?.intervalMs, 1003);
  storage.setItem('k', JSON.stringify({ x: { intervalMs: 'bad' }, y: { intervalMs: 5, stable: false, successes: 0, failures: 0, modifiedAt: 1 } }));
  const third = new HeartbeatMemory(storage, 'k');
  assert.equal(await third.load('x'), undefined);
  assert.equal((await third.load('y'))?.intervalMs, 5);
  assert.equal(await third.load('__proto__'), undefined);
  assert.equal(isHeartbeatRecord(null), false);
});
