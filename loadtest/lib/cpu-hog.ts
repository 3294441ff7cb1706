/**
 * A CPU hog for benchmarks: a child process that keeps `share` of one core
 * busy, standing in for a noisy neighbour on the same machine. Each 100 ms
 * period it spins until it has used share × 100 ms of CPU time (its own
 * CPU clock, not the wall clock), then sleeps the rest of the period; if it
 * has not got that much CPU by the end of the period it goes on spinning
 * into the next one, as a neighbour with that much work would. (Spinning
 * for share × 100 ms of wall time, as it did before, got 0.04–0.23 of a
 * core on a busy machine: time spent waiting for a CPU counted as spun.)
 * `stop()` reports the share it actually got (CPU seconds / wall seconds),
 * which can still be less than asked when the machine is saturated.
 */
import { fork, type ChildProcess } from 'node:child_process';
import { fileURLToPath } from 'node:url';

export interface CpuHog {
  /** The hog's process (benchmarks pin it to a CPU). */
  readonly pid: number | undefined;
  /** Stops the hog; resolves with the share of one core it used. */
  stop(): Promise<number>;
}

const PERIOD_MS = 100;

export async function startCpuHog(share: number): Promise<CpuHog> {
  if (!(share > 0 && share <= 1)) throw new RangeError(`CPU hog share must be in (0, 1], got ${share}`);
  const child: ChildProcess = fork(fileURLToPath(import.meta.url), [String(share)], { stdio: ['ignore', 'inherit', 'inherit', 'ipc'] });
  await new Promise<void>((resolve, reject) => {
    child.once('message', () => resolve());
    child.once('error', reject);
  });
  const killOnExit = (): void => { child.kill('SIGKILL'); };
  process.on('exit', killOnExit);
  return {
    pid: child.pid,
    stop: () => new Promise<number>((resolve) => {
      child.once('message', (m: { share?: number }) => { process.off('exit', killOnExit); resolve(m.share ?? NaN); });
      child.send('stop');
    }),
  };
}

function runHog(share: number): void {
  const t0 = performance.now();
  const cpu0 = process.cpuUsage();
  const cpuMs = (): number => { const u = process.cpuUsage(cpu0); return (u.user + u.system) / 1000; };
  let x = 0;
  const spin = (): void => {
    const periodStart = performance.now();
    // CPU owed since the start (what a neighbour with `share` of a core of work would have used);
    // a debt of at most one more period is carried, so a long starvation is not paid back in one burst.
    const owed = Math.min(share * (periodStart - t0 + PERIOD_MS), cpuMs() + 2 * share * PERIOD_MS);
    while (cpuMs() < owed && performance.now() - periodStart < 5 * PERIOD_MS) {
      for (let i = 0; i < 20_000; i++) x = (x * 1103515245 + 12345) % 2147483647;
    }
    if (x < 0) console.log(x); // keep the loop from being optimised away
    setTimeout(spin, Math.max(0, PERIOD_MS - (performance.now() - periodStart)));
  };
  spin();
  process.on('message', () => {
    const u = process.cpuUsage(cpu0);
    process.send!({ share: Math.round(((u.user + u.system) / 1000 / (performance.now() - t0)) * 100) / 100 }, () => process.exit(0));
  });
  process.on('disconnect', () => process.exit(0));
  process.send!('ready');
}

if (process.send !== undefined && process.argv[1] === fileURLToPath(import.meta.url)) runHog(Number(process.argv[2]));
