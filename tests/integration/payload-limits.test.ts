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
import { HISTORY_ENTRY_BYTES, historyReplyBytes, publishLimitProblems } from '../../services/router/core/channel-history.js';
import { DEFAULT_ROUTER_OPTIONS } from '../../services/router/core/router-types.js';
import { DEFAULT_CHANNEL_LIMITS } from '../../services/router/core/channels.js';
import { startStandalone } from '../../services/standalone/app.js';

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

describe('publishLimitProblems: the largest channel message fits one history reply', () => {
  it('names LONGLINK_MAX_PUBLISH_BYTES and the largest value that fits; the default fits', () => {
    const bound = historyReplyBytes(DEFAULT_ROUTER_OPTIONS.maxBusMessageBytes);
    assert.equal(bound, 256 * 1024);
    assert.deepEqual(publishLimitProblems(DEFAULT_CHANNEL_LIMITS.maxPublishBytes, bound), []);
    assert.deepEqual(publishLimitProblems(bound - HISTORY_ENTRY_BYTES, bound), []);
    const p = publishLimitProblems(bound - HISTORY_ENTRY_BYTES + 1, bound);
    assert.equal(p.length, 1);
    assert.match(p[0]!, /^LONGLINK_MAX_PUBLISH_BYTES: 261953 bytes plus 192 per message exceed a channel history reply's bound \(262144: .* set LONGLINK_MAX_PUBLISH_BYTES to at most 261952$/);
    // On a 200,000-byte server: bus messages of 195,904, history replies of 97,952.
    assert.equal(historyReplyBytes(busMessageBytesFor(MAX_PAYLOAD, DEFAULT_ROUTER_OPTIONS.maxBusMessageBytes)), 97_952);
  });

  it('standalone refuses a publish limit over its history reply (up to 16 MiB passed its config)', async () => {
    const started = startStandalone({ LONGLINK_MAX_PUBLISH_BYTES: '1048576', LONGLINK_GATEWAY_HOST: '127.0.0.1', LONGLINK_GATEWAY_PORT: '0', LONGLINK_API_HOST: '127.0.0.1', LONGLINK_API_PORT: '0', LONGLINK_LOG_LEVEL: 'warn' });
    // Close it if it starts after all (as before this check), so the failure does not leave it listening.
    void started.then((s) => s.close(), () => undefined);
    await assert.rejects(started,
      (err: Error & { code?: string }) => err.code === 'LL_CONFIG_INVALID' && /LONGLINK_MAX_PUBLISH_BYTES: 1048576 bytes .* at most 261952/.test(err.message));
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

  it('a router whose publish limit fits the bus but not one history reply exits with the reason', async () => {
    // 97,952 passes the bus check (twice it plus 4,096 is 200,000) but not the history reply (97,952 less 192 per message).
    const bad = router({ LONGLINK_MAX_PUBLISH_BYTES: '97952' });
    const exit = await bad.exited(20_000).finally(() => bad.kill());
    assert.notEqual(exit.code, 0);
    assert.doesNotMatch(bad.output(), /max_payload/);
    assert.match(bad.output(), /LONGLINK_MAX_PUBLISH_BYTES: 97952 bytes plus 192 per message exceed a channel history reply's bound \(97952: .* at most 97760/);
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
