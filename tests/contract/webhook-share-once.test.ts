/**
 * The cluster-wide webhook share against the two ways its counts went wrong
 * (jetstream-share.ts, share-views.ts), on a real nats-server with JetStream:
 *  - a queue message settled twice (its first ack lost: JetStream hands it
 *    out again after ack_wait) released its jobs twice, at every router, so
 *    a user could pass its share by the duplicates;
 *  - a router dying between announcing a charge and storing its job left
 *    the charge at the other routers until it lapsed (about two horizons);
 *  - a user whose key starts with `-` (one in 64): its charge announcements
 *    read as refunds and its settle notices as another key's.
 */
import { after, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { startNatsServer } from '../../infra/local/nats.js';
import { connectNatsBus } from '../../services/shared/bus/nats-bus.js';
import { openJetStreamQueue, type JetStreamWebhookQueue } from '../../services/router/webhooks/jetstream-queue.js';
import { keyOf } from '../../services/router/webhooks/jetstream-share.js';
import type { NatsConnection } from '@nats-io/transport-node';
import { silent } from '../helpers/log.js';
import { loseFirstAck, put, userEvent } from '../helpers/webhook-share.js';
import { until } from '../helpers/until.js';

const nats = await startNatsServer({ jetstream: true });
const bus = await connectNatsBus({ servers: nats.urls, name: 'webhook-share-once', log: silent });
after(async () => { await bus.close(); await nats.stop(); });

const share = { maxJobs: 2, maxBytes: 1_000_000 };
/** A router's queue; `timeoutMs` 1000: a lease (ack_wait) of 6 s. */
const open = (nc: NatsConnection, prefix: string, confirmMs = 30_000): Promise<JetStreamWebhookQueue> =>
  openJetStreamQueue({ nc, prefix, log: silent, timeoutMs: 1000, horizonMs: 60_000, deadTtlMs: 3_600_000, share, shareTiming: { confirmMs } });

describe('JetStream webhook share: a message settled twice releases once', () => {
  it('the first ack lost: the redelivery, at another router, releases nothing again (here or there)', { timeout: 30_000 }, async () => {
    const prefix = 'once.ack';
    const key = keyOf('erin');
    const a = await open(bus.connection, prefix);
    const other = await connectNatsBus({ servers: nats.urls, name: 'webhook-share-once-b', log: silent });
    const b = await open(other.connection, prefix);
    const seen: Array<[string, number]> = [];
    let retried = false;
    const lost = loseFirstAck(b);
    // Router b delivers; erin_1 fails once and is re-published out of the message (its charge carried along).
    const c = await b.consume('x', 4, async (j) => {
      seen.push([j.job.id, j.attempt]);
      if (j.job.id === 'msg_erin_1' && !retried) { retried = true; await j.retry(200); } else await j.ack();
    });
    try {
      await put(a, 'x', userEvent('erin', 0), userEvent('erin', 1));
      await until(() => seen.length === 3 && lost.lost() > 0, 5000, 'both jobs and the retry, the message\'s ack lost');
      await until(() => a.share!.ledger.of(key).jobs === 0 && b.share!.elsewhere(key).jobs === 0, 5000, 'both released once');
      // Erin holds her whole share again, on an endpoint nobody delivers.
      await put(a, 'idle', userEvent('erin', 2), userEvent('erin', 3));
      await until(() => b.share!.elsewhere(key).jobs === 2, 5000, 'b hears the new charges');
      // The message comes back after its lease (6 s): both jobs sent again (same ids), settled again, reported again.
      await until(() => seen.filter(([id]) => id === 'msg_erin_0').length === 2, 15_000, 'the redelivery');
      await until(async () => (await b.depth('x')) === 0, 5000, 'the queue empty');
      await new Promise((r) => setTimeout(r, 500)); // the second report reaches both routers
      assert.deepEqual(a.share!.ledger.of(key), { jobs: 2, bytes: 2 * '{"n":2}'.length }, 'the router that queued still counts both new charges (before: 0)');
      assert.equal(b.share!.elsewhere(key).jobs, 2, 'so does the other router (before: 0)');
      assert.ok(a.share!.repeats >= 2 && b.share!.repeats >= 2, 'heard as repeats at both routers');
      await assert.rejects(put(a, 'idle', userEvent('erin', 4)), /share/, 'erin cannot pass her share by the duplicate');
      await assert.rejects(put(b, 'idle', userEvent('erin', 5)), /share/, 'at either router');
    } finally { await c.stop(); await b.close(); await other.close(); await a.close(); }
  });
});

describe('JetStream webhook share: a charge announced and never stored', () => {
  it('its router dies before the store: the other routers release it within the confirmation window; stored charges stay', { timeout: 30_000 }, async () => {
    const prefix = 'once.phantom';
    const CONFIRM_MS = 1000;
    const watcher = await open(bus.connection, prefix, CONFIRM_MS);
    const dying = await connectNatsBus({ servers: nats.urls, name: 'webhook-share-once-dying', log: silent });
    const a = await open(dying.connection, prefix);
    const live = await connectNatsBus({ servers: nats.urls, name: 'webhook-share-once-live', log: silent });
    const l = await open(live.connection, prefix);
    const erin = keyOf('erin'), ivan = keyOf('ivan'), old = keyOf('old');
    try {
      // Router a announces erin's charge, then its store never completes: it dies before the PubAck.
      (a as unknown as { publisher: { add(): Promise<void> } }).publisher.add = () => new Promise<void>(() => undefined);
      void a.enqueueEvent(userEvent('erin', 0), ['idle'])[0]!.catch(() => undefined);
      await put(l, 'idle', userEvent('ivan', 0));
      // A router of an earlier release: its announcement carries no turn and is never confirmed.
      live.connection.publish(`${prefix}.webhooks.charged.0123abcd`, `${old}/10/6`);
      await until(() => watcher.share!.elsewhere(erin).jobs === 1 && watcher.share!.elsewhere(ivan).jobs === 1 && watcher.share!.elsewhere(old).jobs === 1, 5000, 'the charges heard');
      await dying.close();
      const t0 = Date.now();
      await until(() => watcher.share!.elsewhere(erin).jobs === 0, 5000, 'the phantom charge released (before: held until it lapsed, about two horizons)');
      assert.ok(Date.now() - t0 <= CONFIRM_MS + 500, `released within the window (${Date.now() - t0} ms)`);
      assert.equal(watcher.share!.unconfirmed, 1);
      await new Promise((r) => setTimeout(r, CONFIRM_MS + 200));
      assert.equal(watcher.share!.elsewhere(ivan).jobs, 1, 'a charge stored and confirmed stands until its job leaves');
      assert.equal(watcher.share!.elsewhere(old).jobs, 1, 'an earlier release\'s charge is kept (it lapses as before)');
    } finally { await l.close(); await live.close(); await watcher.close(); await a.close().catch(() => undefined); }
  });
});

describe('JetStream webhook share: a key that starts with "-"', () => {
  it('is charged at the other routers and released by its settle notices, not read as a refund of another key', { timeout: 30_000 }, async () => {
    const prefix = 'once.dash';
    // keyOf is base64url: one user in 64 has a key starting with '-', the refund mark of a notice item.
    const user = Array.from({ length: 1000 }, (_, i) => `dash-${i}`).find((u) => keyOf(u).startsWith('-'))!;
    const key = keyOf(user);
    const a = await open(bus.connection, prefix);
    const other = await connectNatsBus({ servers: nats.urls, name: 'webhook-share-once-dash', log: silent });
    const b = await open(other.connection, prefix);
    const seen: string[] = [];
    try {
      await put(a, 'x', userEvent(user, 0), userEvent(user, 1));
      await until(() => b.share!.elsewhere(key).jobs === 2, 5000, 'b hears both charges (before: read as refunds of another key, 0)');
      await assert.rejects(put(b, 'x', userEvent(user, 2)), /share/, 'the share is the cluster\'s');
      const c = await b.consume('x', 4, async (j) => { seen.push(j.job.id); await j.ack(); });
      try {
        await until(() => seen.length === 2, 5000, 'both delivered at b');
        await until(() => a.share!.ledger.of(key).jobs === 0 && b.share!.elsewhere(key).jobs === 0, 5000,
          'both released at the router that queued them (before: the notice released another key, the charges held until they lapsed)');
        await put(a, 'x', userEvent(user, 3), userEvent(user, 4));
      } finally { await c.stop(); }
    } finally { await b.close(); await other.close(); await a.close(); }
  });
});
