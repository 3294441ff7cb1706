/**
 * The webhook queue contract against the memory adapter and the JetStream
 * adapter (a real nats-server with JetStream, spawned by the harness).
 */
import { after, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { startNatsServer } from '../../infra/local/nats.js';
import { connectNatsBus } from '../../services/shared/bus/nats-bus.js';
import { MemoryWebhookQueue } from '../../services/router/webhooks/memory-queue.js';
import { openJetStreamQueue } from '../../services/router/webhooks/jetstream-queue.js';
import { silent } from '../helpers/log.js';
import { webhookQueueContract } from './webhook-queue.contract.js';

const nats = await startNatsServer({ jetstream: true });
const bus = await connectNatsBus({ servers: nats.urls, name: 'webhook-queue-contract', log: silent });
const js = await openJetStreamQueue({ nc: bus.connection, prefix: 'contract', log: silent, timeoutMs: 1000, horizonMs: 60_000, deadTtlMs: 3_600_000 });
const mem = new MemoryWebhookQueue();

after(async () => {
  await js.close();
  await mem.close();
  await bus.close();
  await nats.stop();
});

describe('webhook queue contract: memory', () => webhookQueueContract(() => mem));
describe('webhook queue contract: JetStream', () => webhookQueueContract(() => js));

describe('JetStream webhook queue', () => {
  it('counts jobs of an endpoint no router consumes yet; an enqueue the stream cannot take fails (never hangs)', async () => {
    const q = await openJetStreamQueue({ nc: bus.connection, prefix: 'contract.broken', log: silent, timeoutMs: 1000, horizonMs: 60_000, deadTtlMs: 3_600_000 });
    try {
      await q.enqueue({ id: 'msg_a', endpoint: 'idle', type: 'push.offline', createdAt: Date.now(), body: '{}' });
      assert.equal(await q.depth('idle'), 1);
      await q.manager.streams.delete(q.stream);
      await assert.rejects(q.enqueue({ id: 'msg_b', endpoint: 'idle', type: 'push.offline', createdAt: Date.now(), body: '{}' }), /JetStream/);
    } finally {
      await q.close();
    }
  });
});
