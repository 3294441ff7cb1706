/** What machine a load run ran on, and how busy it was with other work: goes into every report. */
import os from 'node:os';
import { readFileSync } from 'node:fs';

export interface MachineInfo {
  cpus: number; model: string; mem_gb: number; kernel: string; node: string;
  loadavg_1m: number;
  /** Busy % of all cores over a 1 s sample taken before the run started (other load on the machine). */
  busy_pct_before: number;
  open_files_limit: string;
}

/** [busy, total] jiffies over all cores (busy excludes idle and iowait). */
export function machineJiffies(): [number, number] {
  const f = readFileSync('/proc/stat', 'utf8').split('\n')[0]!.trim().split(/\s+/).slice(1).map(Number);
  const total = f.reduce((a, b) => a + b, 0);
  return [total - f[3]! - (f[4] ?? 0), total];
}

export const busyPct = (a: [number, number], b: [number, number]): number => Math.round(((b[0] - a[0]) / Math.max(1, b[1] - a[1])) * 100);

function openFilesLimit(): string {
  try {
    const m = /Max open files\s+(\S+)\s+(\S+)/.exec(readFileSync('/proc/self/limits', 'utf8'));
    return m ? `${m[1]} soft / ${m[2]} hard` : 'unknown';
  } catch { return 'unknown'; }
}

export async function machineInfo(): Promise<MachineInfo> {
  const a = machineJiffies();
  await new Promise((r) => setTimeout(r, 1000));
  const b = machineJiffies();
  return {
    cpus: os.availableParallelism(), model: os.cpus()[0]?.model ?? 'unknown', mem_gb: Math.round(os.totalmem() / 2 ** 30),
    kernel: os.release(), node: process.version, loadavg_1m: Math.round(os.loadavg()[0]! * 100) / 100,
    busy_pct_before: busyPct(a, b), open_files_limit: openFilesLimit(),
  };
}
