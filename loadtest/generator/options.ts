/**
 * Command line of `npm run loadtest -- …` (loadtest/README.md has examples).
 * Pure: argv in, config out, so tests can check the parsing and the split of
 * connections over workers and source addresses.
 */
import { parseArgs } from 'node:util';

export interface GeneratorConfig {
  /** Gateway URLs (clients spread over them), or empty with `cluster` > 0. */
  urls: string[];
  /** Start a local cluster (infra/local/cluster-harness.ts) with this many gateways. */
  cluster: number;
  gatewayEnv: Record<string, string>;
  api: string | undefined;
  apiKey: string | undefined;
  secret: string | undefined;
  connections: number;
  workers: number;
  /** Loopback source addresses, spread over the workers. */
  sources: string[];
  hbMs: number;
  rampS: number;
  holdS: number;
  /** Seconds into the hold when `dropFraction` of the connections lose TCP and reconnect with resume. */
  dropAtS: number | undefined;
  dropFraction: number;
  retry: 'sdk' | 'fixed';
  pushRate: number;
  sampleMs: number;
  userPrefix: string;
  out: string | undefined;
  /** Per-worker in-flight connects. */
  concurrency: number;
  /** Client socket layer: 'ws' (the ws library) or 'raw' (loadtest/lib/raw-driver.ts, lighter). */
  driver: 'ws' | 'raw';
}

/** Most sockets one process may hold: 20,000 open files per process, less headroom. */
export const MAX_PER_PROCESS = 18_000;
/** Connections per loopback source address: well under the ~28k ephemeral ports of one address. */
export const MAX_PER_SOURCE = 12_000;

export const HELP = `npm run loadtest -- [options]
  --url ws://h:p/ws         gateway URL (repeat or comma-separate to spread clients); or
  --cluster G               start a local cluster with G gateways (needs nats-server, redis-server)
  --gateway-env K=V         extra env for the cluster's gateways (repeatable)
  --api URL --api-key KEY   push API (automatic with --cluster)
  --secret S                HS256 secret the gateways verify tokens with (automatic with --cluster)
  --connections N (1000)    --workers W (auto: ≤ ${MAX_PER_PROCESS} per process)
  --sources K (auto: ≤ ${MAX_PER_SOURCE} per address, from 127.0.0.2)
  --hb MS (30000)           heartbeat interval asked for
  --ramp S (30)             open all connections over S seconds
  --hold S (60)             hold them S seconds
  --drop-at S --drop-fraction F (0.25)   S seconds into the hold, F of the connections lose TCP and resume
  --retry sdk|fixed (sdk)   reconnect delays: SDK backoff with full jitter, or a fixed 1 s
  --push-rate R (0)         pushes per second to random connected users during the hold
  --sample-ms MS (1000)     timeline resolution
  --driver ws|raw (ws)      client sockets: the ws library, or the lighter raw RFC 6455 client (lib/raw-driver.ts)
  --out DIR                 where report.json and report.svg go (default: a new temp dir)`;

const num = (name: string, v: string | undefined, def: number, min = 0): number => {
  if (v === undefined) return def;
  const n = Number(v);
  if (!Number.isFinite(n) || n < min) throw new Error(`--${name} must be a number ≥ ${min}, got "${v}"`);
  return n;
};

export function parseConfig(argv: string[]): GeneratorConfig {
  const { values: v } = parseArgs({ args: argv, strict: true, options: {
    url: { type: 'string', multiple: true }, cluster: { type: 'string' }, 'gateway-env': { type: 'string', multiple: true },
    api: { type: 'string' }, 'api-key': { type: 'string' }, secret: { type: 'string' },
    connections: { type: 'string' }, workers: { type: 'string' }, sources: { type: 'string' }, hb: { type: 'string' },
    ramp: { type: 'string' }, hold: { type: 'string' }, 'drop-at': { type: 'string' }, 'drop-fraction': { type: 'string' },
    retry: { type: 'string' }, 'push-rate': { type: 'string' }, 'sample-ms': { type: 'string' }, 'user-prefix': { type: 'string' },
    out: { type: 'string' }, concurrency: { type: 'string' }, driver: { type: 'string' }, help: { type: 'boolean' },
  } });
  if (v.help) throw new Error(HELP);
  const urls = (v.url ?? []).flatMap((u) => u.split(',')).map((u) => u.trim()).filter((u) => u !== '');
  const cluster = num('cluster', v.cluster, 0);
  if (urls.length === 0 && cluster === 0) throw new Error('give --url (one or more gateways) or --cluster G\n' + HELP);
  if (urls.length > 0 && cluster > 0) throw new Error('--url and --cluster exclude each other');
  for (const u of urls) if (!/^wss?:\/\//.test(u)) throw new Error(`--url must be ws:// or wss://, got "${u}"`);
  const connections = num('connections', v.connections, 1000, 1);
  const workers = v.workers === undefined ? Math.max(1, Math.ceil(connections / 15_000)) : num('workers', v.workers, 1, 1);
  if (connections / workers > MAX_PER_PROCESS) throw new Error(`${connections} connections over ${workers} workers is over ${MAX_PER_PROCESS} sockets per process: raise --workers`);
  const nSources = v.sources === undefined ? Math.max(workers, Math.ceil(connections / MAX_PER_SOURCE)) : num('sources', v.sources, 1, 1);
  if (nSources > 250) throw new Error('--sources: at most 250 (127.0.0.2 … 127.0.0.251)');
  const gatewayEnv: Record<string, string> = {};
  for (const kv of v['gateway-env'] ?? []) {
    const i = kv.indexOf('=');
    if (i <= 0) throw new Error(`--gateway-env wants K=V, got "${kv}"`);
    gatewayEnv[kv.slice(0, i)] = kv.slice(i + 1);
  }
  const retry = v.retry ?? 'sdk';
  if (retry !== 'sdk' && retry !== 'fixed') throw new Error('--retry is sdk or fixed');
  const pushRate = num('push-rate', v['push-rate'], 0);
  const api = v.api, apiKey = v['api-key'];
  if (pushRate > 0 && cluster === 0 && (api === undefined || apiKey === undefined)) throw new Error('--push-rate needs --api and --api-key (or --cluster)');
  if (cluster === 0 && v.secret === undefined) throw new Error('--secret (the gateways\' HS256 JWT secret) is needed to mint client tokens');
  const driver = v.driver ?? 'ws';
  if (driver !== 'ws' && driver !== 'raw') throw new Error('--driver is ws or raw');
  const dropFraction = num('drop-fraction', v['drop-fraction'], 0.25);
  if (dropFraction > 1) throw new Error('--drop-fraction is 0..1');
  return {
    urls, cluster, gatewayEnv, api, apiKey, secret: v.secret, connections, workers,
    sources: Array.from({ length: nSources }, (_, i) => `127.0.0.${2 + i}`),
    hbMs: num('hb', v.hb, 30_000, 100), rampS: num('ramp', v.ramp, 30), holdS: num('hold', v.hold, 60),
    dropAtS: v['drop-at'] === undefined ? undefined : num('drop-at', v['drop-at'], 0), dropFraction, retry, pushRate,
    sampleMs: num('sample-ms', v['sample-ms'], 1000, 100), userPrefix: v['user-prefix'] ?? 'lg-', out: v.out,
    concurrency: num('concurrency', v.concurrency, 64, 1), driver,
  };
}

export interface WorkerShare { first: number; count: number; sources: string[] }

/** Connections [first, first+count) and the source addresses of each worker: even split, sources round-robin. */
export function splitWork(c: Pick<GeneratorConfig, 'connections' | 'workers' | 'sources'>): WorkerShare[] {
  const out: WorkerShare[] = [];
  const per = Math.floor(c.connections / c.workers), extra = c.connections % c.workers;
  let first = 0;
  for (let w = 0; w < c.workers; w++) {
    const count = per + (w < extra ? 1 : 0);
    const sources = c.sources.filter((_, i) => i % c.workers === w);
    out.push({ first, count, sources: sources.length > 0 ? sources : [c.sources[w % c.sources.length]!] });
    first += count;
  }
  return out;
}
