/**
 * Webhooks without a cluster: config validation, Standard Webhooks signatures
 * checked by the reference library (with rotation), event bodies, backoff,
 * and the dispatcher over the memory queue against a real node:http
 * receiver: retry after 500 with the same webhook-id, dead letters past the
 * horizon, replay. The JetStream queue is exercised in
 * tests/integration/webhooks-cluster.test.ts.
 */
import { after, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { Webhook } from 'standardwebhooks';
import { ConfigError } from '../../services/shared/config.js';
import type { LonglinkError } from '../../services/shared/errors.js';
import { systemClock } from '../../services/shared/clock.js';
import { loadWebhookSettings } from '../../services/router/webhooks/config.js';
import { decodeSecret, signWebhook } from '../../services/router/webhooks/core/signer.js';
import { backoffMs } from '../../services/router/webhooks/core/dispatcher.js';
import { buildBody } from '../../services/router/webhooks/core/sink.js';
import { createWebhooks, type Webhooks } from '../../services/router/webhooks/index.js';
import { MemoryWebhookQueue } from '../../services/router/webhooks/memory-queue.js';
import { shownUrl, webhookRoutes } from '../../services/router/webhooks/http-routes.js';
import { WebhookStats } from '../../services/router/webhooks/core/stats.js';
import { Registry } from 'prom-client';
import { silent } from '../helpers/log.js';
import { newSecret, WebhookReceiver } from '../helpers/webhook-receiver.js';

const waitFor = async (cond: () => boolean, ms: number, what: string): Promise<void> => {
  const end = Date.now() + ms;
  while (!cond()) {
    if (Date.now() > end) throw new Error(`timed out: ${what}`);
    await new Promise((r) => setTimeout(r, 10));
  }
};

const endpoints = (url: string, secrets: string[], events = ['*']): string => JSON.stringify([{ name: 'be', url, events, secrets }]);

describe('webhook config', () => {
  it('names every problem and never echoes a secret', () => {
    const bad = JSON.stringify([
      { name: 'a', url: 'ftp://x', events: ['push.offline'], secrets: ['whsec_c2hvcnQ='] },
      { name: 'a', url: 'http://x', events: ['push.nope'], secrets: ['nope-secret-value'] },
    ]);
    try {
      loadWebhookSettings({ LONGLINK_WEBHOOKS: bad });
      assert.fail('should throw');
    } catch (err) {
      assert.ok(err instanceof ConfigError);
      assert.match(err.message, /LONGLINK_WEBHOOKS/);
      assert.doesNotMatch(err.message, /nope-secret-value|c2hvcnQ/);
    }
    // After the shapes pass, each rule is named with its endpoint.
    try {
      loadWebhookSettings({ LONGLINK_WEBHOOKS: JSON.stringify([
        { name: 'a', url: 'http://x', events: ['push.nope'], secrets: ['whsec_c2hvcnQ='] },
        { name: 'a', url: 'http://x', events: ['connection.*'], secrets: [newSecret()] },
      ]) });
      assert.fail('should throw');
    } catch (err) {
      assert.ok(err instanceof ConfigError);
      assert.match(err.message, /unknown event "push.nope"/);
      assert.match(err.message, /secrets\[0\]: must hold 24 to 64 bytes/);
      assert.match(err.message, /duplicate name/);
    }
  });

  it('refuses credentials in an endpoint URL (never sent) without echoing them', () => {
    try {
      loadWebhookSettings({ LONGLINK_WEBHOOKS: endpoints('https://bridge:hunter2pw@api.internal/h', [newSecret()]) });
      assert.fail('should throw');
    } catch (err) {
      assert.ok(err instanceof ConfigError);
      assert.match(err.message, /no user:password in the URL/);
      assert.doesNotMatch(err.message, /hunter2pw/);
    }
  });

  it('the per-user share of the queue: defaults, and bad values named at start', () => {
    const d = loadWebhookSettings({});
    assert.deepEqual([d.userMaxJobs, d.userMaxBytes], [10_000, 8 * 1024 ** 2]);
    assert.deepEqual([loadWebhookSettings({ LONGLINK_WEBHOOK_USER_MAX_JOBS: '5', LONGLINK_WEBHOOK_USER_MAX_BYTES: '4096' })].map((x) => [x.userMaxJobs, x.userMaxBytes]), [[5, 4096]]);
    for (const [k, v] of [['LONGLINK_WEBHOOK_USER_MAX_JOBS', '0'], ['LONGLINK_WEBHOOK_USER_MAX_JOBS', 'ten'], ['LONGLINK_WEBHOOK_USER_MAX_BYTES', '100'], ['LONGLINK_WEBHOOK_USER_MAX_BYTES', String(2 * 1024 ** 3)]] as const) {
      assert.throws(() => loadWebhookSettings({ [k]: v }), (err: unknown) => err instanceof ConfigError && err.message.includes(k), `${k}=${v}`);
    }
  });

  it('GET /v1/webhooks shows URLs with query values hidden', async () => {
    assert.equal(shownUrl('https://api.internal/hooks?token=s3cr3t&v=2'), 'https://api.internal/hooks?token=***&v=***');
    assert.equal(shownUrl('http://127.0.0.1:9000/h'), 'http://127.0.0.1:9000/h');
    const settings = loadWebhookSettings({ LONGLINK_WEBHOOKS: endpoints('https://api.internal/hooks?token=s3cr3t', [newSecret()]) });
    const route = webhookRoutes(settings, new MemoryWebhookQueue(), new WebhookStats(['be'])).find((r) => r.template === '/v1/webhooks')!;
    const answer = JSON.stringify(await route.handle('', new URLSearchParams(), undefined as never));
    assert.match(answer, /"url":"https:\/\/api\.internal\/hooks\?token=\*\*\*"/);
    assert.doesNotMatch(answer, /s3cr3t/);
  });

  it('dead-letter list: limit is digits, once, and the only query parameter (as the inbox API)', async () => {
    const settings = loadWebhookSettings({ LONGLINK_WEBHOOKS: endpoints('http://127.0.0.1:1/h', [newSecret()]) });
    const route = webhookRoutes(settings, new MemoryWebhookQueue(), new WebhookStats(['be'])).find((r) => r.template === '/v1/webhooks/:endpoint/dead-letters')!;
    const list = (q: string): Promise<unknown> => route.handle('be', new URLSearchParams(q), undefined as never);
    for (const bad of ['limit=0x10', 'limit=1e2', 'limit=%201', 'limit=', 'limit=0', 'limit=1001', 'limit=1&limit=2', 'limt=5']) {
      await assert.rejects(list(bad), (e: LonglinkError) => e.code === 'LL_API_VALIDATION', bad);
    }
    for (const ok of ['', 'limit=1', 'limit=1000']) assert.equal(((await list(ok)) as { status: number }).status, 200, ok);
    const replay = webhookRoutes(settings, new MemoryWebhookQueue(), new WebhookStats(['be'])).find((r) => r.template === '/v1/webhooks/:endpoint/dead-letters/replay')!;
    await assert.rejects(replay.handle('be', new URLSearchParams(), { limit: '0x10' }), (e: LonglinkError) => e.code === 'LL_API_VALIDATION');
    assert.equal((await replay.handle('be', new URLSearchParams(), { limit: 5 })).status, 200);
  });

  it('says at start which endpoints are plain http:// beyond this machine, and whether they answer upstream requests', async () => {
    const list = JSON.stringify([
      { name: 'tls', url: 'https://api.example/h', events: ['*'], secrets: [newSecret()] },
      { name: 'sidecar', url: 'http://127.0.0.1:9/h', events: ['*'], secrets: [newSecret()] },
      { name: 'local', url: 'http://localhost:9/h', events: ['*'], secrets: [newSecret()] },
      { name: 'plain', url: 'http://backend.svc:8080/h', events: ['push.offline'], secrets: [newSecret()] },
      { name: 'replies', url: 'http://10.0.0.7/h?token=s3cr3t', events: ['upstream.message'], secrets: [newSecret()] },
    ]);
    const settings = loadWebhookSettings({ LONGLINK_WEBHOOKS: list });
    const warned: { o: Record<string, unknown>; msg: string }[] = [];
    const log = { ...silent, warn: (o: Record<string, unknown>, msg: string) => { warned.push({ o, msg }); } };
    const wh = createWebhooks({ settings, queue: new MemoryWebhookQueue(), clock: systemClock, log: log as typeof silent });
    await wh.close();
    assert.deepEqual(warned.map((w) => w.o.endpoint), ['plain', 'replies']);
    assert.match(warned[1]!.msg, /upstream requests/);
    assert.doesNotMatch(warned[0]!.msg, /upstream requests/);
    assert.ok(warned.every((w) => !JSON.stringify(w).includes('s3cr3t') && !JSON.stringify(w).includes('10.0.0.7')), 'names the endpoint, never its URL');
  });

  it('expands patterns, freezes the settings, and is off by default', () => {
    assert.equal(loadWebhookSettings({}).endpoints.length, 0);
    const s = loadWebhookSettings({ LONGLINK_WEBHOOKS: endpoints('http://127.0.0.1:1/h', [newSecret(), newSecret()], ['connection.*', 'push.offline']) });
    assert.deepEqual([...s.endpoints[0]!.events].sort(), ['connection.closed', 'connection.opened', 'push.offline']);
    assert.equal(s.endpoints[0]!.secrets.length, 2);
    assert.ok(Object.isFrozen(s) && Object.isFrozen(s.endpoints) && Object.isFrozen(s.endpoints[0]));
  });
});

describe('webhook signatures (verified by the standardwebhooks library)', () => {
  it('one signature per secret while rotating: either secret verifies, a wrong one does not', () => {
    const [oldS, newS, other] = [newSecret(), newSecret(), newSecret()];
    const body = buildBody('push.offline', Date.now(), { user: 'ü', seq: 1 }, '{"a":[1,2]}', 4096);
    const h = signWebhook('msg_1', Date.now() / 1000, body, [decodeSecret(newS), decodeSecret(oldS)]);
    assert.equal(h['webhook-signature'].split(' ').length, 2);
    for (const s of [oldS, newS]) assert.deepEqual(new Webhook(s).verify(body, { ...h }), JSON.parse(body));
    assert.throws(() => new Webhook(other).verify(body, { ...h }));
    assert.throws(() => new Webhook(newS).verify(body + ' ', { ...h }), 'a changed body fails');
  });

  it('bodies: type, ISO timestamp, data; payload inline or too_large', () => {
    const inline = JSON.parse(buildBody('push.offline', 0, { user: 'u', seq: 3 }, '{"x":"y"}', 100)) as { type: string; timestamp: string; data: Record<string, unknown> };
    assert.deepEqual(inline, { type: 'push.offline', timestamp: '1970-01-01T00:00:00.000Z', data: { user: 'u', seq: 3, size: 9, payload: { x: 'y' } } });
    const big = JSON.parse(buildBody('push.offline', 0, { user: 'u' }, JSON.stringify('x'.repeat(200)), 100)) as { data: Record<string, unknown> };
    assert.deepEqual(big.data, { user: 'u', too_large: true, size: 202 });
    const bigPush = JSON.parse(buildBody('push.offline', 0, { user: 'a b', seq: 7 }, JSON.stringify('x'.repeat(200)), 100)) as { data: Record<string, unknown> };
    assert.equal(bigPush.data.fetch, '/v1/users/a%20b/inbox?since=6&limit=1');
    assert.deepEqual(JSON.parse(buildBody('connection.opened', 0, { user: 'u' }, undefined, 1)).data, { user: 'u' });
  });

  it('backoff doubles per attempt, stays within [d/2, d], and caps', () => {
    assert.equal(backoffMs(1, 100, 10_000, () => 0), 50);
    assert.equal(backoffMs(1, 100, 10_000, () => 1), 100);
    assert.equal(backoffMs(4, 100, 10_000, () => 1), 800);
    assert.equal(backoffMs(30, 100, 10_000, () => 1), 10_000);
    for (let i = 0; i < 100; i++) { const d = backoffMs(3, 100, 10_000); assert.ok(d >= 200 && d <= 400); }
  });
});

describe('webhook delivery over the memory queue to a real receiver', () => {
  const open: Array<Webhooks | WebhookReceiver> = [];
  after(async () => { for (const x of open) await (x instanceof WebhookReceiver ? x.stop() : x.close()); });

  async function setup(env: Record<string, string>, receiver: WebhookReceiver, queue = new MemoryWebhookQueue()): Promise<Webhooks> {
    const settings = loadWebhookSettings({ LONGLINK_WEBHOOK_RETRY_BASE_MS: '50', LONGLINK_WEBHOOK_RETRY_MAX_MS: '200', LONGLINK_WEBHOOK_TIMEOUT_MS: '1000', ...env });
    const wh = createWebhooks({ settings, queue, clock: systemClock, log: silent });
    open.push(wh);
    await wh.start();
    assert.ok(receiver.url);
    return wh;
  }

  it('500 then 200: delivered after a backoff, the same webhook-id, a fresh signature', async () => {
    const secret = newSecret();
    const rx = await new WebhookReceiver([secret]).start();
    open.push(rx);
    rx.answer = (_r, nth) => (nth === 0 ? 500 : 200);
    const wh = await setup({ LONGLINK_WEBHOOKS: endpoints(rx.url, [secret]) }, rx);
    wh.sink.emit('connection.opened', { user: 'alice', device: 'phone', conn: 'c1', gateway: 'gw0', resumed: false, at: 1 });
    await waitFor(() => rx.received.length === 2, 5000, 'two attempts');
    const [a, b] = rx.received;
    assert.equal(a!.status, 500);
    assert.equal(b!.status, 200);
    assert.equal(a!.id, b!.id);
    assert.ok(b!.at - a!.at >= 25, `retried after the backoff (${b!.at - a!.at} ms)`);
    assert.deepEqual(b!.body.data, { user: 'alice', device: 'phone', conn: 'c1', gateway: 'gw0', resumed: false, at: 1 });
    assert.deepEqual(rx.rejected, []);
    const st = wh.stats.of('be');
    await waitFor(() => st.delivered === 1, 2000, 'delivery counted');
    assert.equal(st.failed, 1);
    await waitFor(() => st.enqueued === 1, 1000, 'enqueued counted');
    assert.equal(await wh.queue.depth('be'), 0);
  });

  it('a receiver down past the horizon: dead letters counted, listed, replayed once it is back', async () => {
    const secret = newSecret();
    const rx = await new WebhookReceiver([secret]).start();
    open.push(rx);
    rx.answer = () => 503;
    const wh = await setup({ LONGLINK_WEBHOOKS: endpoints(rx.url, [secret], ['push.offline']), LONGLINK_WEBHOOK_HORIZON_MS: '1000' }, rx);
    wh.sink.emit('connection.opened', { user: 'x' }); // not subscribed: nothing queued
    for (let i = 0; i < 3; i++) wh.sink.emit('push.offline', { user: 'bob', seq: i + 1, id: `m${i}`, ts: 1 }, `{"n":${i}}`);
    await waitFor(() => wh.stats.of('be').deadLettered === 3, 8000, 'three dead letters');
    assert.ok(rx.received.length >= 6, `retried before dying (${rx.received.length} attempts)`);
    assert.equal(await wh.queue.deadCount('be'), 3);
    const listed = await wh.queue.listDead('be', 10);
    assert.deepEqual(listed.map((d) => d.reason), ['HTTP 503', 'HTTP 503', 'HTTP 503']);
    const ids = new Set(rx.received.map((r) => r.id));
    assert.equal(ids.size, 3);
    rx.answer = () => 204;
    assert.equal(await wh.queue.replayDead('be', 100), 3);
    await waitFor(() => rx.acceptedIds().size === 3, 5000, 'replayed deliveries');
    assert.deepEqual(rx.acceptedIds(), ids, 'replays keep their webhook-id');
    assert.equal(await wh.queue.deadCount('be'), 0);
    assert.deepEqual(rx.received.filter((r) => r.status === 204).map((r) => r.body.data.payload).sort((p, q) => (p as { n: number }).n - (q as { n: number }).n), [{ n: 0 }, { n: 1 }, { n: 2 }]);
  });

  it('a user past its share of the dead letters: its next dead letter is dropped and counted (metric), others\' still kept', async () => {
    const secret = newSecret();
    const rx = await new WebhookReceiver([secret]).start();
    open.push(rx);
    rx.answer = () => 503;
    const wh = await setup({ LONGLINK_WEBHOOKS: endpoints(rx.url, [secret], ['push.offline']), LONGLINK_WEBHOOK_HORIZON_MS: '1000' }, rx,
      new MemoryWebhookQueue({ share: { maxJobs: 2, maxBytes: 1_000_000 } }));
    const registry = new Registry();
    wh.registerMetrics(registry);
    const st = wh.stats.of('be');
    for (let i = 0; i < 2; i++) wh.sink.emit('push.offline', { user: 'bob', seq: i + 1, id: `m${i}`, ts: 1 }, `{"n":${i}}`);
    await waitFor(() => st.deadLettered === 2, 8000, 'two dead letters');
    wh.sink.emit('push.offline', { user: 'bob', seq: 3, id: 'm2', ts: 1 }, '{"n":2}');
    wh.sink.emit('push.offline', { user: 'carol', seq: 1, id: 'c0', ts: 1 }, '{"n":0}');
    await waitFor(() => st.deadLettered === 4, 8000, 'two more past the horizon');
    assert.equal(st.deadDroppedShare, 1, 'bob\'s third dropped');
    assert.deepEqual((await wh.queue.listDead('be', 10)).map((d) => JSON.parse(d.job.body).data.id).sort(), ['c0', 'm0', 'm1']);
    assert.match(await registry.metrics(), /longlink_router_webhook_dead_dropped_total\{endpoint="be"\} 1/);
  });

  it('an upstream request is answered with the receiver\'s 2xx body; a failure gives no answer', async () => {
    const secret = newSecret();
    const rx = await new WebhookReceiver([secret]).start();
    open.push(rx);
    rx.answer = (r) => (r.body.data.reply === true ? { status: 200, body: '{"ok":1}' } : 200);
    const wh = await setup({ LONGLINK_WEBHOOKS: endpoints(rx.url, [secret], ['upstream.message']) }, rx);
    assert.equal(await wh.sink.request('upstream.message', { user: 'u', topic: 't', data: 1 }), '{"ok":1}');
    rx.answer = () => 204;
    assert.equal(await wh.sink.request('upstream.message', { user: 'u', topic: 't', data: 1 }), 'null');
    rx.answer = () => 500;
    assert.equal(await wh.sink.request('upstream.message', { user: 'u', topic: 't', data: 1 }), undefined);
    assert.equal(rx.received.length, 3, 'not queued, not retried');
    assert.deepEqual(rx.rejected, []);
  });

  it('an unreachable receiver fails the attempt (connection refused) and retries', async () => {
    const secret = newSecret();
    const rx = await new WebhookReceiver([secret]).start();
    open.push(rx);
    await rx.stop();
    const wh = await setup({ LONGLINK_WEBHOOKS: endpoints(rx.url, [secret]) }, rx);
    wh.sink.emit('upstream.message', { user: 'u', topic: 't', data: 1 });
    await waitFor(() => wh.stats.of('be').failed >= 2, 5000, 'failed attempts');
    await rx.start();
    await waitFor(() => rx.acceptedIds().size === 1, 5000, 'delivered once the receiver is back');
    assert.equal(rx.received[0]!.type, 'upstream.message');
  });
});
