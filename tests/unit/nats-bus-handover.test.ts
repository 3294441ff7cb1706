/**
 * The NATS bus adapter hands a turn's publishes to the client together at the
 * end of the turn (one socket write instead of one per microtask checkpoint),
 * keeps the order of every operation the server sees, and still refuses
 * synchronously what the client would refuse. A stand-in client records the
 * calls the adapter makes; the real client is covered by the bus contract.
 */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import type { NatsConnection } from '@nats-io/transport-node';
import { NatsBus } from '../../services/shared/bus/nats-bus.js';
import { silent } from '../helpers/log.js';

type Callback = (err: Error | null, m: { subject: string; data: Uint8Array }) => void;

/** Requests go out as a publish with a reply subject on the bus's reply subscription (nats-requests.ts); the fake answers at once. */
function fakeClient(calls: string[]): NatsConnection {
  let replies: Callback | undefined;
  const fake = {
    status: () => ({ [Symbol.asyncIterator]: () => ({ next: () => new Promise(() => undefined) }) }),
    closed: () => new Promise(() => undefined),
    getServer: () => '127.0.0.1:4222',
    info: { max_payload: 1024 },
    isClosed: () => false,
    publish: (subject: string, data: Uint8Array, opts?: { headers?: unknown; reply?: string }) => {
      if (opts?.reply !== undefined) {
        calls.push(`req ${subject}`);
        const to = opts.reply;
        queueMicrotask(() => replies?.(null, { subject: to, data: new Uint8Array(1) }));
        return;
      }
      calls.push(`pub ${subject} ${data.length}${opts?.headers ? ' h' : ''}`);
    },
    subscribe: (subject: string, opts?: { callback?: Callback }) => {
      if (subject.startsWith('_INBOX.')) { calls.push('sub replies'); replies = opts?.callback; return { unsubscribe: () => undefined, closed: new Promise(() => undefined) }; }
      calls.push(`sub ${subject}`);
      return { unsubscribe: () => { calls.push(`unsub ${subject}`); } };
    },
    flush: async () => { calls.push('flush'); },
  };
  return fake as unknown as NatsConnection;
}

const turn = () => new Promise<void>((r) => setImmediate(r));

describe('NATS bus: publishes handed over once per event-loop turn', () => {
  it('publishes of several microtask checkpoints of one turn reach the client together, at the end of the turn', async () => {
    const calls: string[] = [];
    const bus = new NatsBus(fakeClient(calls), { servers: ['x'], name: 't', log: silent });
    bus.publish('a', new Uint8Array(1));
    await Promise.resolve();
    await Promise.resolve();
    bus.publish('b', new Uint8Array(2), { k: 'v' });
    await Promise.resolve();
    assert.deepEqual(calls, [], 'nothing handed over within the turn');
    await turn();
    assert.deepEqual(calls, ['pub a 1', 'pub b 2 h']);
  });

  it('subscribe, unsubscribe, request and flush hand the queue over first: the server sees the order of the calls', async () => {
    const calls: string[] = [];
    const bus = new NatsBus(fakeClient(calls), { servers: ['x'], name: 't', log: silent });
    bus.publish('p1', new Uint8Array(1));
    const sub = bus.subscribe('s', () => undefined);
    bus.publish('p2', new Uint8Array(1));
    sub.unsubscribe();
    bus.publish('p3', new Uint8Array(1));
    assert.equal((await bus.request('r', new Uint8Array(1), { timeoutMs: 100 })).data.length, 1, 'the reply');
    bus.publish('p4', new Uint8Array(1));
    await bus.flush();
    await turn();
    assert.deepEqual(calls, ['pub p1 1', 'sub s', 'pub p2 1', 'unsub s', 'pub p3 1', 'sub replies', 'req r', 'pub p4 1', 'flush']);
  });

  it('refuses at once what the client would refuse: a payload over max_payload, an empty subject, a bad header', async () => {
    const calls: string[] = [];
    const bus = new NatsBus(fakeClient(calls), { servers: ['x'], name: 't', log: silent });
    assert.throws(() => bus.publish('big', new Uint8Array(1025)), RangeError);
    assert.throws(() => bus.publish('', new Uint8Array(1)));
    assert.throws(() => bus.publish('a b', new Uint8Array(1)));
    assert.throws(() => bus.publish('h', new Uint8Array(1), { 'bad key': 'v' }));
    bus.publish('fits', new Uint8Array(1024));
    await turn();
    assert.deepEqual(calls, ['pub fits 1024']);
  });
});
