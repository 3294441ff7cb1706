/** Reads a process's RSS and CPU time from /proc (Linux). */
import { readdirSync, readFileSync } from 'node:fs';

const TICKS_PER_S = 100; // USER_HZ on Linux x86_64

export function rssBytes(pid: number): number {
  const m = /VmRSS:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
  if (!m) throw new Error(`no VmRSS for pid ${pid}`);
  return Number(m[1]) * 1024;
}

/** User + system CPU time in microseconds. */
export function cpuMicros(pid: number): number {
  const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
  const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  return ((Number(fields[11]) + Number(fields[12])) * 1e6) / TICKS_PER_S;
}

/**
 * CPU time in microseconds at nanosecond resolution: the run time of every
 * live thread (/proc/<pid>/task/<tid>/schedstat). cpuMicros() counts in
 * 10 ms clock ticks, too coarse for a window that holds a few milliseconds
 * of work (a toy-size run's heartbeats read as 0). Threads that exited
 * inside the window are not counted: compare windows of long-lived
 * processes only. Falls back to cpuMicros() where schedstat is missing.
 */
export function cpuMicrosFine(pid: number): number {
  let ns = 0;
  try {
    for (const tid of readdirSync(`/proc/${pid}/task`)) {
      try { ns += Number(readFileSync(`/proc/${pid}/task/${tid}/schedstat`, 'utf8').split(' ', 1)[0]); }
      catch { /* the thread exited between the listing and the read */ }
    }
  } catch {
    return cpuMicros(pid);
  }
  return Number.isFinite(ns) && ns > 0 ? ns / 1000 : cpuMicros(pid);
}
