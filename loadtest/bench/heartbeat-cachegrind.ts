/**
 * `npm run bench:heartbeat-cachegrind`: user-space instructions and simulated
 * cache misses per heartbeat, gateway vs bare uWS (and optionally an older
 * gateway build, --before DIR), each server under
 * `valgrind --tool=callgrind --cache-sim=yes`. Deterministic where
 * bench:heartbeat-cpu is not: the counts do not depend on the machine's load.
 *
 * The cache is simulated with this VM's L1d and L2 geometry by default
 * (--d1 32768,8,64 --ll 524288,8,64): valgrind runs a server ~50-100x
 * slower, so the bench holds ~10x fewer connections than bench:heartbeat-cpu,
 * and an L2-sized last level keeps each connection's state evicted between
 * two of its heartbeats as 10,000 connections do natively against the real
 * caches (2,000 connections × a dozen lines is ~1.5 MB).
 *
 * After the clients are up and a settle period, each server's counters are
 * zeroed (callgrind_control -z), and after --window ms dumped with the acks
 * its clients received in between. Per server: the totals per heartbeat, and
 * the functions with the most last-level misses (JIT-compiled code named from
 * node's --perf-basic-prof map). Kernel time is not counted, the same for
 * every server.
 *
 * Flags: --connections N (2000 per server) --interval MS (5000) --window MS (20000) --settle MS (15000)
 *        --before DIR (dist/ of another build) --d1 S,A,L --ll S,A,L --top K (12) --out DIR (callgrind files; default a temp dir)
 * Last line of output: one JSON object.
 */
import { execFileSync } from 'node:child_process';
import { fork, type ChildProcess } from 'node:child_process';
import { mkdirSync, mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { benchArgs } from '../lib/cli-args.js';
import { CLUSTER_SECRET, startCluster, type Cluster } from '../../infra/local/cluster-harness.js';
import { clusterProcs, killOnExit } from '../lib/kill-on-exit.js';
import { nextMessage } from '../lib/worker-ipc.js';
import { spawnNode, type Spawned } from '../../infra/local/process.js';

const here = path.dirname(fileURLToPath(import.meta.url));
const { values } = benchArgs('bench:heartbeat-cachegrind', { options: {
  connections: { type: 'string', default: '2000' }, interval: { type: 'string', default: '5000' },
  window: { type: 'string', default: '20000' }, settle: { type: 'string', default: '15000' },
  before: { type: 'string' }, d1: { type: 'string', default: '32768,8,64' }, ll: { type: 'string', default: '524288,8,64' },
  top: { type: 'string', default: '12' }, out: { type: 'string' },
} });
const N = Number(values.connections), INTERVAL = Number(values.interval), WINDOW = Number(values.window);
const SETTLE = Number(values.settle), TOP = Number(values.top);
for (const [k, v] of Object.entries({ connections: N, interval: INTERVAL, window: WINDOW, top: TOP })) {
  if (!Number.isFinite(v) || v <= 0) { process.stderr.write(`bench:heartbeat-cachegrind: --${k} must be a number > 0\n`); process.exit(2); }
}
if (!(SETTLE >= 0)) { process.stderr.write('bench:heartbeat-cachegrind: --settle must be a number >= 0\n'); process.exit(2); }
for (const [k, v] of [['d1', values.d1], ['ll', values.ll]] as const) {
  if (!/^\d+,\d+,\d+$/.test(v)) { process.stderr.write(`bench:heartbeat-cachegrind: --${k} must be size,associativity,line (got ${v})\n`); process.exit(2); }
}
const OUT = values.out ? path.resolve(values.out) : mkdtempSync(path.join(tmpdir(), 'hb-cachegrind-'));
mkdirSync(OUT, { recursive: true });
const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

const EVENTS = ['Ir', 'Dr', 'Dw', 'I1mr', 'D1mr', 'D1mw', 'ILmr', 'DLmr', 'DLmw'] as const;
type Counts = Record<(typeof EVENTS)[number], number>;

interface Target { name: string; proc: Spawned; url: string; secret?: string; worker?: ChildProcess; outFile: string }

const children: ChildProcess[] = [];
let cluster: Cluster | undefined;
killOnExit(() => [...children, ...clusterProcs(cluster)], { exitOnSignal: true });

function valgrind(name: string): { exec: string; args: string[]; outFile: string } {
  const outFile = path.join(OUT, `callgrind.${name}.out`);
  return {
    exec: 'valgrind',
    outFile,
    args: ['--tool=callgrind', '--cache-sim=yes', `--D1=${values.d1}`, `--LL=${values.ll}`, '--smc-check=all-non-file', '--dump-instr=yes',
      `--callgrind-out-file=${outFile}`, process.execPath, '--perf-basic-prof'],
  };
}

async function acks(t: Target): Promise<number> {
  const m = nextMessage<{ acks: number }>(t.worker!, 'stats');
  t.worker!.send({ cmd: 'stats' });
  return (await m).acks;
}

/** JIT code addresses → names, from node's perf map (/tmp/perf-<pid>.map). */
function perfMap(pid: number): Array<[number, number, string]> {
  try {
    return readFileSync(`/tmp/perf-${pid}.map`, 'utf8').split('\n').filter(Boolean).map((l) => {
      const [a, s, ...n] = l.split(' ');
      return [parseInt(a!, 16), parseInt(s!, 16), n.join(' ')] as [number, number, string];
    }).sort((x, y) => x[0] - y[0]);
  } catch { return []; }
}

/**
 * Self counts per function from a callgrind dump written with --dump-instr=yes: each cost line's instruction
 * address is looked up in node's perf map first (callgrind charges JIT-compiled code, which has no symbol, to
 * whatever native function it last knew), then charged to the line's `fn=`. A cost line right after `calls=` is
 * the call's inclusive cost and is skipped.
 */
function functions(file: string, pid: number): { total: Counts; fns: Array<{ name: string; c: Counts }> } {
  const map = perfMap(pid);
  const jit = (a: number): string | undefined => {
    let lo = 0, hi = map.length - 1;
    while (lo <= hi) {
      const mid = (lo + hi) >> 1, [s, len, n] = map[mid]!;
      if (a < s) hi = mid - 1; else if (a >= s + len) lo = mid + 1; else return `JS ${n}`;
    }
    return undefined;
  };
  const names = new Map<string, string>();
  /** `fn=(id) name` defines the id, `fn=(id)` reuses it. */
  const named = (v: string): string => {
    const m = /^\((\d+)\)(?: (.*))?$/.exec(v);
    if (!m) return v;
    if (m[2] !== undefined) names.set(m[1]!, m[2]);
    return names.get(m[1]!) ?? v;
  };
  const byName = new Map<string, Counts>();
  let total: Counts | undefined;
  let fn = '?', addr = 0, skip = false;
  const zero = (): Counts => Object.fromEntries(EVENTS.map((e) => [e, 0])) as Counts;
  for (const line of readFileSync(file, 'utf8').split('\n')) {
    if (line.startsWith('fn=')) { fn = named(line.slice(3)); continue; }
    if (line.startsWith('cfn=')) { named(line.slice(4)); continue; }
    if (line.startsWith('calls=')) { skip = true; continue; }
    if (line.startsWith('summary:') || line.startsWith('totals:')) {
      const v = line.split(/\s+/).slice(1).map(Number);
      total = Object.fromEntries(EVENTS.map((e, i) => [e, v[i] ?? 0])) as Counts;
      continue;
    }
    const c0 = line.charCodeAt(0);
    // Cost lines start with the address: 0x…, +n, -n or * (same as before).
    if (!(line.startsWith('0x') || c0 === 43 || c0 === 45 || c0 === 42)) continue;
    const cols = line.split(' ');
    const a = cols[0]!;
    addr = a === '*' ? addr : a.startsWith('0x') ? parseInt(a, 16) : addr + Number(a);
    if (skip) { skip = false; continue; }
    // cols[1] is the line number position; the events follow (trailing zeros omitted).
    const name = jit(addr) ?? fn;
    let c = byName.get(name);
    if (!c) byName.set(name, (c = zero()));
    for (let i = 0; i < EVENTS.length; i++) c[EVENTS[i]!] += Number(cols[2 + i] ?? 0) || 0;
  }
  if (!total) throw new Error(`no totals in ${file}`);
  return { total, fns: [...byName].map(([name, c]) => ({ name, c })) };
}

async function main(): Promise<void> {
  const c = (cluster = await startCluster({ gateways: 0, routerEnv: { LONGLINK_GATEWAY_LEASE_MS: '60000' } }));
  const targets: Target[] = [];
  const startGateway = async (dist: string, name: string): Promise<void> => {
    const v = valgrind(name);
    const p = spawnNode(path.join(dist, 'services/gateway/main.js'), {
      LONGLINK_MAX_CONNECTIONS: '100000', LONGLINK_CONNECT_RATE: '100000', LONGLINK_CONNECT_BURST: '100000', LONGLINK_SOURCE_CONNECT_RATE: '0',
      LONGLINK_HB_MIN_MS: '1000', LONGLINK_WHEEL_TICK_MS: '500', LONGLINK_BEACON_INTERVAL_MS: '5000',
      LONGLINK_GATEWAY_HOST: '127.0.0.1', LONGLINK_GATEWAY_PORT: '0', LONGLINK_GATEWAY_ID: `gw-${name}`,
      LONGLINK_NATS_URLS: c.nats.urls.join(','), LONGLINK_JWT_SECRET: CLUSTER_SECRET, LONGLINK_LOG_LEVEL: 'warn',
      // Session starts are slow under valgrind: give the router's answer time.
      LONGLINK_RESUME_TIMEOUT_MS: '60000', LONGLINK_SESSION_START_TARGET_MS: '20000',
    }, [], v.exec, v.args);
    children.push(p.child);
    const port = (await p.waitFor(/listening on ws:\/\/127\.0\.0\.1:(\d+)\/ws/, 300_000))[1];
    targets.push({ name, proc: p, url: `ws://127.0.0.1:${port}/ws`, secret: CLUSTER_SECRET, outFile: v.outFile });
  };
  try {
    await startGateway(path.resolve(here, '../..'), 'longlink');
    if (values.before) await startGateway(path.resolve(values.before), 'before');
    const v = valgrind('uws');
    const u = spawnNode(path.join(here, 'baseline-servers.js'), {}, ['uws', String(INTERVAL)], v.exec, v.args);
    children.push(u.child);
    targets.push({ name: 'uws', proc: u, url: `ws://127.0.0.1:${(await u.waitFor(/PORT (\d+)/, 300_000))[1]}/ws`, outFile: v.outFile });
    process.stderr.write(`[bench:heartbeat-cachegrind] ${targets.map((t) => t.name).join(', ')}: ${N} connections each, D1 ${values.d1}, LL ${values.ll}, out ${OUT}\n`);
    await Promise.all(targets.map((t, k) => {
      const w = fork(path.join(here, 'heartbeat-worker.js'), [JSON.stringify({
        url: t.url, count: N, localAddress: `127.0.0.${2 + k}`, intervalMs: INTERVAL, prefix: `${t.name}`, concurrency: 20,
        ...(t.secret !== undefined ? { secret: t.secret } : {}),
      })], { stdio: ['ignore', 'inherit', 'inherit', 'ipc'] });
      t.worker = w;
      children.push(w);
      return nextMessage<{ open: number; failed: number }>(w, 'ready').then((r) => process.stderr.write(`  ${t.name}: ${r.open} open, ${r.failed} failed\n`));
    }));
    await sleep(SETTLE);
    const a0 = new Map<string, number>();
    for (const t of targets) {
      execFileSync('callgrind_control', ['-z', String(t.proc.child.pid)], { stdio: 'ignore' });
      a0.set(t.name, await acks(t));
    }
    await sleep(WINDOW);
    const rows: Record<string, { heartbeats: number; per_heartbeat: Counts; top: Array<{ name: string } & Counts> }> = {};
    for (const t of targets) {
      const a1 = await acks(t);
      execFileSync('callgrind_control', ['-d', String(t.proc.child.pid)], { stdio: 'ignore' });
      const beats = a1 - a0.get(t.name)!;
      await sleep(2000);
      const dump = execFileSync('sh', ['-c', `ls -t ${OUT}/callgrind.${t.name}.out.* | head -1`], { encoding: 'utf8' }).trim();
      const { total, fns } = functions(dump, t.proc.child.pid!);
      const per = (c: Counts): Counts => Object.fromEntries(EVENTS.map((e) => [e, Number((c[e] / beats).toFixed(2))])) as Counts;
      const top = fns.sort((x, y) => (y.c.DLmr + y.c.DLmw) - (x.c.DLmr + x.c.DLmw) || (y.c.D1mr + y.c.D1mw) - (x.c.D1mr + x.c.D1mw))
        .slice(0, TOP).map((f) => ({ name: f.name.slice(0, 90), ...per(f.c) }));
      rows[t.name] = { heartbeats: beats, per_heartbeat: per(total), top };
    }
    const cols = ['Ir', 'D1mr', 'D1mw', 'DLmr', 'DLmw'] as const;
    for (const [name, r] of Object.entries(rows)) {
      console.log(`\n${name}: ${r.heartbeats} heartbeats; per heartbeat ${cols.map((e) => `${e} ${r.per_heartbeat[e]}`).join(', ')}`);
      for (const f of r.top) console.log(`  ${cols.map((e) => String(f[e]).padStart(8)).join(' ')}  ${f.name}`);
    }
    console.log(JSON.stringify({ bench: 'heartbeat-cachegrind', date: new Date().toISOString(), node: process.version, connections: N, interval_ms: INTERVAL,
      window_ms: WINDOW, d1: values.d1, ll: values.ll, servers: rows }));
  } finally {
    for (const t of targets) t.worker?.send({ cmd: 'close' });
    await sleep(500);
    for (const t of targets) t.proc.kill('SIGKILL');
    await c.shutdown();
    cluster = undefined;
  }
}

main().then(() => process.exit(0), (err: unknown) => {
  console.error(err);
  process.exit(1);
});
