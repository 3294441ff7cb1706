/**
 * The gateway's per-push receive path: a bus message is read from the NATS
 * message only as far as the handler reads it (a delivery handler reads just
 * `data`), and a user with one connection is delivered to without the
 * snapshot array the general lookup allocates.
 */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import type { Msg } from '@nats-io/transport-node';
import { headers as natsHeaders } from '@nats-io/transport-node';
import { toBusMessage } from '../../services/shared/bus/nats-messages.js';
import { ConnectionRegistry } from '../../services/gateway/core/registry.js';
import type { Connection } from '../../services/gateway/core/connection.js';

/** A NATS message that counts reads of the fields the client decodes from bytes. */
function fakeMsg(withHeaders: boolean): { msg: Msg; reads: { subject: number; reply: number; headers: number } } {
  const reads = { subject: 0, reply: 0, headers: 0 };
  const h = natsHeaders();
  h.set('traceparent', '00-abc-def-01');
  const msg = {
    get subject() { reads.subject++; return 'll.deliver.gw1'; },
    get reply() { reads.reply++; return ''; },
    get headers() { reads.headers++; return withHeaders ? h : undefined; },
    data: new Uint8Array([123, 125]),
  } as unknown as Msg;
  return { msg, reads };
}

describe('NATS bus message', () => {
  it('decodes nothing but what the handler reads', () => {
    const { msg, reads } = fakeMsg(false);
    const m = toBusMessage(msg);
    assert.deepEqual([...m.data], [123, 125]);
    assert.deepEqual(reads, { subject: 0, reply: 0, headers: 0 });
    assert.equal(m.subject, 'll.deliver.gw1');
    assert.equal(m.reply, undefined, 'an empty reply reads as none');
    assert.equal(m.headers, undefined);
    assert.equal(reads.subject, 1);
  });

  it('converts headers once, keeping the first value per key', () => {
    const { msg, reads } = fakeMsg(true);
    const m = toBusMessage(msg);
    const first = m.headers;
    assert.deepEqual(first, { traceparent: '00-abc-def-01' });
    assert.equal(m.headers, first, 'the same object on a second read');
    assert.equal(reads.headers, 1);
  });
});

describe('ConnectionRegistry.only', () => {
  const conn = (id: string, user: string, device: string): Connection => ({ id, user, device }) as unknown as Connection;

  it('answers the single connection of a user, honouring the device filter', () => {
    const r = new ConnectionRegistry();
    const a = conn('a', 'u1', 'phone');
    r.add(a);
    assert.equal(r.only('u1'), a);
    assert.equal(r.only('u1', 'phone'), a);
    assert.equal(r.only('u1', 'laptop'), undefined);
    assert.equal(r.only('u2'), undefined);
  });

  it('answers undefined for several connections (get() takes those) and follows removals', () => {
    const r = new ConnectionRegistry();
    const a = conn('a', 'u1', 'phone'), b = conn('b', 'u1', 'laptop');
    r.add(a);
    r.add(b);
    assert.equal(r.only('u1'), undefined);
    assert.equal(r.only('u1', 'phone'), undefined);
    assert.deepEqual(r.get('u1', 'phone'), [a]);
    r.remove(a);
    assert.equal(r.only('u1'), b);
    r.remove(b);
    assert.equal(r.only('u1'), undefined);
  });
});
