/**
 * The machine side of the C1M bench (c1m.ts): kernel settings applied for
 * the run and restored after, and what the kernel spends on sockets
 * (/proc/meminfo, /proc/net/sockstat, /proc/slabinfo). Parsers are pure so
 * tests can feed them text. Also the per-process and per-server readings
 * (CPU, RSS, Redis memory, gateway metrics) the report is computed from.
 */
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import type { Redis } from 'ioredis';
import type { Cluster, GatewayProc } from '../../infra/local/cluster-harness.js';
import { procSnap, scrapeGateway, type GatewayScrape, type ProcSnap } from '../lib/gateway-metrics.js';

// ---- sysctls -------------------------------------------------------------------------------------

export interface SysctlChange { key: string; from: string; to: string; why: string }

const sysPath = (key: string): string => `/proc/sys/${key.replace(/\./g, '/')}`;
export const readSysctl = (key: string): string | undefined => {
  try { return readFileSync(sysPath(key), 'utf8').trim().replace(/\s+/g, ' '); } catch { return undefined; }
};
const writeSysctl = (key: string, value: string): void => { writeFileSync(sysPath(key), value); };

/** Numbers in a sysctl value, e.g. "32768 60999" → [32768, 60999]. */
const nums = (v: string): number[] => v.split(' ').map(Number);

/**
 * What a run of `sockets` loopback sockets (client + server side) needs,
 * given the current values; only raises, never lowers. `memBytes`: the
 * machine's RAM (TCP memory is capped at half of it).
 */
export function plannedSysctls(sockets: number, memBytes: number, read: (k: string) => string | undefined = readSysctl, o: { bindBeforeConnect?: boolean } = {}): SysctlChange[] {
  const out: SysctlChange[] = [];
  const raise = (key: string, want: number, why: string): void => {
    const cur = read(key);
    if (cur !== undefined && Number(cur) < want) out.push({ key, from: cur, to: String(want), why });
  };
  raise('fs.file-max', Math.max(4_194_304, sockets * 2), 'system-wide open files: one per socket, both sides of every connection');
  // Clients that bind their source address before connect() take a port per address for every
  // destination; the native client defers the port to connect() (IP_BIND_ADDRESS_NO_PORT) and so
  // gets the whole range per (source, gateway port): the range only matters for the Node clients.
  const ports = o.bindBeforeConnect === false ? undefined : read('net.ipv4.ip_local_port_range');
  if (ports !== undefined) {
    const [lo, hi] = nums(ports);
    if (lo! > 1024 || hi! < 65535) out.push({ key: 'net.ipv4.ip_local_port_range', from: ports, to: '1024 65535', why: 'ephemeral ports per client source address (bind before connect)' });
  }
  raise('net.core.somaxconn', 65535, 'listen backlog of each gateway during the ramp');
  raise('net.ipv4.tcp_max_syn_backlog', 65535, 'half-open connections queued during the ramp');
  raise('net.core.netdev_max_backlog', 65536, 'loopback packets queued per CPU (drops there turn into 1 s SYN retransmits)');
  const mem = read('net.ipv4.tcp_mem');
  if (mem !== undefined) {
    const pages = Math.floor(memBytes / 4096);
    const want = [Math.floor(pages / 4), Math.floor(pages / 3), Math.floor(pages / 2)];
    const cur = nums(mem);
    if (cur[2]! < want[2]!) out.push({ key: 'net.ipv4.tcp_mem', from: mem, to: want.join(' '), why: 'TCP buffer memory for all sockets (pages): pressure mode and drops start there' });
  }
  // Conntrack sees loopback traffic only when some netfilter rule hooks it; its count is then above 0.
  const ct = read('net.netfilter.nf_conntrack_count');
  if (ct !== undefined && Number(ct) > 0) raise('net.netfilter.nf_conntrack_max', Math.ceil(sockets * 0.6), 'conntrack is in the path: one entry per connection');
  return out;
}

/** Applies the changes; returns those applied (to restore), and failures. */
export function applySysctls(changes: SysctlChange[]): { applied: SysctlChange[]; failed: Array<{ key: string; error: string }> } {
  const applied: SysctlChange[] = [], failed: Array<{ key: string; error: string }> = [];
  for (const c of changes) {
    try { writeSysctl(c.key, c.to); applied.push(c); } catch (e) { failed.push({ key: c.key, error: (e as Error).message }); }
  }
  return { applied, failed };
}

/** Puts the old values back, in reverse order; returns the keys that could not be restored. */
export function restoreSysctls(applied: SysctlChange[]): string[] {
  const bad: string[] = [];
  for (const c of [...applied].reverse()) {
    try { writeSysctl(c.key, c.from); if (readSysctl(c.key) !== c.from) bad.push(c.key); } catch { bad.push(c.key); }
  }
  return bad;
}

/** A shell script that restores `applied` (kept in the run's directory in case the run is killed hard). */
export const restoreScript = (applied: SysctlChange[]): string =>
  '#!/bin/sh\n' + [...applied].reverse().map((c) => `sysctl -q -w ${c.key}='${c.from}'`).join('\n') + '\n';

// ---- kernel memory ---------------------------------------------------------------------------------

export interface KernelSnap {
  /** /proc/meminfo, bytes. */
  memAvailable: number; memFree: number; slab: number; sUnreclaim: number;
  /** /proc/net/sockstat (TCP line). `memPages`: pages of socket buffers. */
  tcpInuse: number; tcpOrphan: number; tcpTw: number; tcpAlloc: number; tcpMemPages: number; socketsUsed: number;
  /** /proc/sys/fs/file-nr: file handles allocated system-wide. */
  fileHandles: number;
  /** /proc/slabinfo: bytes per cache (active objects × object size); empty when unreadable. */
  slabs: Record<string, number>;
  conntrack: number;
}

export function parseMeminfo(text: string): Record<string, number> {
  const out: Record<string, number> = {};
  for (const line of text.split('\n')) {
    const m = /^(\w+):\s+(\d+)(?:\s+kB)?/.exec(line);
    if (m) out[m[1]!] = Number(m[2]) * (line.includes('kB') ? 1024 : 1);
  }
  return out;
}

export function parseSockstat(text: string): { used: number; tcp: Record<string, number> } {
  const used = Number(/sockets: used (\d+)/.exec(text)?.[1] ?? 0);
  const tcp: Record<string, number> = {};
  const line = /^TCP: (.*)$/m.exec(text)?.[1] ?? '';
  const parts = line.trim().split(/\s+/);
  for (let i = 0; i + 1 < parts.length; i += 2) tcp[parts[i]!] = Number(parts[i + 1]);
  return { used, tcp };
}

export function parseSlabinfo(text: string): Record<string, number> {
  const out: Record<string, number> = {};
  for (const line of text.split('\n')) {
    if (line.startsWith('slabinfo') || line.startsWith('#')) continue;
    const f = line.trim().split(/\s+/);
    if (f.length < 4) continue;
    out[f[0]!] = Number(f[1]) * Number(f[3]);
  }
  return out;
}

const readOr = (p: string): string => { try { return readFileSync(p, 'utf8'); } catch { return ''; } };

export function kernelSnap(): KernelSnap {
  const mi = parseMeminfo(readOr('/proc/meminfo'));
  const ss = parseSockstat(readOr('/proc/net/sockstat'));
  return {
    memAvailable: mi.MemAvailable ?? 0, memFree: mi.MemFree ?? 0, slab: mi.Slab ?? 0, sUnreclaim: mi.SUnreclaim ?? 0,
    tcpInuse: ss.tcp.inuse ?? 0, tcpOrphan: ss.tcp.orphan ?? 0, tcpTw: ss.tcp.tw ?? 0, tcpAlloc: ss.tcp.alloc ?? 0, tcpMemPages: ss.tcp.mem ?? 0,
    socketsUsed: ss.used, fileHandles: Number((readSysctl('fs.file-nr') ?? '0').split(' ')[0]), slabs: existsSync('/proc/slabinfo') ? parseSlabinfo(readOr('/proc/slabinfo')) : {},
    conntrack: Number(readSysctl('net.netfilter.nf_conntrack_count') ?? 0),
  };
}

/**
 * Kernel memory per TCP socket between two snapshots: slab growth (all
 * caches, and the largest ones by name) and socket-buffer pages, divided by
 * the sockets added.
 */
/** Slab caches a TCP socket's file takes objects from (the socket, its inode and dentry, the file, its epoll entry, LSM blobs). */
export const SOCKET_SLABS = ['TCP', 'sock_inode_cache', 'dentry', 'filp', 'eventpoll_epi', 'eventpoll_pwq', 'lsm_inode_cache', 'lsm_file_cache'];

export function kernelPerSocket(a: KernelSnap, b: KernelSnap): { sockets: number; slab_bytes_per_socket: number; unreclaimable_bytes_per_socket: number;
  socket_caches_bytes_per_socket: number; buffer_bytes_per_socket: number; top_slabs_bytes_per_socket: Record<string, number> } {
  const sockets = b.tcpInuse - a.tcpInuse;
  const per = (x: number): number => (sockets > 0 ? Math.round(x / sockets) : -1);
  const deltas = Object.entries(b.slabs).map(([k, v]) => [k, v - (a.slabs[k] ?? 0)] as const).filter(([, d]) => d > 0).sort((x, y) => y[1] - x[1]).slice(0, 8);
  return {
    sockets, slab_bytes_per_socket: per(b.slab - a.slab), unreclaimable_bytes_per_socket: per(b.sUnreclaim - a.sUnreclaim),
    socket_caches_bytes_per_socket: per(SOCKET_SLABS.reduce((x, k) => x + (b.slabs[k] ?? 0) - (a.slabs[k] ?? 0), 0)),
    buffer_bytes_per_socket: per((b.tcpMemPages - a.tcpMemPages) * 4096),
    top_slabs_bytes_per_socket: Object.fromEntries(deltas.map(([k, d]) => [k, per(d)])),
  };
}

// ---- process and server readings ----------------------------------------------------------------

export interface Procs { gateways: Array<ProcSnap | undefined>; router?: ProcSnap; redis?: ProcSnap; nats?: ProcSnap }
export function procs(c: Cluster): Procs {
  const p: Procs = { gateways: c.gateways.map((g) => procSnap(g.proc.child.pid)) };
  const r = procSnap(c.routers[0]?.proc.child.pid); if (r) p.router = r;
  const rd = procSnap(c.redis.pid); if (rd) p.redis = rd;
  const n = procSnap(c.nats.pid(0)); if (n) p.nats = n;
  return p;
}
export const cpuDelta = (a: ProcSnap | undefined, b: ProcSnap | undefined): number => (a && b ? b.cpuUs - a.cpuUs : NaN);
export const sumRss = (xs: Array<ProcSnap | undefined>): number => xs.reduce((s, x) => s + (x?.rss ?? 0), 0);

export async function redisMemory(redis: Redis): Promise<{ used: number; rss: number; keys: number }> {
  const info = await redis.info('memory');
  const get = (k: string): number => Number(new RegExp(`^${k}:(\\d+)`, 'm').exec(info)?.[1] ?? 0);
  return { used: get('used_memory'), rss: get('used_memory_rss'), keys: await redis.dbsize() };
}

export async function scrapeAll(gws: GatewayProc[]): Promise<Array<GatewayScrape | undefined>> {
  const out: Array<GatewayScrape | undefined> = [];
  for (let i = 0; i < gws.length; i += 8) out.push(...await Promise.all(gws.slice(i, i + 8).map((g) => scrapeGateway(g.httpUrl, 15_000))));
  return out;
}
