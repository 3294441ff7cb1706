/**
 * Pure pieces of the C1M bench's report (c1m.ts): the memory timeline, its
 * chart panels, and which resource limited the run.
 */
import { renderPanels, timelinePanels, type Panel, type Phase, type Point } from '../generator/report.js';

export interface MemPoint {
  t: number; open: number; memAvailableMb: number; memUsedMb: number; slabMb: number; tcpBufMb: number;
  gatewaysMb: number; clientsMb: number; routerMb: number; redisMb: number; natsMb: number;
  busyPct: number; tcpInuse: number; conntrack: number;
}

export function memoryPanels(mem: MemPoint[]): Panel[] {
  const gb = (f: (m: MemPoint) => number): Array<[number, number]> => mem.map((m) => [m.t, Math.round(f(m) / 102.4) / 10]);
  return [
    ['Memory in use (machine: total − available)', 'GB', [
      { label: 'in use', color: '#7f7f7f', values: gb((m) => m.memUsedMb) },
      { label: 'gateways', color: '#1f77b4', values: gb((m) => m.gatewaysMb) },
      { label: 'clients', color: '#ff7f0e', values: gb((m) => m.clientsMb) },
      { label: 'slab', color: '#2ca02c', values: gb((m) => m.slabMb) },
      { label: 'redis', color: '#d62728', values: gb((m) => m.redisMb) }]],
    ['Machine CPU busy (both cores)', '%', [{ label: 'busy', color: '#9467bd', values: mem.map((m) => [m.t, m.busyPct]) }]],
  ];
}

/** One chart: open connections, memory by part, CPU, heartbeat-ack round trip, push latency. */
export function renderC1mSvg(points: Point[], mem: MemPoint[], o: { title: string; phases?: Phase[]; markers?: Array<{ t: number; label: string }> }): string {
  const [open, ...latency] = timelinePanels(points);
  const tMax = Math.max(1, ...points.map((p) => p.t), ...mem.map((m) => m.t));
  return renderPanels([open!, ...memoryPanels(mem), ...latency], { ...o, tMax });
}

/**
 * What limited the run, from what it saw: the ramp's stop reason, client
 * errors by kind (ports, files, refused), memory left and CPU.
 */
export function limitVerdict(r: { target: number; reached: number; rampStop: string; errors: Record<string, number>; statuses: Record<string, number>;
  memAvailableMinMb: number; busyPctRamp: number }): string {
  const n = (k: string): number => Object.entries(r.errors).filter(([e]) => e.includes(k)).reduce((a, [, c]) => a + c, 0);
  const notes: string[] = [];
  if (n('EADDRNOTAVAIL') > 0 || n('EADDRINUSE') > 0) notes.push(`ephemeral ports (${n('EADDRNOTAVAIL') + n('EADDRINUSE')} connects failed for want of a port)`);
  if (n('EMFILE') > 0 || n('ENFILE') > 0) notes.push(`open files (${n('EMFILE') + n('ENFILE')} EMFILE/ENFILE)`);
  if (n('ENOBUFS') > 0 || n('ENOMEM') > 0) notes.push(`kernel memory (${n('ENOBUFS') + n('ENOMEM')} ENOBUFS/ENOMEM)`);
  const refused = Object.values(r.statuses).reduce((a, b) => a + b, 0);
  if (refused > 0) notes.push(`${refused} upgrades refused (${JSON.stringify(r.statuses)}), admission control`);
  if (r.reached >= r.target) return `none: all ${r.target} connections held; least headroom: memory (${r.memAvailableMinMb} MB available at the lowest), CPU ${r.busyPctRamp}% busy in the ramp` + (notes.length ? `; seen: ${notes.join('; ')}` : '');
  if (r.rampStop.startsWith('memory')) return `memory: ${r.rampStop}` + (notes.length ? `; also ${notes.join('; ')}` : '');
  if (notes.length > 0 && !r.rampStop.startsWith('time')) return notes.join('; ') + ` (ramp: ${r.rampStop})`;
  if (r.rampStop.startsWith('time')) return `CPU/time: the ramp ran ${r.busyPctRamp}% busy and the time budget ended first (${r.rampStop})` + (notes.length ? `; also ${notes.join('; ')}` : '');
  return r.rampStop + (notes.length ? `; ${notes.join('; ')}` : '');
}
