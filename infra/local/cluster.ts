/**
 * `npm run cluster`: a whole Longlink cluster on this machine, for trying it
 * and for load tests: nats-server and redis-server on their own free ports
 * and temp data dirs, a router, N gateways, and a TCP balancer in front of
 * the gateways (one client URL, like a Kubernetes Service). Prints the
 * endpoints; Ctrl-C drains the gateways and stops everything.
 *
 * Flags: --gateways N (2) --routers M (1) --nats-nodes 1|3 (1) --aof
 * NATS runs with JetStream, so LONGLINK_WEBHOOKS (docs/webhooks.md) set in the
 * environment reaches the routers and works as in production.
 * It reuses the integration tests' harness, so what is tested is what runs.
 */
import { randomBytes } from 'node:crypto';
import { parseArgs } from 'node:util';
import { CLUSTER_API_KEY, CLUSTER_SECRET, startCluster } from './cluster-harness.js';

const { values } = parseArgs({ options: {
  gateways: { type: 'string', default: '2' }, routers: { type: 'string', default: '1' },
  'nats-nodes': { type: 'string', default: '1' }, aof: { type: 'boolean', default: false }, help: { type: 'boolean', short: 'h' },
} });
if (values.help) {
  console.log('usage: npm run cluster -- [--gateways N] [--routers M] [--nats-nodes 1|3] [--aof]');
  process.exit(0);
}
const gateways = Number(values.gateways), routers = Number(values.routers), natsNodes = Number(values['nats-nodes']);
if (!Number.isInteger(gateways) || gateways < 1 || !Number.isInteger(routers) || routers < 1 || (natsNodes !== 1 && natsNodes !== 3)) {
  console.error('--gateways and --routers must be positive integers; --nats-nodes 1 or 3');
  process.exit(2);
}

console.log(`starting NATS (${natsNodes} node${natsNodes > 1 ? 's' : ''}), Redis, ${routers} router(s), ${gateways} gateway(s)…`);
// The operator console (docs/console.md) with a credential generated for this run.
const consoleToken = `dev-console-${randomBytes(18).toString('base64url')}`;
const c = await startCluster({ profile: 'dev', gateways, routers, natsNodes: natsNodes as 1 | 3, redisAof: values.aof, jetstream: true, routerEnv: { LONGLINK_CONSOLE_TOKEN: consoleToken } });
console.log([
  '',
  'Longlink local cluster is running.',
  `  Clients (balanced):  ${c.url}`,
  ...c.gateways.map((g) => `  Gateway ${g.id}:        ${g.url}   (${g.httpUrl}/metrics, /readyz)`),
  ...c.routers.map((r, i) => `  Router ${i} push API:  ${r.apiUrl}/v1/push   (${r.apiUrl}/metrics)`),
  ...c.routers.map((r, i) => `  Router ${i} console:   ${r.apiUrl}/console/`),
  `  NATS:                ${c.nats.urls.join(',')}`,
  `  Redis:               ${c.redis.url}`,
  '',
  '  !!! DEV CLUSTER: the JWT secret and API key below are fixed, public test values.',
  `  API key:             ${CLUSTER_API_KEY}`,
  `  Console token (DEV, generated for this run): ${consoleToken}`,
  `  Client tokens:       LONGLINK_JWT_SECRET=${CLUSTER_SECRET} npm run token -- alice`,
  `  Client:              LONGLINK_JWT_SECRET=${CLUSTER_SECRET} npm run client -- alice --url ${c.url}`,
  '',
  'Ctrl-C drains the gateways and stops everything.',
].join('\n'));

let stopping = false;
const stop = (): void => {
  if (stopping) return;
  stopping = true;
  console.log('\nstopping: draining gateways…');
  c.shutdown().then(() => process.exit(0), (err: unknown) => { console.error(err); process.exit(1); });
};
process.on('SIGINT', stop);
process.on('SIGTERM', stop);
