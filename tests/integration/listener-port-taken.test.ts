/**
 * Every uWS listener takes its port exclusively (listenExclusive,
 * services/shared/uws-native.ts): a process started on a port another
 * process's listener holds exits 1 with LL_PORT_TAKEN naming the listener and
 * the port, and the first process keeps the port. uWS listens with
 * SO_REUSEPORT by default, so before, the second gateway (router, standalone)
 * started and the kernel handed each new connection to either process at
 * random. The router HTTP API on node:http (LONGLINK_API_SERVER=node) never
 * shared a port, but failed with Node's raw EADDRINUSE: it fails the same way,
 * and on a host address not this machine's (EADDRNOTAVAIL) with that cause.
 * Real processes: cluster gateways (NATS), cluster routers (NATS, Redis),
 * standalone processes. The metrics port: gateway-metrics-port-taken.
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import os from 'node:os';
import { startNatsServer, type NatsHarness } from '../../infra/local/nats.js';
import { startRedis, type RedisHarness } from '../../infra/local/redis.js';
import { spawnNode, type Spawned } from '../../infra/local/process.js';
import { freePort, portTakenMessage, stillServes } from '../helpers/port-taken.js';
import { TEST_API_KEY, TEST_SECRET } from '../helpers/standalone.js';

/** The second process exits 1 with the catalogue error naming the listener and the port, not a bare stack. */
async function refused(p: Spawned, port: number, listener: string, message = portTakenMessage(port, listener)): Promise<string> {
  try {
    const exit = await p.exited(20_000);
    assert.equal(exit.code, 1, p.output());
  } finally {
    p.kill();
  }
  const out = p.output();
  assert.match(out, /LL_PORT_TAKEN/, out);
  assert.match(out, message, out);
  assert.doesNotMatch(out, /^\s+at /m, 'no stack trace');
  return out;
}

const STANDALONE = 'dist/services/standalone/main.js';
const STANDALONE_ENV = {
  LONGLINK_GATEWAY_HOST: '127.0.0.1', LONGLINK_GATEWAY_PORT: '0', LONGLINK_API_HOST: '127.0.0.1', LONGLINK_API_PORT: '0',
  LONGLINK_JWT_SECRET: TEST_SECRET, LONGLINK_API_KEYS: TEST_API_KEY, LONGLINK_LOG_LEVEL: 'warn',
};

describe('standalone: a port another standalone process holds', () => {
  it('the WebSocket port: the second process exits 1, the first keeps the port', async () => {
    const port = await freePort();
    const first = spawnNode(STANDALONE, { ...STANDALONE_ENV, LONGLINK_GATEWAY_PORT: String(port) });
    try {
      await first.waitFor(/Longlink standalone is running/, 20_000);
      await refused(spawnNode(STANDALONE, { ...STANDALONE_ENV, LONGLINK_GATEWAY_PORT: String(port) }), port, 'gateway WebSocket listener');
      await stillServes(port);
    } finally {
      first.kill();
    }
  });

  for (const server of ['uws', 'node'] as const) {
    it(`the push API port (${server}): the second process exits 1, the first keeps the port`, async () => {
      const port = await freePort();
      const env = { ...STANDALONE_ENV, LONGLINK_API_PORT: String(port), LONGLINK_API_SERVER: server };
      const first = spawnNode(STANDALONE, env);
      try {
        await first.waitFor(/Longlink standalone is running/, 20_000);
        await refused(spawnNode(STANDALONE, env), port, 'router HTTP API listener');
        await stillServes(port);
      } finally {
        first.kill();
      }
    });
  }
});

describe('the router HTTP API on node:http, on an address not this machine\'s', () => {
  // 192.0.2.1 is TEST-NET-1 (RFC 5737): no machine's own address; bind() fails with EADDRNOTAVAIL.
  const foreign = '192.0.2.1';
  const mine = Object.values(os.networkInterfaces()).flat().some((a) => a?.address === foreign);
  it('exits 1 with LL_PORT_TAKEN and the cause node:http knows (not "another process holds the port")', { skip: mine && `${foreign} is this machine's` }, async () => {
    const port = await freePort();
    const p = spawnNode(STANDALONE, { ...STANDALONE_ENV, LONGLINK_API_HOST: foreign, LONGLINK_API_PORT: String(port), LONGLINK_API_SERVER: 'node' });
    const out = await refused(p, port, 'router HTTP API listener',
      new RegExp(`could not listen on 192\\.0\\.2\\.1:${port} \\(router HTTP API listener\\): the address is not this machine's`));
    assert.doesNotMatch(out, /another process holds the port/, out);
  });
});

describe('cluster: a second gateway or router on the same port', () => {
  let nats: NatsHarness;
  let redis: RedisHarness;
  before(async () => {
    nats = await startNatsServer();
    redis = await startRedis();
  });
  after(async () => { await nats.stop(); await redis.stop(); });

  const gateway = (port: number): Spawned => spawnNode('dist/services/gateway/main.js', {
    LONGLINK_GATEWAY_HOST: '127.0.0.1', LONGLINK_GATEWAY_PORT: String(port), LONGLINK_NATS_URLS: nats.urls.join(','),
    LONGLINK_JWT_SECRET: TEST_SECRET, LONGLINK_LOG_LEVEL: 'warn',
  });
  const router = (port: number, server: 'uws' | 'node'): Spawned => spawnNode('dist/services/router/main.js', {
    LONGLINK_API_HOST: '127.0.0.1', LONGLINK_API_PORT: String(port), LONGLINK_API_SERVER: server, LONGLINK_API_KEYS: TEST_API_KEY,
    LONGLINK_NATS_URLS: nats.urls.join(','), LONGLINK_REDIS_URL: redis.url, LONGLINK_LOG_LEVEL: 'warn',
  });

  it('gateway: the second exits 1, the first keeps the port', async () => {
    const port = await freePort();
    const first = gateway(port);
    try {
      await first.waitFor(/gateway \S+ listening on ws:\/\//, 20_000);
      await refused(gateway(port), port, 'gateway WebSocket listener');
      await stillServes(port);
    } finally {
      first.kill();
    }
  });

  for (const server of ['uws', 'node'] as const) {
    it(`router (${server}): the second exits 1, the first keeps the port`, async () => {
      const port = await freePort();
      const first = router(port, server);
      try {
        await first.waitFor(/router listening on http:\/\//, 20_000);
        await refused(router(port, server), port, 'router HTTP API listener');
        await stillServes(port);
      } finally {
        first.kill();
      }
    });
  }
});
