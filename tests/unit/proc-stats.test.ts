/**
 * The benches' /proc readers: the fine CPU clock (per-thread schedstat, ns)
 * sees a few milliseconds of work that the 10 ms tick clock can miss, and
 * agrees with the process's own count.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { cpuMicros, cpuMicrosFine } from '../../loadtest/bench/proc-stats.js';

test('cpuMicrosFine counts this process\'s CPU as process.cpuUsage() does, below a clock tick', () => {
  const busy = (us: number): number => {
    const start = process.cpuUsage();
    let x = 0;
    for (;;) {
      for (let i = 0; i < 10_000; i++) x += Math.sqrt(i);
      const d = process.cpuUsage(start);
      if (d.user + d.system >= us) return x;
    }
  };
  busy(1_000); // warm up the loop
  const f0 = cpuMicrosFine(process.pid), own0 = process.cpuUsage();
  busy(4_000); // under half a 10 ms tick
  const f1 = cpuMicrosFine(process.pid), own = process.cpuUsage(own0);
  const fine = f1 - f0, mine = own.user + own.system;
  assert.ok(fine >= mine * 0.8, `fine clock saw ${fine} µs of ${mine} µs`);
  assert.ok(fine <= mine + 20_000, `fine clock saw ${fine} µs, more than ${mine} µs plus other threads' share`);
  assert.ok(cpuMicros(process.pid) >= 0);
});
