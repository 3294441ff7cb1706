/**
 * Size limits against the NATS server's max_payload (services/shared/bus/payload-limits.ts):
 * a router or gateway whose limit plus the envelope exceeds what the server carries refuses
 * to start and names both numbers, instead of accepting messages it can never deliver live.
 * Real nats-server (max_payload 200,000), Redis and processes.
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { startNatsServer, type NatsHarness } from '../../infra/local/nats.js';
import { startRedis, type RedisHarness } from '../../infra/local/redis.js';
import { spawnNode } from '../../infra/local/process.js';
import { BUS_ENVELOPE_BYTES, busMessageBytesFor, payloadLimitProblems } from '../../services/shared/bus/payload-limits.js';

const MAX_PAYLOAD = 200_000;

describe('payloadLimitProblems', () => {
  it('names each limit the server cannot carry with its envelope, and the largest that fits', () => {
    assert.deepEqual(payloadLimitProblems(undefined, { A: 1e9 }), []);
    assert.deepEqual(payloadLimitProblems(MAX_PAYLOAD, { A: MAX_PAYLOAD - BUS_ENVELOPE_BYTES }), []);
    const p = payloadLimitProblems(MAX_PAYLOAD, { A: MAX_PAYLOAD - BUS_ENVELOPE_BYTES + 1, B: 10 });
    assert.equal(p.length, 1);
    assert.match(p[0]!, /^A: 195905 bytes plus 4096 of envelope exceed the NATS server's max_payload \(200000\); .* set A to at most 195904$/);
    // Escaped on the bus: twice the limit must fit.
    assert.deepEqual(payloadLimitProblems(MAX_PAYLOAD, { A: 97952 }, 2), []);
    assert.match(payloadLimitProblems(MAX_PAYLOAD, { A: 97953 }, 2)[0]!, /up to 2 × on the bus.* set A to at most 97952$/);
  });

  it('sizes the router\'s bus messages to the server', () => {
    assert.equal(busMessageBytesFor(undefined, 512 * 1024), 512 * 1024);
    assert.equal(busMessageBytesFor(1024 * 1024, 512 * 1024), 512 * 1024);
    assert.equal(busMessageBytesFor(MAX_PAYLOAD, 512 * 1024), MAX_PAYLOAD - BUS_ENVELOPE_BYTES);
  });
});

describe('router and gateway check their limits against max_payload at start', () => {
  let nats: NatsHarness;
  let redis: RedisHarness;
  before(async () => {
    nats = await startNatsServer({ extraConfig: `max_payload: ${MAX_PAYLOAD}` });
    redis = await startRedis();
  });
  after(async () => { await nats.stop(); await redis.stop(); });

  const router = (env: Record<string, string>) => spawnNode('dist/services/router/main.js', {
    LONGLINK_API_HOST: '127.0.0.1', LONGLINK_API_PORT: '0', LONGLINK_API_KEYS: 'payload-limits-key-0123456789',
    LONGLINK_NATS_URLS: nats.urls.join(','), LONGLINK_REDIS_URL: redis.url, LONGLINK_LOG_LEVEL: 'warn', ...env,
  });
  const gateway = (env: Record<string, string>) => spawnNode('dist/services/gateway/main.js', {
    LONGLINK_GATEWAY_HOST: '127.0.0.1', LONGLINK_GATEWAY_PORT: '0', LONGLINK_NATS_URLS: nats.urls.join(','),
    LONGLINK_JWT_SECRET: 'payload-limits-secret-0123456789-0123456789', LONGLINK_LOG_LEVEL: 'warn', ...env,
  });

  it('a router whose publish limit the server cannot carry exits with the reason; the defaults start', async () => {
    const bad = router({ LONGLINK_MAX_PUBLISH_BYTES: '1048576' });
    const exit = await bad.exited(20_000).finally(() => bad.kill());
    assert.notEqual(exit.code, 0);
    assert.match(bad.output(), /LONGLINK_MAX_PUBLISH_BYTES: 1048576 bytes \(up to 2 × on the bus, escaped\) plus 4096 of envelope exceed the NATS server's max_payload \(200000\)/);
    assert.doesNotMatch(bad.output(), /LONGLINK_MAX_PUSH_BYTES/, 'the push limit (default 65,536: 135,168 escaped with the envelope) fits');
    const good = router({});
    try {
      await good.waitFor(/router listening on http:\/\//, 20_000);
    } finally {
      good.kill();
    }
  });

  it('a gateway whose frame limit the server cannot carry exits with the reason; the default starts', async () => {
    const bad = gateway({ LONGLINK_MAX_PAYLOAD: '198000' });
    const exit = await bad.exited(20_000).finally(() => bad.kill());
    assert.notEqual(exit.code, 0);
    assert.match(bad.output(), /LONGLINK_MAX_PAYLOAD: 198000 bytes plus 4096 of envelope exceed the NATS server's max_payload \(200000\)/);
    const good = gateway({});
    try {
      await good.waitFor(/listening on ws:\/\/127\.0\.0\.1:\d+\/ws/, 20_000);
    } finally {
      good.kill();
    }
  });
});
