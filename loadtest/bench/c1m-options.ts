/**
 * bench:c1m's flags, checked once (a bad flag exits 2 with its rule), and
 * the sizes derived from them: gateways, client processes and loopback
 * source addresses for --connections.
 */
import { benchArgs } from '../lib/cli-args.js';

export function c1mOptions() {
  const { values: v } = benchArgs('bench:c1m', { options: {
    connections: { type: 'string', default: '1000000' },
    'per-gateway': { type: 'string', default: '18500' },
    'per-worker': { type: 'string', default: '18000' },
    'per-source': { type: 'string', default: '12000' },
    hb: { type: 'string', default: '270000' },
    'ramp-rate': { type: 'string', default: '1000' },
    'ramp-max': { type: 'string', default: '1800' },
    hold: { type: 'string', default: '600' },
    'push-rate': { type: 'string', default: '10' },
    drain: { type: 'string', default: 'on' },
    'drain-window': { type: 'string', default: '30000' },
    'sample-ms': { type: 'string', default: '5000' },
    'sweep-ms': { type: 'string', default: '1000' },
    client: { type: 'string', default: 'native' },
    concurrency: { type: 'string', default: '16' },
    'mem-floor-mb': { type: 'string', default: '1200' },
    sysctl: { type: 'string', default: 'auto' },
    'semi-space-mb': { type: 'string', default: '2' },
    'end-by': { type: 'string', default: '' },
    out: { type: 'string', default: '' },
  } });

  const N = Number(v.connections), perGw = Number(v['per-gateway']), perWorker = Number(v['per-worker']), perSource = Number(v['per-source']);
  const hbMs = Number(v.hb), rampRate = Number(v['ramp-rate']), pushRate = Number(v['push-rate']), sampleMs = Number(v['sample-ms']);
  const drainWindowMs = Number(v['drain-window']), memFloor = Number(v['mem-floor-mb']) * 2 ** 20, semi = Number(v['semi-space-mb']);
  for (const [k, x] of Object.entries({ connections: N, 'per-gateway': perGw, 'per-worker': perWorker, 'per-source': perSource, hb: hbMs, 'ramp-rate': rampRate, 'sample-ms': sampleMs })) {
    if (!Number.isFinite(x) || x <= 0) { process.stderr.write(`bench:c1m: --${k} must be a positive number\n`); process.exit(2); }
  }
  if (perGw > 19_500 || perWorker > 19_500) { process.stderr.write('bench:c1m: --per-gateway and --per-worker stay under 19,500 (20,000 open files per process)\n'); process.exit(2); }
  if (!['auto', 'on', 'off'].includes(v.sysctl)) { process.stderr.write('bench:c1m: --sysctl is auto, on or off\n'); process.exit(2); }
  if (!['native', 'node'].includes(v.client)) { process.stderr.write('bench:c1m: --client is native or node\n'); process.exit(2); }
  if (!['on', 'off'].includes(v.drain)) { process.stderr.write('bench:c1m: --drain is on or off\n'); process.exit(2); }
  /** --end-by HH:MM (UTC, today or tomorrow) → epoch ms. */
  function endBy(s: string): number {
    if (s === '') return Infinity;
    const m = /^(\d{1,2}):(\d{2})$/.exec(s);
    if (!m) { process.stderr.write('bench:c1m: --end-by is HH:MM (UTC)\n'); process.exit(2); }
    const d = new Date(); d.setUTCHours(Number(m[1]), Number(m[2]), 0, 0);
    if (d.getTime() < Date.now() - 3600_000) d.setUTCDate(d.getUTCDate() + 1);
    return d.getTime();
  }
  const deadline = endBy(v['end-by']);

  /** Enough gateways that, with one drained, the others still take every client under the 19,500 limit. */
  let gateways = Math.ceil(N / perGw);
  while (gateways > 1 && N / (gateways - 1) > 19_000) gateways++;
  const workerCount = Math.ceil(N / perWorker);
  const nSources = Math.max(workerCount, Math.ceil(N / perSource));
  /** 127.1.0.2, 127.1.0.3, … (any 127/8 address is on the loopback interface; 127.0.0.1 stays for the servers). */
  const sources = Array.from({ length: nSources }, (_, i) => `127.${1 + Math.floor(i / 250)}.0.${2 + (i % 250)}`);
  return Object.freeze({ v, N, perGw, hbMs, rampRate, pushRate, sampleMs, drainWindowMs, memFloor, semi, deadline, gateways, workerCount, sources });
}
