/**
 * A CPU hog for benchmarks: a child process that keeps `share` of one core
 * busy (spins for share × 100 ms, sleeps the rest of each 100 ms), standing
 * in for a noisy neighbour on the same machine. `stop()` reports the share
 * it actually got (CPU seconds / wall seconds), which is less than asked
 * when the machine is saturated.
 */
import { fork, type ChildProcess } from 'node:child_process';
import { fileURLToPath } from 'node:url';

export interface CpuHog {
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
    stop: () => new Promise<number>((resolve) => {
      child.once('message', (m: { share?: number }) => { process.off('exit', killOnExit); resolve(m.share ?? NaN); });
      child.send('stop');
    }),
  };
}

function runHog(share: number): void {
  const t0 = performance.now();
  const cpu0 = process.cpuUsage();
  const busyMs = share * PERIOD_MS;
  const spin = (): void => {
    const end = performance.now() + busyMs;
    let x = 0;
    while (performance.now() < end) x = (x * 1103515245 + 12345) % 2147483647;
    if (x < 0) console.log(x); // keep the loop from being optimised away
    setTimeout(spin, PERIOD_MS - busyMs);
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
