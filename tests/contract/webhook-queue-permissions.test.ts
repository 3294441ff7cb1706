/**
 * The webhook queue under NATS permissions that deny one of its
 * subscriptions (an operator's allow-list written before the subject
 * existed, or tightened by a config reload): NATS hands the subscription's
 * callback an error and no message. Reading that as a message threw in the
 * client's reader and wedged the whole connection (the router's bus: no
 * message in or out, the JetStream queue never opened). Real nats-server.
 */
import { after, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { connect } from '@nats-io/transport-node';
import { startNatsServer } from '../../infra/local/nats.js';
import { connectNatsBus } from '../../services/shared/bus/nats-bus.js';
import { openJetStreamQueue } from '../../services/router/webhooks/jetstream-queue.js';
import { JobPublisher } from '../../services/router/webhooks/jetstream-publisher.js';
import { keyOf } from '../../services/router/webhooks/jetstream-share.js';
import { silent } from '../helpers/log.js';

const users = [
  '{ user: router, password: r, permissions: { publish: { allow: [">"] }, subscribe: { allow: [">"], deny: ["perm.webhooks.settled.>"] } } }',
  '{ user: noinbox, password: n, permissions: { publish: { allow: [">"] }, subscribe: { allow: [">"], deny: ["_INBOX.>"] } } }',
];
const nats = await startNatsServer({ jetstream: true, extraConfig: `authorization { users = [ ${users.join(', ')} ] }\nno_auth_user: router` });
const bus = await connectNatsBus({ servers: nats.urls, name: 'webhook-queue-permissions', log: silent });
after(async () => { await bus.close(); await nats.stop(); });

/** Whether the connection still carries messages: a round trip through the server within 3 s. */
const flows = (nc: { flush(): Promise<void> }): Promise<boolean> =>
  Promise.race([nc.flush().then(() => true, () => false), new Promise<boolean>((r) => setTimeout(() => r(false), 3000))]);

describe('webhook queue: a denied subscription does not wedge the connection', () => {
  it('the settle notices denied: the queue opens, the bus still works, the charges lapse', async () => {
    const q = await openJetStreamQueue({ nc: bus.connection, prefix: 'perm', log: silent, timeoutMs: 1000, horizonMs: 60_000, deadTtlMs: 3_600_000, share: { maxJobs: 1, maxBytes: 1_000_000 }, shareLapseMs: 1200 });
    try {
      assert.equal(await flows(bus.connection), true, 'the bus carries messages');
      const put = (n: number): Promise<void> => q.enqueueEvent({ id: `m${n}`, type: 'push.offline', createdAt: Date.now(), body: '{}', key: 'erin' }, ['e'])[0]!;
      await put(0);
      await assert.rejects(put(1), /share/);
      const end = Date.now() + 5000;
      while (q.share!.ledger.of(keyOf('erin')).jobs > 0 && Date.now() < end) await new Promise((r) => setTimeout(r, 50));
      await put(2);
    } finally { await q.close(); }
  });

  it('the publisher\'s reply inbox denied: its publishes fail (time out), the connection still works', async () => {
    const nc = await connect({ servers: nats.urls, user: 'noinbox', pass: 'n' });
    try {
      const p = new JobPublisher(nc);
      await assert.rejects(p.add('perm.webhooks.q.e', { id: 'm', type: 'push.offline', createdAt: Date.now(), body: '{}', attempts: 0, notBefore: 0 }), /timed out|closed/);
      assert.equal(await flows(nc), true, 'the connection carries messages');
      p.close();
    } finally { await nc.close(); }
  });
});
