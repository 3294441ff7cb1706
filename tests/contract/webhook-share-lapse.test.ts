/**
 * The JetStream share's releases are settle notices that can never come
 * (a message removed by the stream's max_age or a purge, acked by a router
 * of an earlier release that does not report, a notice past a small
 * max_payload): the charge must lapse, not refuse the user until the router
 * restarts. Real nats-server with JetStream.
 */
import { after, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { AckPolicy, jetstream } from '@nats-io/jetstream';
import { startNatsServer } from '../../infra/local/nats.js';
import { connectNatsBus } from '../../services/shared/bus/nats-bus.js';
import { openJetStreamQueue } from '../../services/router/webhooks/jetstream-queue.js';
import { keyOf, ShareNotices } from '../../services/router/webhooks/jetstream-share.js';
import { ShareLedger } from '../../services/router/webhooks/core/share.js';
import type { WebhookQueue } from '../../services/router/webhooks/core/queue.js';
import { silent } from '../helpers/log.js';

const nats = await startNatsServer({ jetstream: true, extraConfig: 'max_payload: 8192' });
const bus = await connectNatsBus({ servers: nats.urls, name: 'webhook-share-lapse', log: silent });
after(async () => { await bus.close(); await nats.stop(); });

const LAPSE_MS = 1600;
/** erin's events `ns` for `endpoint`, one copy each, in this turn: resolves once all are stored, rejects with the first refusal. */
const put = (q: WebhookQueue, endpoint: string, ...ns: number[]): Promise<void[]> =>
  Promise.all(ns.flatMap((n) => q.enqueueEvent({ id: `msg_${endpoint}_${n}`, type: 'push.offline', createdAt: Date.now(), body: `{"n":${n}}`, key: 'erin' }, [endpoint])));
async function until(pred: () => boolean | Promise<boolean>, ms: number, what: string): Promise<void> {
  const end = Date.now() + ms;
  while (!(await pred())) {
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}
const open = (prefix: string) => openJetStreamQueue({ nc: bus.connection, prefix, log: silent, timeoutMs: 1000, horizonMs: 60_000, deadTtlMs: 3_600_000, share: { maxJobs: 2, maxBytes: 1_000_000 }, shareLapseMs: LAPSE_MS });

describe('JetStream webhook share: charges whose notice never comes lapse', () => {
  it('messages removed without a notice (max_age, a purge): the user is refused only until the charges lapse', async () => {
    const q = await open('lapse.purge');
    try {
      await put(q, 'p', 0, 1);
      await assert.rejects(put(q, 'p', 2), /share/);
      await q.manager.streams.purge(q.stream);
      await assert.rejects(put(q, 'p', 3), /share/, 'the charges stand until they lapse');
      const t0 = Date.now();
      await until(() => q.share!.ledger.of(keyOf('erin')).jobs === 0, 5000, 'the charges to lapse (before: held until a restart)');
      assert.ok(Date.now() - t0 <= LAPSE_MS * 9 / 8 + 200, `lapsed within 9/8 of the lapse (${Date.now() - t0} ms)`);
      await put(q, 'p', 4, 5);
    } finally { await q.close(); }
  });

  it('a router of an earlier release acks without reporting: the charges lapse', async () => {
    const q = await open('lapse.old');
    try {
      await put(q, 'o', 0, 1);
      // What an earlier release's consumer does: deliver, ack, no notice.
      await q.manager.consumers.add(q.stream, { durable_name: 'wh_o', ack_policy: AckPolicy.Explicit, filter_subject: 'lapse.old.webhooks.q.o' });
      const c = await jetstream(bus.connection).consumers.get(q.stream, 'wh_o');
      // The two jobs of one turn share one message.
      for await (const m of await c.fetch({ max_messages: 1, expires: 1000 })) { m.ack(); break; }
      await until(async () => (await q.depth('o')) === 0, 5000, 'the queue empty');
      await assert.rejects(put(q, 'o', 2), /share/);
      await until(() => q.share!.ledger.of(keyOf('erin')).jobs === 0, 5000, 'the charges to lapse (before: held until a restart)');
      await put(q, 'o', 3);
    } finally { await q.close(); }
  });

  it('a turn settling more tags than one max_payload holds reports them all, in parts', async () => {
    const origin = 'abcdef012345';
    const got: string[] = [];
    const sub = bus.connection.subscribe(`lapse.notices.webhooks.settled.${origin}`, { callback: (_e, m) => { got.push(...m.string().split(' ')); } });
    try {
      const notices = new ShareNotices(bus.connection, 'lapse.notices');
      // 1,000 tags of ≈ 25 bytes: 25 KB in one turn against the server's 8 KiB max_payload.
      notices.settled(Array.from({ length: 1000 }, (_, i) => ({ origin, key: keyOf(`user${i}`), bytes: 1000 + i, gen: 123 })));
      await until(() => got.length === 1000, 3000, `1,000 tags reported (got ${got.length}; before: none, the one publish failed)`);
      assert.equal(new Set(got).size, 1000);
    } finally { sub.unsubscribe(); }
  });
});

describe('share ledger with lapse', () => {
  it('a release names its generation: a late notice of a lapsed charge does not lower a newer one', () => {
    let now = 0;
    const l = new ShareLedger({ maxJobs: 2, maxBytes: 1000 }, { ms: 800, now: () => now });
    const g0 = l.takeCopies('k', 10, 1);
    assert.equal(g0.taken, 1);
    now = 500;
    assert.equal(l.takeCopies('k', 10, 2).taken, 1, 'one of two copies fits the share of 2');
    assert.equal(l.takeCopies('k', 10, 1).taken, 0);
    assert.match(l.refusal('k').message, /share/);
    now = 1000; // g0's charge lapsed (older than 800 ms), the second not yet
    assert.deepEqual(l.of('k'), { jobs: 1, bytes: 10 });
    const g2 = l.takeCopies('k', 10, 1);
    assert.equal(g2.taken, 1);
    assert.notEqual(g2.gen, g0.gen);
    l.release('k', 10, g0.gen); // the lapsed charge's notice, late: nothing to release
    assert.deepEqual(l.of('k'), { jobs: 2, bytes: 20 });
    l.release('k', 10, g2.gen);
    l.release('k', 10, g2.gen); // settled twice (at-least-once): never below what is held
    assert.deepEqual(l.of('k'), { jobs: 1, bytes: 10 });
    now = 10_000;
    assert.deepEqual(l.of('k'), { jobs: 0, bytes: 0 });
    assert.equal(l.keys, 0);
  });
});
