/**
 * The cluster-wide webhook share's notices, on a real nats-server with
 * JetStream (jetstream-share.ts, share-views.ts, jetstream-queue.ts):
 *  - a router closing with a store in flight: the message JetStream stores is
 *    confirmed, not refunded (a refund, and the settle notice after it,
 *    released it twice at the other routers);
 *  - each subject reads its own markers only: a turn confirmation (`^n`) or a
 *    refund on the settle subject, a charge id (`!n`) on the announcement
 *    subject, are skipped;
 *  - a notice item off the rule (a key not of the hash's alphabet and length,
 *    a field too many) is skipped, on either subject;
 *  - another router's unconfirmed turn is released on time (a timer), not
 *    only when this router next charges, and the metric says so per share.
 */
import { after, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { Registry } from 'prom-client';
import type { NatsConnection } from '@nats-io/transport-node';
import { startNatsServer } from '../../infra/local/nats.js';
import { connectNatsBus } from '../../services/shared/bus/nats-bus.js';
import { openJetStreamQueue, type JetStreamWebhookQueue } from '../../services/router/webhooks/jetstream-queue.js';
import { keyOf } from '../../services/router/webhooks/jetstream-share.js';
import { registerWebhookMetrics } from '../../services/router/webhooks/metrics.js';
import { WebhookStats } from '../../services/router/webhooks/core/stats.js';
import type { WebhookSettings } from '../../services/router/webhooks/core/types.js';
import type { WebhookQueue } from '../../services/router/webhooks/core/queue.js';
import { silent } from '../helpers/log.js';
import { until } from '../helpers/until.js';

const nats = await startNatsServer({ jetstream: true });
const bus = await connectNatsBus({ servers: nats.urls, name: 'webhook-share-notices', log: silent });
after(async () => { await bus.close(); await nats.stop(); });

const CONFIRM_MS = 400;
const open = (nc: NatsConnection, prefix: string): Promise<JetStreamWebhookQueue> =>
  openJetStreamQueue({ nc, prefix, log: silent, timeoutMs: 1000, horizonMs: 60_000, deadTtlMs: 3_600_000, share: { maxJobs: 5, maxBytes: 1_000_000 }, shareTiming: { confirmMs: CONFIRM_MS } });
const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));
/** Another router's notices, forged: `kind` the subject's token, `text` the tokens. */
const FORGED = '0123456789ab';
const forge = (prefix: string) => (kind: string, text: string): void => { bus.connection.publish(`${prefix}.webhooks.${kind}.${FORGED}`, text); };

describe('JetStream webhook share: a router closing with a store in flight', () => {
  it('the message stored is confirmed at close, not refunded (before: refunded, then released again when it settled)', { timeout: 20_000 }, async () => {
    const prefix = 'notices.close';
    const key = keyOf('erin');
    const w = await open(bus.connection, prefix);
    const other = await connectNatsBus({ servers: nats.urls, name: 'webhook-share-notices-a', log: silent });
    const a = await open(other.connection, prefix);
    try {
      const outcome = a.enqueueEvent({ id: 'msg_erin_0', type: 'push.offline', createdAt: Date.now(), body: '{"n":0}', key: 'erin' }, ['idle'])[0]!
        .then(() => 'stored', (err: unknown) => String(err));
      // Closed in the same turn: the message leaves as the queue closes, its PubAck not yet back.
      await a.close();
      assert.equal(await outcome, 'stored', 'the store is waited for (before: failed with "webhook queue closed")');
      assert.equal(await w.depth('idle'), 1, 'JetStream holds it');
      await sleep(CONFIRM_MS + 300);
      assert.equal(w.share!.elsewhere(key).jobs, 1, 'still charged at the other router until it leaves (before: refunded at close, 0)');
      assert.equal(w.share!.unconfirmed, 0, 'its turn was confirmed before the share closed');
    } finally { await a.close().catch(() => undefined); await other.close(); await w.close(); }
  });
});

describe('JetStream webhook share: each subject reads its own markers', () => {
  it('a confirmation or a refund on the settle subject, a charge id on the announcement subject: skipped', { timeout: 20_000 }, async () => {
    const prefix = 'notices.markers';
    const w = await open(bus.connection, prefix);
    const pub = forge(prefix);
    const [fay, gus, hal] = [keyOf('fay'), keyOf('gus'), keyOf('hal')];
    try {
      pub('charged', `#1 ${fay}/10/1`);
      pub('settled', '^1'); // turn 1's confirmation, on the wrong subject
      pub('charged', `#2 ${gus}/10/1 ${hal}/10/1 ^2`);
      pub('charged', '!7'); // an id of gus's charge, on the wrong subject: it would mark the charge released
      pub('settled', `-${hal}/10/1`); // a refund, on the wrong subject
      await until(() => w.share!.elsewhere(gus).jobs === 1, 3000, 'the charges heard');
      await sleep(CONFIRM_MS + 300);
      assert.equal(w.share!.elsewhere(fay).jobs, 0, 'turn 1, never confirmed on its own subject, released (before: confirmed by the settle subject, held)');
      assert.equal(w.share!.elsewhere(hal).jobs, 1, 'a refund on the settle subject releases nothing (before: released)');
      pub('settled', `!7 ${gus}/10/1`);
      await until(() => w.share!.elsewhere(gus).jobs === 0, 3000,
        'gus released by its settle notice (not skipped as a repeat of the id the announcement subject named)');
      assert.equal(w.share!.repeats, 0);
    } finally { await w.close(); }
  });
});

describe('JetStream webhook share: a notice item off the rule', () => {
  it('a key not of the hash\'s alphabet or length, a field too many: skipped on either subject', { timeout: 20_000 }, async () => {
    const prefix = 'notices.rule';
    const w = await open(bus.connection, prefix);
    const pub = forge(prefix);
    const [k, ok] = [keyOf('ida'), keyOf('jon')];
    // Each would charge (or release) the key before it were it read.
    const bad: Array<[key: string, item: string]> = [
      [`${k}x`, `${k}x/10/1`], // 13 characters
      [k.slice(1), `${k.slice(1)}/10/1`], // 11
      [`${k.slice(0, 11)}+`, `${k.slice(0, 11)}+/10/1`], // not base64url
      [k, `${k}/10/1/2`], // a field too many
      [k, `${k}/-10/1`], [k, `${k}/1.5/1`], [k, `${k}/1e3/1`], [k, `${k}/10/x`],
    ];
    try {
      pub('charged', `#1 ${bad.map(([, item]) => item).join(' ')} ${ok}/10/1 ^1`);
      await until(() => w.share!.elsewhere(ok).jobs === 1, 3000, 'the item on the rule heard');
      for (const [key, item] of bad) assert.equal(w.share!.elsewhere(key).jobs, 0, `${item} skipped on the announcement subject`);
      pub('settled', `${ok}/10/1/2 !3 ${ok}/10/1/2 ${ok.slice(1)}/10/1`);
      pub('charged', `#2 ${ok}/10/1 ^2`);
      await until(() => w.share!.elsewhere(ok).jobs === 2, 3000, 'the second charge heard');
      assert.equal(w.share!.elsewhere(ok).jobs, 2, 'nothing off the rule released on the settle subject');
    } finally { await w.close(); }
  });
});

describe('JetStream webhook share: another router\'s turn never confirmed', () => {
  it('released on time without a charge here (a timer), the dead letters\' share too; the metric by share', { timeout: 20_000 }, async () => {
    const prefix = 'notices.timer';
    const w = await open(bus.connection, prefix);
    const pub = forge(prefix);
    const internal = (s: object): { unconfirmed: number; timer: unknown } => (s as { others: { unconfirmed: number; timer: unknown } }).others;
    try {
      pub('charged', `#1 ${keyOf('kim')}/10/1`);
      pub('dead_charged', `#1 ${keyOf('kim')}/10/1 ${keyOf('lou')}/10/1`);
      // Nothing here charges nor reads a count: only a timer releases them (before: released as this router next charged).
      await until(() => internal(w.share!).unconfirmed === 1 && internal(w.deadShare!).unconfirmed === 2, CONFIRM_MS + 2000,
        'both released by the timer (before: not until this router charged)');
      const registry = new Registry();
      const settings = { endpoints: [] } as unknown as WebhookSettings;
      registerWebhookMetrics(registry, { settings, queue: w, stats: new WebhookStats([]), sink: { pending: 0, upstreamRefused: { router_cap: 0, user_cap: 0 } } });
      const text = await registry.metrics();
      assert.match(text, /longlink_router_webhook_share_corrections_total\{share="queue",kind="unconfirmed"\} 1\n/);
      assert.match(text, /longlink_router_webhook_share_corrections_total\{share="dead",kind="unconfirmed"\} 2\n/);
      assert.match(text, /longlink_router_webhook_share_corrections_total\{share="dead",kind="repeat"\} 0\n/);
      // The router's main thread keeps no dead letters' share: the webhook thread reports its (worker-dispatcher.ts).
      const main = new Registry();
      const stats = new WebhookStats([]);
      stats.deadShare = { repeats: 3, unconfirmed: 4 };
      registerWebhookMetrics(main, { settings, queue: { corrections: { queue: w.share! } } as unknown as WebhookQueue, stats, sink: { pending: 0, upstreamRefused: { router_cap: 0, user_cap: 0 } } });
      assert.match(await main.metrics(), /longlink_router_webhook_share_corrections_total\{share="dead",kind="unconfirmed"\} 4\n/);
      pub('charged', `#2 ${keyOf('kim')}/10/1`);
      await until(() => w.share!.elsewhere(keyOf('kim')).jobs === 1, 3000, 'the next turn heard');
    } finally { await w.close(); }
    assert.equal(internal(w.share!).timer, undefined, 'close() clears the timer');
    assert.equal(internal(w.deadShare!).timer, undefined);
  });
});
