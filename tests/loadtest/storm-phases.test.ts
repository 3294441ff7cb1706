/**
 * bench:storm's split of the seconds above the ideal by phase (quiet, start,
 * refusing, booked, handshake), with the clients' and the cluster's CPU in
 * each: which part of a slow storm is admission's and which the load
 * generator's.
 */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { lostByPhase, phaseText, type StormSample } from '../../loadtest/bench/storm-timeline.js';
import { bestWindow } from '../../loadtest/bench/storm-report.js';

interface Seg { s: number; startsPerS: number; refusedPerS: number; waiting: number; connecting: number; cliPct: number; clusterPct: number }

/** 250 ms samples through consecutive segments; cumulative counters. */
function storm(segs: Seg[]): StormSample[] {
  const out: StormSample[] = [];
  let t = 0, started = 100, refused = 0, cli = 0, gw = 0;
  const push = (w: number, c: number): void => {
    out.push({ t: Math.round(t * 1000) / 1000, started, refused, open: 0, connecting: c, waiting: w, c503: refused, c1011: 0, retryAfter: {},
      cpuClients: cli, cpuGateways: [gw / 2, gw / 2], cpuRouter: 0, jiffies: [0, 0], cpuOther: 0, clientLagMs: 0 });
  };
  push(0, 0);
  for (const g of segs) {
    for (let k = 0; k < g.s / 0.25; k++) {
      t += 0.25; started += g.startsPerS / 4; refused += g.refusedPerS / 4;
      cli += g.cliPct * 1e6 / 100 / 4; gw += g.clusterPct * 1e6 / 100 / 4;
      push(g.waiting, g.connecting);
    }
  }
  return out;
}

const best = (xs: StormSample[]): { rate: number; from: number; to: number } => bestWindow(xs.map((x) => ({ t: x.t, n: x.started })), 3);

describe('bench:storm seconds above the ideal, by phase', () => {
  const xs = storm([
    { s: 1, startsPerS: 0, refusedPerS: 0, waiting: 15000, connecting: 0, cliPct: 80, clusterPct: 10 }, // clients asleep on their first delay
    { s: 0.5, startsPerS: 1000, refusedPerS: 0, waiting: 0, connecting: 14000, cliPct: 150, clusterPct: 50 }, // limits with room
    { s: 2, startsPerS: 1000, refusedPerS: 3000, waiting: 4000, connecting: 9000, cliPct: 150, clusterPct: 50 }, // limits full
    { s: 3, startsPerS: 2000, refusedPerS: 0, waiting: 100, connecting: 5000, cliPct: 50, clusterPct: 100 }, // the best 3 s
    { s: 1, startsPerS: 200, refusedPerS: 0, waiting: 800, connecting: 10, cliPct: 10, clusterPct: 20 }, // asleep on booked waits
  ]);

  it('puts each 250 ms step in its phase and counts dt × (1 − rate / best) there; the phases add up to recovery − ideal', () => {
    const w = best(xs);
    assert.ok(Math.abs(w.rate - 2000) < 1, `best ${w.rate}`);
    assert.ok(Math.abs(w.from - 3.5) < 0.01 && Math.abs(w.to - 6.5) < 0.01, `window ${w.from}-${w.to}`);
    const ps = lostByPhase(xs, w.rate);
    const by = Object.fromEntries(ps.map((p) => [p.phase, p]));
    assert.deepEqual(ps.map((p) => p.phase), ['quiet', 'start', 'refusing', 'booked', 'handshake']);
    assert.equal(by.quiet!.lost_s, 1);
    assert.equal(by.start!.lost_s, 0.25);
    assert.equal(by.refusing!.lost_s, 1);
    assert.equal(by.handshake!.lost_s, 0);
    assert.equal(by.booked!.lost_s, 0.9);
    // The sum is recovery − ideal: 7.5 s for 8,700 starts at 2,000/s (4.35 s).
    const sum = ps.reduce((a, p) => a + p.lost_s, 0);
    assert.ok(Math.abs(sum - (7.5 - 8700 / 2000)) < 0.01, `sum ${sum}`);
  });

  it('reports whose CPU ran in each phase: the clients, the bench, the cluster', () => {
    const ps = lostByPhase(xs, best(xs).rate);
    const r = ps.find((p) => p.phase === 'refusing')!;
    assert.equal(r.cpu_clients_pct, 150);
    assert.equal(r.cpu_cluster_pct, 50);
    assert.equal(r.admitted_per_s, 1000);
    assert.equal(ps.find((p) => p.phase === 'booked')!.cpu_cluster_pct, 20);
    assert.equal(r.cpu_bench_pct, 0);
    assert.match(phaseText(ps), /refusing\s+2\.0\s+1\.00\s+1000\s+150\/0\/50\/\d+/);
  });

  it('a stalled scrape (a step with no start, then one with twice as many) is not counted as lost', () => {
    const ys = storm([{ s: 4, startsPerS: 2000, refusedPerS: 0, waiting: 0, connecting: 5000, cliPct: 50, clusterPct: 100 }]);
    ys[6]!.started = ys[5]!.started; // the scrape at 1.5 s repeated the one at 1.25 s; the one at 1.75 s caught up
    const ps = lostByPhase(ys, 2000);
    assert.equal(ps.length, 1);
    assert.ok(Math.abs(ps[0]!.lost_s) < 0.01, `lost ${ps[0]!.lost_s}`);
  });

  it('a gateway scrape that repeats itself while refusing stays in the refusing phase (the clients still count 503s)', () => {
    const ys = storm([{ s: 4, startsPerS: 1000, refusedPerS: 2000, waiting: 2000, connecting: 9000, cliPct: 100, clusterPct: 50 }]);
    ys[6]!.started = ys[5]!.started; ys[6]!.refused = ys[5]!.refused; // the gateways' counters repeated; the clients' 503s moved on
    const ps = lostByPhase(ys, 2000);
    assert.deepEqual(ps.map((p) => p.phase), ['refusing']);
    assert.ok(Math.abs(ps[0]!.lost_s - 2) < 0.01, `4 s at half the best rate: 2 s lost, got ${ps[0]!.lost_s}`);
  });

  it('no best rate, or fewer than two samples: nothing', () => {
    assert.deepEqual(lostByPhase(xs, 0), []);
    assert.deepEqual(lostByPhase(xs.slice(0, 1), 2000), []);
  });
});
