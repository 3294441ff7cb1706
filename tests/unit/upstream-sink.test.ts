/**
 * The router's upstream request caps (WebhookSink.request) never leak a slot:
 * a body that cannot be serialised is refused before a slot is taken, and the
 * bus parser refuses data nested past the protocol's depth, as gateways do.
 */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { WebhookSink } from '../../services/router/webhooks/core/sink.js';
import { WebhookStats } from '../../services/router/webhooks/core/stats.js';
import { loadWebhookSettings } from '../../services/router/webhooks/config.js';
import { MemoryWebhookQueue } from '../../services/router/webhooks/memory-queue.js';
import { parseUpstream } from '../../services/router/schemas.js';
import { systemClock } from '../../services/shared/clock.js';
import { MAX_DATA_DEPTH } from '../../protocol/index.js';
import { silent } from '../helpers/log.js';
import { newSecret } from '../helpers/webhook-receiver.js';

const nested = (depth: number): unknown => JSON.parse('['.repeat(depth) + ']'.repeat(depth));

describe('upstream request caps', () => {
  it('a body that cannot be serialised takes no slot: later requests of every user still go through', async () => {
    const settings = loadWebhookSettings({
      LONGLINK_WEBHOOKS: JSON.stringify([{ name: 'be', url: 'http://127.0.0.1:9/x', events: ['upstream.message'], secrets: [newSecret()] }]),
      LONGLINK_WEBHOOK_UPSTREAM_MAX_IN_FLIGHT: '2', LONGLINK_WEBHOOK_UPSTREAM_MAX_PER_USER: '2',
    });
    let posts = 0;
    const sink = new WebhookSink({
      settings, queue: new MemoryWebhookQueue(), clock: systemClock, log: silent, stats: new WebhookStats(['be']),
      poster: { post: async () => { posts++; return { status: 200, body: '1' }; } },
    });
    for (let i = 0; i < 3; i++) await assert.rejects(sink.request('upstream.message', { user: 'u', data: nested(20_000) }), RangeError);
    assert.equal(sink.upstreamInFlight, 0, 'no slot held by the failed requests');
    assert.equal(await sink.request('upstream.message', { user: 'someone-else', data: 1 }), '1');
    assert.equal(posts, 1);
  });

  it('the bus parser refuses upstream data nested past the protocol depth', () => {
    const msg = (data: unknown) => ({ user: 'u', device: 'd', conn: 'c', gateway: 'g', topic: 't', id: 'i', data });
    assert.ok(parseUpstream(msg(nested(MAX_DATA_DEPTH))) !== undefined);
    assert.equal(parseUpstream(msg(nested(MAX_DATA_DEPTH + 1))), undefined);
  });
});
