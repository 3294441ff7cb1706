/**
 * Reads V8 CPU profiles (`node --cpu-prof`, *.cpuprofile) and sums self time
 * per function, so a benchmark can print where a process spent its time
 * next to its numbers.
 */
import { readFileSync, readdirSync } from 'node:fs';
import path from 'node:path';

interface ProfileNode {
  id: number;
  callFrame: { functionName: string; url: string; lineNumber: number };
}
interface CpuProfile { nodes: ProfileNode[]; samples: number[]; timeDeltas: number[]; startTime: number; endTime: number }

export interface HotFunction {
  /** `name (file:line)`, the file relative to its package or the repo. */
  fn: string;
  selfMs: number;
  /** Share of all samples, idle included. */
  pct: number;
}

/** Shortens a script URL to what identifies it: `node_modules/<pkg>/…` or the path under dist/. */
function shortUrl(url: string): string {
  if (url === '') return '';
  const nm = url.lastIndexOf('node_modules/');
  if (nm >= 0) return url.slice(nm + 'node_modules/'.length);
  const d = url.lastIndexOf('/dist/');
  return d >= 0 ? url.slice(d + '/dist/'.length) : url.replace(/^file:\/\//, '');
}

/** Self time per function over one profile, highest first. */
export function hotFunctions(file: string, top = 15): { totalMs: number; idlePct: number; gcPct: number; top: HotFunction[] } {
  const p = JSON.parse(readFileSync(file, 'utf8')) as CpuProfile;
  const byId = new Map(p.nodes.map((n) => [n.id, n]));
  const self = new Map<string, number>();
  let total = 0;
  for (let i = 0; i < p.samples.length; i++) {
    const n = byId.get(p.samples[i]!);
    const dt = p.timeDeltas[i] ?? 0;
    total += dt;
    if (!n) continue;
    const f = n.callFrame;
    const key = f.url === '' ? `(${f.functionName || 'anonymous'})`.replace(/^\(\((.*)\)\)$/, '($1)') : `${f.functionName || '(anonymous)'} (${shortUrl(f.url)}:${f.lineNumber + 1})`;
    self.set(key, (self.get(key) ?? 0) + dt);
  }
  const pct = (us: number): number => Math.round((us / Math.max(1, total)) * 1000) / 10;
  const list = [...self].sort((a, b) => b[1] - a[1]);
  return {
    totalMs: Math.round(total / 1000),
    idlePct: pct(self.get('(idle)') ?? 0),
    gcPct: pct(self.get('(garbage collector)') ?? 0),
    top: list.filter(([k]) => k !== '(idle)').slice(0, top).map(([fn, us]) => ({ fn, selfMs: Math.round(us / 1000), pct: pct(us) })),
  };
}

/** Every *.cpuprofile in a directory. */
export function profilesIn(dir: string): string[] {
  try {
    return readdirSync(dir).filter((f) => f.endsWith('.cpuprofile')).map((f) => path.join(dir, f));
  } catch {
    return [];
  }
}
