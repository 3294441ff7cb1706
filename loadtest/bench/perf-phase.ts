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

/**
 * What `perfStat` counts: the process's CPU (task clock, all threads), its
 * context switches, and its system calls in total and by the kinds a push
 * costs (the request read and answer, the Redis and NATS writes and reads,
 * the loop's waits, GC helper threads' futexes). Syscall tracepoints need
 * root or perf_event_paranoid <= -1; perf reports them "not supported"
 * otherwise, and they are left out.
 */
export const SYSCALL_EVENTS = [
  'task-clock', 'context-switches', 'raw_syscalls:sys_enter',
  'syscalls:sys_enter_sendto', 'syscalls:sys_enter_sendmsg', 'syscalls:sys_enter_write', 'syscalls:sys_enter_writev',
  'syscalls:sys_enter_recvfrom', 'syscalls:sys_enter_read', 'syscalls:sys_enter_epoll_pwait', 'syscalls:sys_enter_futex',
] as const;

/**
 * `perf stat -x,` output (one "value,unit,event,…" line per event) as event → value; events perf could not count
 * ("<not counted>", "<not supported>") and comment lines are left out. task-clock is in ms.
 */
export function parsePerfStat(text: string): Record<string, number> {
  const out: Record<string, number> = {};
  for (const line of text.split('\n')) {
    if (line.trim() === '' || line.startsWith('#')) continue;
    const [value, , event] = line.split(',');
    if (value === undefined || event === undefined || event === '') continue;
    const v = Number(value);
    if (value.trim() === '' || !Number.isFinite(v)) continue;
    out[event.trim()] = v;
  }
  return out;
}

/** Per push (or per any unit: `units` of it in the counted window), rounded; counts that perf did not give are absent. */
export interface SyscallsPerUnit {
  units: number; syscalls?: number; writes?: number; reads?: number; epoll_pwait?: number; futex?: number;
  context_switches?: number; task_clock_us?: number;
}

/**
 * `writes`: write, writev, sendto and sendmsg (every socket write: an HTTP answer, a Redis or NATS batch); `reads`:
 * read and recvfrom (an HTTP request, Redis answers, NATS input).
 */
export function perUnit(c: Record<string, number>, units: number): SyscallsPerUnit {
  const out: SyscallsPerUnit = { units };
  if (!(units > 0)) return out;
  const r = (v: number): number => Math.round((v / units) * 100) / 100;
  const sum = (names: string[]): number | undefined => {
    const present = names.map((n) => c[`syscalls:sys_enter_${n}`]).filter((v): v is number => v !== undefined);
    return present.length > 0 ? present.reduce((a, b) => a + b, 0) : undefined;
  };
  const put = (k: Exclude<keyof SyscallsPerUnit, 'units'>, v: number | undefined, scale = 1): void => { if (v !== undefined) out[k] = r(v * scale); };
  put('syscalls', c['raw_syscalls:sys_enter']);
  put('writes', sum(['write', 'writev', 'sendto', 'sendmsg']));
  put('reads', sum(['read', 'recvfrom']));
  put('epoll_pwait', c['syscalls:sys_enter_epoll_pwait']);
  put('futex', c['syscalls:sys_enter_futex']);
  put('context_switches', c['context-switches']);
  put('task_clock_us', c['task-clock'], 1000);
  return out;
}

/**
 * Counts SYSCALL_EVENTS on `pid` for `ms`, starting after `delayMs`; resolves with the counts, or undefined when perf
 * is missing or fails (the bench goes on without them).
 */
export function perfStat(pid: number, delayMs: number, ms: number): Promise<Record<string, number> | undefined> {
  return new Promise((resolve) => {
    setTimeout(() => {
      const p = spawn('perf', ['stat', '-x,', '-e', SYSCALL_EVENTS.join(','), '-p', String(pid), '--', 'sleep', String(ms / 1000)],
        { stdio: ['ignore', 'ignore', 'pipe'] });
      let err = '';
      p.stderr.on('data', (b: Buffer) => { err += b.toString('utf8'); });
      p.on('error', () => resolve(undefined));
      p.on('close', (code) => resolve(code === 0 ? parsePerfStat(err) : undefined));
    }, delayMs);
  });
}
