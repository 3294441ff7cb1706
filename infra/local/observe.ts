/**
 * `npm run observe`: a local Longlink cluster (NATS, Redis, routers,
 * gateways from dist/, a TCP balancer) plus a real Prometheus scraping it
 * every second with the repository's alert and recording rules, and a small
 * demo fleet (SDK clients, a push per second) so the graphs move. Prints the
 * URLs; Ctrl-C stops everything.
 *
 *   npm run observe -- [--gateways 2] [--routers 1] [--clients 20] [--push-every-ms 1000] [--prometheus-port 9090]
 *
 * Needs nats-server, redis-server and prometheus (`bash tests/setup.sh`
 * installs them as root).
 */
import path from 'node:path';
import { createClient, type LonglinkClient } from '../../sdk/src/node.js';
import { CLUSTER_API_KEY, startCluster } from './cluster-harness.js';
import { freePort, startPrometheus, type RunningPrometheus } from './prometheus.js';

function arg(name: string, dflt: number): number {
  const i = process.argv.indexOf(`--${name}`);
  if (i < 0) return dflt;
  const v = Number(process.argv[i + 1]);
  if (!Number.isInteger(v) || v < 0) throw new Error(`--${name} needs a non-negative integer`);
  return v;
}

async function prometheusPort(wanted: number): Promise<number> {
  try {
    const res = await fetch(`http://127.0.0.1:${wanted}/`, { signal: AbortSignal.timeout(500) });
    await res.body?.cancel();
    return freePort(); // something answers there already
  } catch {
    return wanted;
  }
}

async function main(): Promise<void> {
  if (process.argv.includes('--help') || process.argv.includes('-h')) {
    console.log('Usage: npm run observe -- [--gateways 2] [--routers 1] [--clients 20] [--push-every-ms 1000] [--prometheus-port 9090]');
    return;
  }
  const gateways = arg('gateways', 2);
  const routers = arg('routers', 1);
  const clients = arg('clients', 20);
  const pushEveryMs = arg('push-every-ms', 1000);
  console.log(`starting NATS, Redis, ${routers} router(s), ${gateways} gateway(s)…`);
  const cluster = await startCluster({ gateways, routers });
  let prom: RunningPrometheus | undefined;
  const fleet: LonglinkClient[] = [];
  let timer: NodeJS.Timeout | undefined;
  let stopping = false;
  const stop = async (code: number): Promise<void> => {
    if (stopping) return;
    stopping = true;
    if (timer) clearInterval(timer);
    for (const c of fleet) c.close();
    await prom?.stop().catch(() => undefined);
    await cluster.stop().catch(() => undefined);
    process.exit(code);
  };
  process.on('SIGINT', () => void stop(0));
  process.on('SIGTERM', () => void stop(0));
  try {
    prom = await startPrometheus({
      targets: [
        { job: 'longlink-gateway', urls: cluster.gateways.map((g) => `${g.httpUrl}/metrics`) },
        { job: 'longlink-router', urls: [`${cluster.apiUrl}/metrics`] },
      ],
      rulesFiles: [path.resolve('infra/prometheus/alerts.yml')],
      port: await prometheusPort(arg('prometheus-port', 9090)),
      intervalS: 1,
    });
  } catch (err) {
    console.error(err instanceof Error ? err.message : err);
    await stop(1);
    return;
  }
  for (let i = 0; i < clients; i++) {
    const user = `demo${i}`;
    const c = createClient({ url: cluster.url, token: () => cluster.token(user), heartbeat: { smart: false, intervalMs: 5000 } });
    c.connect();
    fleet.push(c);
  }
  let n = 0;
  if (pushEveryMs > 0 && clients > 0) {
    timer = setInterval(() => {
      const users = [`demo${n % clients}`, `demo${(n * 7 + 3) % clients}`];
      cluster.push(users, { n: n++, at: Date.now() }).catch(() => undefined);
    }, pushEveryMs);
  }
  const lines = [
    '',
    'Longlink local cluster with Prometheus is running.',
    `  Prometheus:   ${prom.url}  (graph: ${prom.url}/graph, alerts: ${prom.url}/alerts, targets: ${prom.url}/targets)`,
    `  WebSocket:    ${cluster.url}  (TCP balancer in front of the gateways)`,
    ...cluster.gateways.map((g) => `  Gateway ${g.id}:  ${g.httpUrl}/metrics`),
    `  Push API:     ${cluster.apiUrl}/v1/push   metrics: ${cluster.apiUrl}/metrics`,
    `  API key:      ${CLUSTER_API_KEY}   (!!! DEV: a fixed, public test value)`,
    `  Demo fleet:   ${clients} SDK clients${pushEveryMs > 0 && clients > 0 ? `, a push every ${pushEveryMs} ms` : ''}`,
    `  Config:       ${prom.configFile}`,
    '',
    '  Try:  sum(longlink_gateway_connections)',
    '        histogram_quantile(0.99, sum by (le) (rate(longlink_gateway_push_latency_seconds_bucket{path="live"}[1m])))',
    '        pod:longlink_gateway_resident_memory_per_connection_bytes:ratio',
    '  Grafana: import infra/grafana/longlink.json with this Prometheus as its data source.',
    '',
    'Ctrl-C stops everything.',
  ];
  console.log(lines.join('\n'));
}

main().catch((err: unknown) => {
  console.error(err instanceof Error ? err.stack ?? err.message : err);
  process.exit(1);
});
