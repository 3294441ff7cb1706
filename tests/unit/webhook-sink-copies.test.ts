/**
 * The webhook sink hands an event's endpoint copies to the queue together
 * (WebhookQueue.enqueueEvent: the share charged, and the user's key hashed,
 * once per event rather than once per copy), and still counts each copy for
 * its endpoint: enqueued, dropped past the user's share, dropped past the
 * outbox. And the JetStream share hashes the user once per event, whatever
 * the order of events (it used to remember only the last user).
 */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import type { NatsConnection } from '@nats-io/transport-node';
import { WebhookSink } from '../../services/router/webhooks/core/sink.js';
import { WebhookStats } from '../../services/router/webhooks/core/stats.js';
import type { WebhookEvent, WebhookQueue } from '../../services/router/webhooks/core/queue.js';
import { loadWebhookSettings } from '../../services/router/webhooks/config.js';
import { MemoryWebhookQueue } from '../../services/router/webhooks/memory-queue.js';
import { JetStreamShare, keyOf } from '../../services/router/webhooks/jetstream-share.js';
import { systemClock } from '../../services/shared/clock.js';
import { silent } from '../helpers/log.js';
import { newSecret } from '../helpers/webhook-receiver.js';

const settings = (env: Record<string, string> = {}) => loadWebhookSettings({
  LONGLINK_WEBHOOKS: JSON.stringify(['a', 'b', 'c'].map((name) => ({ name, url: `http://127.0.0.1:9/${name}`, events: ['push.offline'], secrets: [newSecret()] }))),
  ...env,
});

/** A queue recording how the sink calls it; `inner` does the work (or nothing: copies never confirmed). */
function recording(inner?: WebhookQueue) {
  const calls = { events: [] as Array<[string, string[]]> };
  const q: Pick<WebhookQueue, 'enqueueEvent'> = {
    enqueueEvent: (event: WebhookEvent, endpoints: readonly string[]) => {
      calls.events.push([event.key ?? '-', [...endpoints]]);
      return inner ? inner.enqueueEvent(event, endpoints) : endpoints.map(() => new Promise<void>(() => {}));
    },
  };
  return { q, calls };
}

const flush = (): Promise<void> => new Promise((r) => setImmediate(r));
const count = (stats: WebhookStats, field: 'enqueued' | 'droppedShare' | 'droppedOutbox') => ['a', 'b', 'c'].map((n) => stats.of(n)[field]);

describe('webhook sink: an event\'s copies together', () => {
  it('one queue call per event with every endpoint; each copy counted (share refusals per endpoint, as before)', async () => {
    const mem = new MemoryWebhookQueue({ share: { maxJobs: 4, maxBytes: 1_000_000 } });
    const { q, calls } = recording(mem);
    const stats = new WebhookStats(['a', 'b', 'c']);
    const sink = new WebhookSink({ settings: settings(), queue: q as WebhookQueue, clock: systemClock, log: silent, stats, poster: { post: async () => ({ status: 200 }) } });
    try {
      sink.emit('push.offline', { user: 'alice', seq: 1 });
      sink.emit('push.offline', { user: 'alice', seq: 2 });
      sink.emit('push.offline', { user: 'bob', seq: 1 });
      await flush();
      assert.deepEqual(calls.events, [['alice', ['a', 'b', 'c']], ['alice', ['a', 'b', 'c']], ['bob', ['a', 'b', 'c']]]);
      assert.deepEqual(count(stats, 'enqueued'), [3, 2, 2], 'alice\'s second event: one copy fits her share of 4');
      assert.deepEqual(count(stats, 'droppedShare'), [0, 1, 1]);
      assert.equal(sink.pending, 0);
    } finally { await mem.close(); }
  });

  it('past the outbox the remaining copies are dropped and counted per endpoint', async () => {
    const { q, calls } = recording();
    const stats = new WebhookStats(['a', 'b', 'c']);
    const sink = new WebhookSink({ settings: settings({ LONGLINK_WEBHOOK_OUTBOX: '4' }), queue: q as WebhookQueue, clock: systemClock, log: silent, stats, poster: { post: async () => ({ status: 200 }) } });
    sink.emit('push.offline', { user: 'carol', seq: 1 });
    sink.emit('push.offline', { user: 'carol', seq: 2 });
    sink.emit('push.offline', { user: 'carol', seq: 3 });
    assert.deepEqual(calls.events.map(([, eps]) => eps), [['a', 'b', 'c'], ['a']], 'the outbox holds four copies; the third event gets none');
    assert.deepEqual(count(stats, 'droppedOutbox'), [1, 2, 2]);
    assert.equal(sink.pending, 4);
  });

  it('the JetStream share hashes the user once per event, whatever the order of events', () => {
    const hashed: string[] = [];
    const nc = {
      subscribe: () => ({ unsubscribe: () => {} }),
      status: () => ({ stop: () => {}, [Symbol.asyncIterator]: () => ({ next: () => new Promise(() => {}) }) }),
    } as unknown as NatsConnection;
    const share = new JetStreamShare(nc, 'p', { maxJobs: 5, maxBytes: 1_000_000 }, 60_000, silent, (u) => { hashed.push(u); return keyOf(u); });
    try {
      const a = share.chargeEvent('alice', 10, 3);
      assert.deepEqual([a.taken, a.tag.key, a.refusal], [3, keyOf('alice'), undefined]);
      assert.equal(share.chargeEvent('bob', 10, 3).taken, 3);
      const again = share.chargeEvent('alice', 10, 3);
      assert.equal(again.taken, 2, 'two more fit her share of 5');
      assert.equal(again.refusal?.name, 'WebhookShareError');
      assert.deepEqual(hashed, ['alice', 'bob', 'alice'], 'one hash per event, not per copy');
      assert.deepEqual(share.ledger.of(keyOf('alice')), { jobs: 5, bytes: 50 }, 'every copy stored is charged');
      share.refund(again.tag);
      assert.deepEqual(share.ledger.of(keyOf('alice')), { jobs: 4, bytes: 40 }, 'a refund releases one copy');
    } finally {
      share.close();
    }
  });
});
