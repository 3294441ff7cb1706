/**
 * Linux `perf` around one phase of a bench (optional: `--perf DIR`): samples
 * one process with call stacks while the phase runs, then sorts the samples
 * into where a delivery's CPU goes. V8's JIT frames are not symbolised, so
 * "node/V8" holds builtins, the runtime and GC as well as compiled JS; the
 * kernel buckets are read from the stack (a loopback `send` runs the
 * receiver's TCP path in softirq on the sender's thread).
 */
import { spawn, spawnSync } from 'node:child_process';

export const PERF_BUCKETS = [
  'kernel: TCP send (syscall, tx path)', 'kernel: loopback receive (softirq, charged to the sender)', 'kernel: recv/read',
  'kernel: epoll', 'kernel: other', 'uWS native', 'libc', 'node/V8 (JS, builtins, GC)',
] as const;

/** Starts `perf record` on `pid`; the returned function stops it and resolves when the file is written. */
export function perfRecord(pid: number, file: string, hz = 999): () => Promise<void> {
  const p = spawn('perf', ['record', '-F', String(hz), '-g', '-p', String(pid), '-o', file], { stdio: 'ignore' });
  return () => new Promise((resolve) => {
    if (p.exitCode !== null) { resolve(); return; }
    p.on('exit', () => resolve());
    p.kill('SIGINT');
  });
}

/** Share of samples per bucket (percent), and the sample count. */
export function perfBuckets(file: string): { samples: number; pct: Record<string, number> } {
  const r = spawnSync('perf', ['script', '-i', file, '-F', 'ip,sym,dso'], { encoding: 'utf8', maxBuffer: 1 << 30 });
  const counts = new Map<string, number>();
  let samples = 0;
  for (const block of (r.stdout ?? '').split(/\n\s*\n/)) {
    const lines = block.trim().split('\n').filter((l) => l.trim() !== '');
    if (lines.length === 0) continue;
    samples++;
    const all = lines.join(' '), leaf = lines[0]!;
    const k = /net_rx_action|handle_softirqs/.test(all) ? PERF_BUCKETS[1]
      : /sendto|sendmsg|writev/.test(all) ? PERF_BUCKETS[0]
        : /\[kernel/.test(leaf) && /recvfrom|recvmsg|ksys_read|sys_read/.test(all) ? PERF_BUCKETS[2]
          : /\[kernel/.test(leaf) && /epoll/.test(all) ? PERF_BUCKETS[3]
            : /\[kernel/.test(leaf) ? PERF_BUCKETS[4]
              : /uws_/.test(leaf) ? PERF_BUCKETS[5]
                : /libc/.test(leaf) ? PERF_BUCKETS[6] : PERF_BUCKETS[7];
    counts.set(k, (counts.get(k) ?? 0) + 1);
  }
  const pct: Record<string, number> = {};
  for (const b of PERF_BUCKETS) pct[b] = samples > 0 ? Math.round(((counts.get(b) ?? 0) / samples) * 1000) / 10 : 0;
  return { samples, pct };
}

/** The `n` symbols with the most self samples (JIT frames are named when the process ran with --perf-basic-prof). */
export function perfTop(file: string, n = 12): Array<{ pct: number; sym: string }> {
  const r = spawnSync('perf', ['report', '-i', file, '--stdio', '--no-children', '--sort', 'sym', '-g', 'none'], { encoding: 'utf8', maxBuffer: 1 << 28 });
  const out: Array<{ pct: number; sym: string }> = [];
  for (const line of (r.stdout ?? '').split('\n')) {
    const m = /^\s*([\d.]+)%\s+\[[.kj]\]\s+(.*)$/.exec(line);
    if (m) out.push({ pct: Number(m[1]), sym: m[2]!.trim().slice(0, 120) });
    if (out.length >= n) break;
  }
  return out;
}
