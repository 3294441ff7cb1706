/**
 * `npm run bench:runtime -- …`: one benchmark (bench:memory or the load
 * generator) on two Node.js runtimes in the same run, alternating
 * (A B, then B A, …) so a machine that gets busier or quieter during the run
 * biases neither side. Each run is the whole benchmark on that Node: every
 * process it starts (gateway, router, baselines, client workers) inherits
 * the runtime, so the ratio is the runtime's. Reports per-metric medians and
 * ratios (first Node ÷ second; < 1 is better for every metric listed).
 *
 * Meant for the trixie root (tests/trixie/), where Node 24 (/usr/local/bin)
 * and Node 20 (/opt/node20) both load the same uWS 20.57 build:
 *   bash tests/trixie/run.sh node dist/loadtest/bench/runtime-compare.js \
 *     --bench memory --rounds 2 -- --connections 15000
 * Flags: --bench memory|loadtest, --nodes A,B (default the root's 24 and 20),
 * --rounds N (2); arguments after `--` go to the benchmark.
 * Last output line: one JSON object.
 */
import { spawn } from 'node:child_process';
import path from 'node:path';
import { benchArgs } from '../lib/cli-args.js';
import { fileURLToPath } from 'node:url';

const here = path.dirname(fileURLToPath(import.meta.url));
const sep = process.argv.indexOf('--');
const { values } = benchArgs('bench:runtime', {
  args: process.argv.slice(2, sep < 0 ? undefined : sep),
  options: { bench: { type: 'string', default: 'memory' }, nodes: { type: 'string', default: '/usr/local/bin/node,/opt/node20/bin/node' }, rounds: { type: 'string', default: '2' } },
});
const passedArgs = sep < 0 ? [] : process.argv.slice(sep + 1);
const nodes = values.nodes.split(',');
const rounds = Number(values.rounds);
if (nodes.length !== 2 || !(rounds >= 1)) throw new Error('--nodes needs two paths, --rounds a positive number');
const SCRIPTS: Record<string, string> = { memory: path.join(here, 'memory.js'), loadtest: path.join(here, '../generator/main.js') };
const script = SCRIPTS[values.bench];
if (!script) throw new Error(`--bench must be one of ${Object.keys(SCRIPTS).join(', ')}`);

type Json = Record<string, unknown>;
const num = (v: unknown): number | undefined => (typeof v === 'number' && Number.isFinite(v) && v >= 0 ? v : undefined);
const median = (xs: number[]): number => { const s = [...xs].sort((a, b) => a - b); const m = s.length >> 1; return Number((s.length % 2 ? s[m]! : (s[m - 1]! + s[m]!) / 2).toFixed(2)); };

/** The metrics compared, from the benchmark's last-line JSON (lower is better for each). */
export function metrics(bench: string, j: Json): Record<string, number> {
  const out: Record<string, number> = {};
  const put = (k: string, v: unknown): void => { const n = num(v); if (n !== undefined) out[k] = n; };
  if (bench === 'memory') {
    for (const r of (j.results ?? []) as Json[]) {
      put(`${String(r.server)} RSS/conn marginal (B)`, r.rss_bytes_per_conn);
      put(`${String(r.server)} RSS/conn average (B)`, r.rss_avg_bytes_per_conn);
      put(`${String(r.server)} CPU/heartbeat (µs)`, r.cpu_us_per_heartbeat);
    }
  } else {
    const s = (j.summary ?? {}) as Json;
    const gws = (s.gateways ?? []) as Json[];
    put('gateway RSS/conn (B)', s.gateway_rss_bytes_per_conn);
    put('gateway CPU/heartbeat (µs, median of gateways)', gws.length ? median(gws.map((g) => num(g.cpu_us_per_heartbeat) ?? NaN).filter(Number.isFinite)) : undefined);
    put('gateway CPU in hold (% of a core, all gateways)', s.gateway_cpu_pct_hold_total);
    const hb = (s.heartbeat_ack_ms_hold ?? {}) as Json, conn = (s.connect_ms ?? {}) as Json;
    put('heartbeat-ack p50 (ms)', hb.p50);
    put('heartbeat-ack p99 (ms)', hb.p99);
    put('connect p50 (ms)', conn.p50);
    put('failed + unexpected closes + spurious timeouts', (num(s.failed_attempts) ?? 0) + (num(s.unexpected_closes) ?? 0) + (num(s.spurious_timeouts) ?? 0));
  }
  return out;
}

function runOnce(node: string): Promise<Json> {
  return new Promise((resolve, reject) => {
    const child = spawn(node, [script!, ...passedArgs], { stdio: ['ignore', 'pipe', 'inherit'] });
    let out = '';
    child.stdout.on('data', (b: Buffer) => { out += b.toString(); process.stdout.write(b); });
    child.on('error', reject);
    child.on('exit', (code) => {
      if (code !== 0) return reject(new Error(`${node} ${script}: exit ${code}`));
      try {
        resolve(JSON.parse(out.trim().split('\n').at(-1)!) as Json);
      } catch (e) { reject(e instanceof Error ? e : new Error(String(e))); }
    });
  });
}

async function versionOf(node: string): Promise<string> {
  return new Promise((resolve, reject) => {
    const c = spawn(node, ['-p', 'process.version'], { stdio: ['ignore', 'pipe', 'inherit'] });
    let v = '';
    c.stdout.on('data', (b: Buffer) => { v += b.toString(); });
    c.on('error', reject);
    c.on('exit', () => resolve(v.trim()));
  });
}

const versions = await Promise.all(nodes.map(versionOf));
const samples: Array<Record<string, number[]>> = [{}, {}];
const runs: Array<{ node: string; round: number; json: Json }> = [];
const started = Date.now();
for (let round = 0; round < rounds; round++) {
  const order = round % 2 === 0 ? [0, 1] : [1, 0];
  for (const i of order) {
    process.stderr.write(`[bench:runtime] round ${round + 1}/${rounds}: ${values.bench} on Node ${versions[i]}\n`);
    const json = await runOnce(nodes[i]!);
    runs.push({ node: versions[i]!, round, json });
    for (const [k, v] of Object.entries(metrics(values.bench, json))) (samples[i]![k] ??= []).push(v);
  }
}

const rows = Object.keys(samples[0]!).filter((k) => samples[1]![k]).map((k) => {
  const a = median(samples[0]![k]!), b = median(samples[1]![k]!);
  return { metric: k, a, b, ratio: b > 0 ? Number((a / b).toFixed(2)) : null, a_runs: samples[0]![k]!, b_runs: samples[1]![k]! };
});
console.log(`\n${values.bench}: medians of ${rounds} run(s) each, alternating; ratio = Node ${versions[0]} ÷ Node ${versions[1]} (< 1: ${versions[0]} is better)`);
console.log(`${'metric'.padEnd(52)} ${versions[0]!.padStart(12)} ${versions[1]!.padStart(12)}  ratio`);
for (const r of rows) console.log(`${r.metric.padEnd(52)} ${String(r.a).padStart(12)} ${String(r.b).padStart(12)}  ${r.ratio ?? '-'}`);
console.log(JSON.stringify({ bench: 'runtime', compared: values.bench, args: passedArgs, nodes: versions, rounds, minutes: Math.round((Date.now() - started) / 6000) / 10, rows }));
