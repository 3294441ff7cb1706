/**
 * bench:push --syscalls: `perf stat -x,` output read into counts, and the
 * counts per push. The live test counts a child process's socket writes.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, spawnSync } from 'node:child_process';
import { parsePerfStat, perfStat, perUnit } from '../../loadtest/bench/perf-phase.js';

const SAMPLE = [
  '',
  '668.130000,msec,task-clock,668130000,100.00,0.223,CPUs utilized',
  '7827,,context-switches,668130000,100.00,11.715,K/sec',
  '32814,,raw_syscalls:sys_enter,668130000,100.00,49.113,K/sec',
  '6016,,syscalls:sys_enter_sendto,668130000,100.00,,',
  '<not supported>,,syscalls:sys_enter_sendmsg,0,100.00,,',
  '6026,,syscalls:sys_enter_write,668130000,100.00,,',
  '0,,syscalls:sys_enter_writev,668130000,100.00,,',
  '6004,,syscalls:sys_enter_recvfrom,668130000,100.00,,',
  '3006,,syscalls:sys_enter_read,668130000,100.00,,',
  '10348,,syscalls:sys_enter_epoll_pwait,668130000,100.00,,',
  '<not counted>,,syscalls:sys_enter_futex,0,100.00,,',
].join('\n');

test('parsePerfStat reads counted events and leaves out what perf could not count', () => {
  const c = parsePerfStat(SAMPLE);
  assert.equal(c['task-clock'], 668.13);
  assert.equal(c['syscalls:sys_enter_sendto'], 6016);
  assert.equal(c['syscalls:sys_enter_writev'], 0);
  assert.equal('syscalls:sys_enter_sendmsg' in c, false);
  assert.equal('syscalls:sys_enter_futex' in c, false);
  assert.equal(Object.keys(c).length, 9);
});

test('perUnit: socket writes (write, writev, sendto), reads, waits and CPU per push; missing counts stay absent', () => {
  const y = perUnit(parsePerfStat(SAMPLE), 6016);
  assert.deepEqual(y, {
    units: 6016, syscalls: 5.45, writes: 2, reads: 1.5, epoll_pwait: 1.72, context_switches: 1.3, task_clock_us: 111.06,
  });
  assert.deepEqual(perUnit({ 'task-clock': 5 }, 0), { units: 0 });
});

test('perfStat counts a running process\'s writes', async () => {
  // perf with syscall tracepoints (tests/setup.sh installs perf; the suite runs as root): nothing to check against otherwise.
  const probe = spawnSync('perf', ['stat', '-x,', '-e', 'syscalls:sys_enter_write', '--', 'true'], { encoding: 'utf8' });
  assert.ok(probe.status === 0 && /^\d+,,syscalls:sys_enter_write/m.test(probe.stderr),
    `perf cannot count syscall tracepoints here (run tests/setup.sh as root; perf_event_paranoid <= -1 otherwise): ${probe.error?.message ?? probe.stderr.slice(0, 300)}`);
  // A child writing 200 small lines, 5 ms apart (one write(2) each on a pipe).
  const child = spawn(process.execPath, ['-e', 'let n = 0; const t = setInterval(() => { process.stdout.write("x\\n"); if (++n === 200) clearInterval(t); }, 5);'],
    { stdio: ['ignore', 'pipe', 'ignore'] });
  child.stdout.resume();
  try {
    const c = await perfStat(child.pid!, 100, 500);
    assert.ok(c !== undefined);
    const writes = c['syscalls:sys_enter_write'] ?? 0;
    // ~100 writes in 0.5 s at one per 5 ms (timers run late on a busy machine, never early).
    assert.ok(writes >= 20 && writes <= 110, `writes ${writes}`);
    assert.ok((c['task-clock'] ?? 0) > 0);
  } finally {
    child.kill('SIGKILL');
  }
});
