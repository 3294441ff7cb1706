/**
 * Heartbeats per hour for an idle client: smart heartbeat (Mars defaults) vs a
 * fixed 30 s heartbeat, through the NAT simulator at a 5-minute NAT timeout,
 * against a real standalone gateway.
 *
 * Time is scaled: every duration (NAT timeout, heartbeat settings, timeouts)
 * is divided by --scale (default 100, so 5 min of NAT timeout is 3 s of real
 * time and one scaled hour is 36 s). Results are reported in scaled units.
 *
 *   node dist/loadtest/bench/heartbeat-rate.js [--scale 100] [--nat-min 5] [--window-min 60]
 *
 * Prints a table, then one JSON line (last line).
 */
import { benchArgs } from '../lib/cli-args.js';
import { startRig } from '../nat-sim/harness.js';
import { MARS_DEFAULTS, createClient, type LonglinkClient } from '../../sdk/src/node.js';

const { values } = benchArgs('bench:heartbeat', {
  options: {
    scale: { type: 'string', default: '100' },
    'nat-min': { type: 'string', default: '5' },
    'window-min': { type: 'string', default: '60' },
    'learn-timeout-min': { type: 'string', default: '240' },
  },
});
const scale = Number(values.scale);
const natMs = Number(values['nat-min']) * 60_000;
const windowMs = Number(values['window-min']) * 60_000;
const learnTimeoutMs = Number(values['learn-timeout-min']) * 60_000;
const real = (scaledMs: number): number => scaledMs / scale;

interface Sample { beats: number; zombies: number; reconnects: number }
const sample = (c: LonglinkClient): Sample => ({ beats: c.stats.heartbeatsSent, zombies: c.stats.zombies, reconnects: c.stats.connects - 1 });

async function main(): Promise<void> {
  const rig = await startRig({ natTimeoutMs: real(natMs) });
  const mk = (user: string, heartbeat: Parameters<typeof createClient>[0]['heartbeat']): LonglinkClient => createClient({
    url: rig.url, device: 'bench', token: () => rig.token(user, 'bench'), heartbeat,
    backoff: { baseMs: real(1000), capMs: real(60_000), healthyAfterMs: real(30_000) }, connectTimeoutMs: 10_000,
  });
  const smart = mk('bench-smart', {
    minMs: real(MARS_DEFAULTS.minMs), maxMs: real(MARS_DEFAULTS.maxMs), stepMs: real(MARS_DEFAULTS.stepMs), marginMs: real(MARS_DEFAULTS.marginMs),
    successesToStep: MARS_DEFAULTS.successesToStep, failuresToBackOff: MARS_DEFAULTS.failuresToBackOff, timeoutMs: real(60_000),
  });
  const fixed = mk('bench-fixed', { smart: false, intervalMs: real(30_000), timeoutMs: real(60_000) });
  try {
    const t0 = performance.now();
    smart.connect();
    fixed.connect();
    await Promise.all([smart.whenConnected(10_000), fixed.whenConnected(10_000)]);

    // Learning phase: until the smart client settles (the fixed one just runs alongside).
    const settled = new Promise<void>((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error('smart heartbeat did not settle in time')), real(learnTimeoutMs));
      smart.on('interval', (e) => { if (e.stable) { clearTimeout(timer); resolve(); } });
    });
    await settled;
    const learnReal = performance.now() - t0;
    const s0 = sample(smart);
    const f0 = sample(fixed);

    // Steady state: one measurement window of idleness.
    await new Promise((r) => setTimeout(r, real(windowMs)));
    const s1 = sample(smart);
    const f1 = sample(fixed);
    const totalReal = performance.now() - t0;
    const hours = windowMs / 3_600_000;
    const perHour = (a: Sample, b: Sample): number => (b.beats - a.beats) / hours;
    const overall = (b: Sample): number => b.beats / ((totalReal * scale) / 3_600_000);
    const rows = [
      { client: 'fixed 30 s', intervalS: fixed.heartbeatIntervalMs * scale / 1000, steady: perHour(f0, f1), overall: overall(f1), zombies: f1.zombies, reconnects: f1.reconnects },
      { client: 'smart (Mars defaults)', intervalS: smart.heartbeatIntervalMs * scale / 1000, steady: perHour(s0, s1), overall: overall(s1), zombies: s1.zombies, reconnects: s1.reconnects },
    ];
    const pad = (s: string, n: number): string => s.padEnd(n);
    console.log(`NAT timeout ${natMs / 60_000} min; time scale 1:${scale} (NAT ${real(natMs)} ms real); window ${windowMs / 60_000} scaled min after learning; learning took ${((learnReal * scale) / 60_000).toFixed(1)} scaled min`);
    console.log(`${pad('client', 24)}${pad('interval', 12)}${pad('beats/h steady', 16)}${pad('beats/h overall', 17)}${pad('zombies', 9)}reconnects`);
    for (const r of rows) {
      console.log(`${pad(r.client, 24)}${pad(`${r.intervalS.toFixed(0)} s`, 12)}${pad(r.steady.toFixed(1), 16)}${pad(r.overall.toFixed(1), 17)}${pad(String(r.zombies), 9)}${r.reconnects}`);
    }
    const ratio = rows[0]!.steady / Math.max(1e-9, rows[1]!.steady);
    console.log(`smart sends ${ratio.toFixed(1)}x fewer heartbeats than fixed 30 s in steady state`);
    console.log(JSON.stringify({
      bench: 'heartbeat-rate', natTimeoutS: natMs / 1000, scale, windowMin: windowMs / 60_000, learnMin: (learnReal * scale) / 60_000,
      fixed: rows[0], smart: rows[1], steadyRatio: ratio,
    }));
  } finally {
    smart.close();
    fixed.close();
    await rig.close();
  }
}

main().catch((err: unknown) => {
  console.error(err);
  process.exit(1);
});
