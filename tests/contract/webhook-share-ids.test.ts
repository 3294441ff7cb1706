/**
 * The cluster-wide webhook share releases each charge once for its whole
 * life (charge ids: jetstream-share.ts, share-views.ts), on a real
 * nats-server with JetStream. Job places in the stream (`@<seq>.<index>`),
 * remembered for a window of a few leases, missed three cases:
 *  - a message whose ack was lost, redelivered, failing again and settling
 *    after its backoff, past the window: released again (under-count);
 *  - a job re-stored for a retry by each delivery of its message: two
 *    copies at two places, each released when it left (under-count);
 *  - the stream deleted and created again within the window: its sequence
 *    numbers restart, so a new job's place matched an old job's and its
 *    release was skipped (over-count: the user stuck at its share until
 *    the charge lapsed, about two horizons).
 */
import { after, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import type { NatsConnection } from '@nats-io/transport-node';
import { startNatsServer } from '../../infra/local/nats.js';
import { connectNatsBus } from '../../services/shared/bus/nats-bus.js';
import { openJetStreamQueue, type JetStreamWebhookQueue } from '../../services/router/webhooks/jetstream-queue.js';
import { keyOf, type ShareTiming } from '../../services/router/webhooks/jetstream-share.js';
import { silent } from '../helpers/log.js';
import { loseFirstAck, put, userEvent } from '../helpers/webhook-share.js';
import { until } from '../helpers/until.js';

const nats = await startNatsServer({ jetstream: true });
const bus = await connectNatsBus({ servers: nats.urls, name: 'webhook-share-ids', log: silent });
after(async () => { await bus.close(); await nats.stop(); });

const share = { maxJobs: 2, maxBytes: 1_000_000 };
/**
 * `onceWindowMs` was the place-based release's window (by default max(1 min, 4 leases)): shortened so that a repeat
 * past it takes seconds, not a minute. Charge ids have no such window: the option is gone, and passed over.
 */
const timing = { onceWindowMs: 2000 } as ShareTiming;
/** A router's queue; `timeoutMs` 1000: a lease (ack_wait) of 6 s. */
const open = (nc: NatsConnection, prefix: string): Promise<JetStreamWebhookQueue> =>
  openJetStreamQueue({ nc, prefix, log: silent, timeoutMs: 1000, horizonMs: 60_000, deadTtlMs: 3_600_000, share, shareTiming: timing });
/** Two routers on their own connections, closed by `run`'s end. */
async function routers(prefix: string, run: (a: JetStreamWebhookQueue, b: JetStreamWebhookQueue) => Promise<void>): Promise<void> {
  const a = await open(bus.connection, prefix);
  const other = await connectNatsBus({ servers: nats.urls, name: `webhook-share-ids-${prefix}`, log: silent });
  const b = await open(other.connection, prefix);
  try { await run(a, b); } finally { await b.close(); await other.close(); await a.close(); }
}
/** What `key` holds: at the router that charged it, and as the other router sees it. */
const holds = (a: JetStreamWebhookQueue, b: JetStreamWebhookQueue, key: string): [number, number] => [a.share!.ledger.of(key).jobs, b.share!.elsewhere(key).jobs];

describe('JetStream webhook share: a charge released once for its whole life', () => {
  it('a lost ack, and the redelivery failing and settling after its backoff: released once', { timeout: 40_000 }, async () => {
    await routers('ids.late', async (a, b) => {
      const key = keyOf('erin');
      const seen: number[] = [];
      const lost = loseFirstAck(b);
      // Delivered at once (its ack lost); the redelivery, one lease later, fails and waits out a backoff of 3 s.
      const c = await b.consume('x', 4, async (j) => { seen.push(Date.now()); if (seen.length === 2) await j.retry(3000); else await j.ack(); });
      try {
        await put(a, 'x', userEvent('erin', 0));
        await until(() => seen.length === 1 && lost.lost() > 0, 5000, 'delivered, its ack lost');
        await until(() => holds(a, b, key).join() === '0,0', 5000, 'released');
        await put(a, 'idle', userEvent('erin', 1), userEvent('erin', 2)); // erin's whole share, on an endpoint nobody delivers
        await until(() => seen.length === 3, 20_000, 'the redelivery, its failure, and the delivery after the backoff');
        await until(async () => (await b.depth('x')) === 0, 5000, 'the queue empty');
        await new Promise((r) => setTimeout(r, 500)); // the last report reaches both routers
        assert.deepEqual(holds(a, b, key), [2, 2], 'both routers still count erin\'s two new charges (before: the late report released one, 1 and 1)');
        assert.ok(a.share!.repeats >= 1 && b.share!.repeats >= 1, 'heard as a repeat at both routers');
        await assert.rejects(put(a, 'idle', userEvent('erin', 3)), /share/, 'erin cannot pass her share by the late duplicate');
      } finally { await c.stop(); }
    });
  });

  it('a job re-stored for a retry by each delivery of its message: its two copies release once', { timeout: 40_000 }, async () => {
    await routers('ids.copies', async (a, b) => {
      const key = keyOf('erin');
      const seen: string[] = [];
      let failures = 0;
      const lost = loseFirstAck(b);
      // erin_1 fails at the first delivery (its copy due in 8 s) and at the redelivery, 6 s later (its copy due in 2 s).
      const c = await b.consume('x', 4, async (j) => {
        seen.push(j.job.id);
        if (j.job.id === 'msg_erin_1' && failures < 2) await j.retry(failures++ === 0 ? 8000 : 2000); else await j.ack();
      });
      try {
        await put(a, 'x', userEvent('erin', 0), userEvent('erin', 1)); // one message of two jobs
        await until(() => seen.length === 2 && lost.lost() > 0, 5000, 'both attempted, erin_1 re-stored, the message\'s ack lost');
        await until(() => holds(a, b, key).join() === '1,1', 5000, 'erin_0 released; erin_1 still charged (its copy carries the charge)');
        await put(a, 'idle', userEvent('erin', 2)); // erin's share full again
        await until(() => failures === 2, 15_000, 'the redelivery: erin_1 re-stored a second time');
        await until(() => seen.filter((id) => id === 'msg_erin_1').length === 4, 15_000, 'both copies of erin_1 delivered');
        await until(async () => (await b.depth('x')) === 0, 5000, 'the queue empty');
        await new Promise((r) => setTimeout(r, 500));
        assert.deepEqual(holds(a, b, key), [1, 1], 'erin_2 still counted (before: the second copy released it, 0 and 0)');
        await put(a, 'idle', userEvent('erin', 3));
        await until(() => b.share!.elsewhere(key).jobs === 2, 5000, 'b hears the charge');
        await assert.rejects(put(b, 'idle', userEvent('erin', 4)), /share/, 'erin holds her share, no more');
      } finally { await c.stop(); }
    });
  });

  it('the stream deleted and created again: a new job at an old job\'s place is released', { timeout: 40_000 }, async () => {
    await routers('ids.stream', async (a, b) => {
      const key = keyOf('erin');
      const seen: string[] = [];
      const deliver = (): ReturnType<JetStreamWebhookQueue['consume']> => b.consume('x', 4, async (j) => { seen.push(j.job.id); await j.ack(); });
      let c = await deliver();
      try {
        await put(a, 'x', userEvent('erin', 0), userEvent('erin', 1)); // stream seq 1, jobs 0 and 1
        await until(() => seen.length === 2, 5000, 'delivered');
        await until(() => holds(a, b, key).join() === '0,0', 5000, 'released');
        await until(async () => (await b.depth('x')) === 0, 5000, 'acked');
        await c.stop();
        // An operator deletes the stream; a router starting creates it again (and its consumer, as it delivers).
        await a.manager.streams.delete(a.stream);
        await a.ensureStreams();
        c = await deliver();
        await put(a, 'x', userEvent('erin', 2), userEvent('erin', 3)); // stream seq 1 again: the same places
        await until(() => seen.length === 4, 5000, 'delivered from the new stream');
        await until(() => holds(a, b, key).join() === '0,0', 5000, 'released (before: skipped as repeats of the old stream\'s places, held until they lapsed)');
        await put(b, 'x', userEvent('erin', 4), userEvent('erin', 5));
      } finally { await c.stop(); }
    });
  });
});
