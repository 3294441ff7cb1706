/**
 * `npm run bench:refusal-cost`: what one refused upgrade costs
 * the gateway while its session-start limit is full (the 503 every refused
 * client of a storm gets). One gateway and one router (real processes,
 * infra/local/cluster-harness.ts), LONGLINK_MAX_STARTING_SESSIONS=1; the
 * router is stopped (SIGSTOP) and one client's start holds the only slot.
 * Then --attempts upgrades, --concurrency at a time, each a fresh TCP
 * connection with a valid token and resume parameters (as a storm's
 * clients send), are refused; the gateway's CPU time over them ÷ their
 * number is the cost of a refusal (each attempt another user, as in a storm's
 * crowd). --token garbage sends an invalid token
 * instead (what a refusal costs when the limit is full and the token is not
 * good). --baseline COMMIT runs that commit's build first, then this one.
 * --cpu-prof DIR profiles the gateway (printed: hottest functions).
 * Prints one JSON line per build.
 */
import path from 'node:path';
import { connect, type Socket } from 'node:net';
import { execFileSync } from 'node:child_process';
import { benchArgs } from '../lib/cli-args.js';
import { startCluster, CLUSTER_SECRET, type Cluster } from '../../infra/local/cluster-harness.js';
import { clusterProcs, killOnExit } from '../lib/kill-on-exit.js';
import { mintTokenSync } from '../lib/fast-token.js';
import { cpuMicrosFine } from './proc-stats.js';
import { readFileSync } from 'node:fs';

/** User and system CPU time (µs) of a process. */
function userSys(pid: number): [number, number] {
  const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
  const f = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  return [Number(f[11]) * 1e4, Number(f[12]) * 1e4];
}
import { ensureBaseline } from './push-systems.js';
import { hotFunctions, profilesIn } from '../lib/cpuprofile.js';

const { values: o } = benchArgs('bench:refusal-cost', { options: {
  attempts: { type: 'string', default: '20000' }, concurrency: { type: 'string', default: '64' }, token: { type: 'string', default: 'valid' },
  baseline: { type: 'string' }, 'cpu-prof': { type: 'string' },
} });
const N = Number(o.attempts), CONC = Number(o.concurrency);
const usage = (msg: string): never => { process.stderr.write(`bench:refusal-cost: ${msg}\n`); process.exit(2); };
// Checked before anything is spawned: a malformed count used to start a cluster, send nothing and print nulls.
for (const [k, v] of [['attempts', N], ['concurrency', CONC]] as const) {
  if (!Number.isInteger(v) || v <= 0) usage(`--${k} must be a whole number > 0 (got ${String(o[k])})`);
}
if (o.token !== 'valid' && o.token !== 'garbage') usage(`--token must be valid or garbage (got ${o.token})`);
const log = (s: string): void => { process.stderr.write(`[bench:refusal-cost] ${s}\n`); };
const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));
let cluster: Cluster | undefined;
killOnExit(() => clusterProcs(cluster), { exitOnSignal: true });

/** One upgrade on a fresh connection: the answer's status line (or 'error'). */
function attempt(port: number, request: string, keep?: (s: Socket) => void): Promise<string> {
  return new Promise((resolve) => {
    const s = connect(port, '127.0.0.1');
    let head = '';
    let done = false;
    const finish = (v: string): void => { if (!done) { done = true; resolve(v); } if (keep && v === '101') keep(s); else s.destroy(); };
    s.setEncoding('latin1');
    s.on('connect', () => s.write(request));
    s.on('data', (d: string) => { head += d; const i = head.indexOf('\r\n'); if (i >= 0) finish(head.slice(9, 12)); });
    s.on('error', () => finish('error'));
    s.on('close', () => finish('closed'));
  });
}

async function run(root: string, label: string): Promise<object> {
  const prof = o['cpu-prof'];
  cluster = await startCluster({ gateways: 1, routers: 1, ...(root ? { root } : {}),
    ...(prof ? { nodeArgs: (role: string) => (role === 'gateway' ? ['--cpu-prof', `--cpu-prof-dir=${path.join(prof, label)}`] : []) } : {}),
    gatewayEnv: { LONGLINK_MAX_STARTING_SESSIONS: '1', LONGLINK_SESSION_START_TARGET_MS: '20000', LONGLINK_RESUME_TIMEOUT_MS: '60000',
      LONGLINK_SOURCE_CONNECT_RATE: '0', LONGLINK_CONNECT_RATE: '1000000', LONGLINK_CONNECT_BURST: '1000000', LONGLINK_LOG_LEVEL: 'warn' } });
  const c = cluster;
  const gw = c.gateways[0]!;
  const port = gw.port;
  const router = c.routers[0]!.proc.child;
  router.kill('SIGSTOP');
  try {
    let held: Socket | undefined;
    const holder = await attempt(port, upgrade(mintTokenSync(CLUSTER_SECRET, 'holder', 3600), 'holder'), (s) => { held = s; });
    if (holder !== '101') throw new Error(`the holding client got ${holder}`);
    await sleep(300);
    // One client per attempt (a storm's crowd, each refused once): a client retrying at once would be told the rest of its wait.
    const requests = Array.from({ length: N }, (_, i) => upgrade(o.token === 'garbage' ? 'eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiJ4In0.garbage' : mintTokenSync(CLUSTER_SECRET, `refused-${i}`, 3600), 'refused'));
    const pid = gw.proc.child.pid!;
    const statuses: Record<string, number> = {};
    let next = 0;
    const cpu0 = cpuMicrosFine(pid), us0 = userSys(pid), t0 = performance.now();
    await Promise.all(Array.from({ length: CONC }, async () => {
      while (next < N) { const st = await attempt(port, requests[next++]!); statuses[st] = (statuses[st] ?? 0) + 1; }
    }));
    const cpu1 = cpuMicrosFine(pid), us1 = userSys(pid), t1 = performance.now();
    const r = { build: label, attempts: N, statuses, gateway_cpu_us_per_refusal: Math.round(((cpu1 - cpu0) / N) * 10) / 10,
      user_us_per_refusal: Math.round(((us1[0] - us0[0]) / N) * 10) / 10, sys_us_per_refusal: Math.round(((us1[1] - us0[1]) / N) * 10) / 10,
      refusals_per_s: Math.round((N / (t1 - t0)) * 1000), gateway_cpu_pct: Math.round(((cpu1 - cpu0) / ((t1 - t0) * 1000)) * 100) };
    log(JSON.stringify(r));
    held?.destroy();
    return r;
  } finally {
    router.kill('SIGCONT');
    await (prof ? c.shutdown() : c.stop());
    cluster = undefined;
  }
}

/** A storm client's reconnect: resume parameters, the token as a subprotocol. */
function upgrade(token: string, session: string): string {
  return `GET /ws?session=${session}0000000000000000&last_seq=12&epoch=1 HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: Upgrade\r\nUpgrade: websocket\r\n` +
    `Sec-WebSocket-Version: 13\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Protocol: longlink.v1, longlink.token.${token}\r\n\r\n`;
}

async function main(): Promise<void> {
  const builds = o.baseline
    ? [{ label: 'baseline', root: ensureBaseline(execFileSync('git', ['rev-parse', '--show-toplevel'], { encoding: 'utf8' }).trim(), o.baseline, log) }, { label: 'this', root: '' }]
    : [{ label: 'this', root: '' }];
  const out = [];
  for (const b of builds) out.push(await run(b.root, b.label));
  if (o['cpu-prof']) for (const b of builds) for (const f of profilesIn(path.join(o['cpu-prof'], b.label))) {
    const h = hotFunctions(f, 20);
    log(`profile ${b.label}: ${h.totalMs} ms, idle ${h.idlePct}%, GC ${h.gcPct}%\n${h.top.map((x) => `  ${String(x.pct).padStart(5)}%  ${x.fn}`).join('\n')}`);
  }
  console.log(JSON.stringify({ bench: 'refusal-cost', token: o.token, results: out }));
}

main().then(() => process.exit(0), async (err: unknown) => {
  log(`failed: ${err instanceof Error ? err.stack ?? err.message : String(err)}`);
  await cluster?.stop().catch(() => undefined);
  process.exit(1);
});
