/**
 * The JetStream share's key (services/router/webhooks/jetstream-share.ts): an
 * event sent to several endpoints is charged one job per endpoint copy, in
 * one step (chargeEvent); the user's key (a SHA-256 prefix) is computed once
 * for them, not per copy.
 */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import type { NatsConnection } from '@nats-io/transport-node';
import { JetStreamShare, keyOf } from '../../services/router/webhooks/jetstream-share.js';

const silent = { debug: () => {}, info: () => {}, warn: () => {}, error: () => {} };
/** Just what the share's constructor uses of a connection: a subscription and the status stream. */
const fakeNc = (): NatsConnection => ({
  subscribe: () => ({ unsubscribe: () => {} }),
  status: () => ({ stop: () => {}, [Symbol.asyncIterator]: () => ({ next: () => new Promise(() => {}) }) }),
}) as unknown as NatsConnection;

describe('webhook share key', () => {
  it('hashes the user once for an event\'s endpoint copies, again for another user, with the same keys as keyOf', () => {
    const hashed: string[] = [];
    const share = new JetStreamShare(fakeNc(), 'p', { maxJobs: 100, maxBytes: 1_000_000 }, 60_000, silent, (u) => { hashed.push(u); return keyOf(u); });
    try {
      const copies = share.chargeEvent('alice', 10, 3);
      assert.deepEqual(hashed, ['alice'], 'three endpoint copies: one hash');
      assert.equal(copies.taken, 3);
      assert.equal(copies.tag.key, keyOf('alice'));
      assert.equal(share.chargeEvent('bob', 10, 1).tag.key, keyOf('bob'));
      assert.equal(share.chargeEvent('alice', 10, 1).tag.key, keyOf('alice'));
      assert.deepEqual(hashed, ['alice', 'bob', 'alice']);
      assert.deepEqual(share.ledger.of(keyOf('alice')), { jobs: 4, bytes: 40 }, 'every copy charged');
    } finally {
      share.close();
    }
  });
});
