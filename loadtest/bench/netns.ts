/**
 * The real-network scenarios (tests/netns/) at full length, on demand:
 * kernel carrier NAT (conntrack), lossy and slow links (iptables statistic +
 * NFQUEUE delayer), partitions, separate client hosts, in network namespaces.
 * Needs root (see docs/nat-simulator.md, "Real networks").
 *
 *   npm run bench:netns [-- --only 1,3 --minutes 5 --storm-hosts 8 --storm-clients 100]
 *
 * Prints each scenario's figures as a readable block, then one JSON line (last line).
 */
import { benchArgs } from '../lib/cli-args.js';
import { natBelowMinimum, natForgetsMapping, smartHeartbeatThroughNat } from '../../infra/netns/scenarios/heartbeat.js';
import { gatewayPartition, lossySlowLink, reconnectStorm } from '../../infra/netns/scenarios/network.js';

const { values } = benchArgs('bench:netns', {
  options: {
    only: { type: 'string', default: '1,2,3,4,5,6' },
    minutes: { type: 'string', default: '5' },
    'storm-hosts': { type: 'string', default: '8' },
    'storm-clients': { type: 'string', default: '100' },
  },
});
const minutes = Number(values.minutes);
const only = new Set(values.only.split(',').map((s) => s.trim()));
const scenarios: Array<[string, () => Promise<Record<string, unknown>>]> = [
  // 1: a scaled hour (36 s at 1:100) × minutes/5 of steady state after learning.
  ['1', () => smartHeartbeatThroughNat({ steadyMs: 36_000 * Math.max(1, minutes / 5) })],
  ['2', () => natForgetsMapping()],
  ['3', () => lossySlowLink({ durationMs: minutes * 60_000, clientsPerHost: 20 })],
  ['4', () => gatewayPartition({ partitionMs: 30_000, clients: 50 })],
  ['5', () => natBelowMinimum({ holdMs: minutes * 60_000 })],
  ['6', () => reconnectStorm({ hosts: Number(values['storm-hosts']), clientsPerHost: Number(values['storm-clients']), recoverTimeoutMs: 180_000 })],
];

const out: Record<string, unknown> = { startedAt: new Date().toISOString(), minutes, note: 'shared 2-core machine: figures are noisy' };
for (const [id, run] of scenarios) {
  if (!only.has(id)) continue;
  const t0 = Date.now();
  try {
    const f = await run();
    out[id] = { ...f, wallMs: Date.now() - t0 };
  } catch (err) {
    out[id] = { error: (err as Error).message.slice(0, 2000), wallMs: Date.now() - t0 };
  }
  console.log(`\n== scenario ${id} (${((Date.now() - t0) / 1000).toFixed(0)} s)`);
  for (const [k, v] of Object.entries(out[id] as Record<string, unknown>)) console.log(`  ${k.padEnd(34)} ${typeof v === 'object' ? JSON.stringify(v) : String(v)}`);
}
console.log(JSON.stringify(out));
