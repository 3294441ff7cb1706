/** The SDK's channel state (sdk/src/channels.ts): duplicates, epochs, gaps, recovery positions and handler errors. */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { Channels, GAP_RECONNECT_MS, type ChannelMessage, type ChannelReset } from '../../sdk/src/channels.js';

function rig(initial: Array<{ channel: string; offset: number; epoch: string }> = []) {
  let now = 0;
  const got: ChannelMessage[] = [];
  const resets: ChannelReset[] = [];
  const resyncs: string[] = [];
  const errors: unknown[] = [];
  const ch = new Channels({
    message: (m) => got.push(m), subscribed: () => {}, unsubscribed: () => {}, reset: (r) => resets.push(r), resync: (r) => resyncs.push(r), error: (e) => errors.push(e),
  }, () => now, initial);
  const pub = (offset: number, epoch = 'e1', channel = 'c') => ch.onPub({ op: 'pub', channel, offset, epoch, id: `m${offset}`, ts: 1, data: offset });
  return { ch, got, resets, resyncs, errors, pub, advance: (ms: number) => { now += ms; } };
}

describe('SDK channel state', () => {
  it('drops duplicates, follows a new epoch with a reset, and keeps positions for recovery', () => {
    const r = rig();
    r.ch.onSubscribed({ op: 'subscribed', channel: 'c', offset: 0, epoch: 'e1' });
    r.pub(1); r.pub(2); r.pub(2); r.pub(1);
    assert.deepEqual(r.got.map((m) => m.offset), [1, 2]);
    assert.equal(r.ch.duplicates, 2);
    r.pub(1, 'e2');
    assert.deepEqual(r.resets, [{ channel: 'c', epoch: 'e2', offset: 1, reason: 'epoch_changed' }]);
    assert.deepEqual(r.ch.recoverPositions, [{ channel: 'c', offset: 1, epoch: 'e2' }]);
    r.ch.onUnsubscribed({ op: 'unsubscribed', channel: 'c' });
    assert.deepEqual(r.ch.recoverPositions, [], 'an unsubscribed channel is not recovered');
  });

  it('a gap asks for a resync at most once per window, and is reported every time', () => {
    const r = rig([{ channel: 'c', offset: 5, epoch: 'e1' }]);
    r.pub(8);
    assert.equal(r.resyncs.length, 1);
    assert.equal(r.got.length, 0, 'the message after the gap comes back with the recovery');
    r.pub(10);
    assert.equal(r.resyncs.length, 1, 'within the window: no second reconnect');
    assert.deepEqual(r.got.map((m) => m.offset), [10], 'delivered, the gap reported');
    assert.deepEqual(r.resets.map((x) => x.reason), ['gap', 'gap']);
    r.advance(GAP_RECONNECT_MS);
    r.pub(12);
    assert.equal(r.resyncs.length, 2);
  });

  it('subscribed: recovered keeps the position; not recovered or ahead of it resets', () => {
    const r = rig([{ channel: 'c', offset: 3, epoch: 'e1' }, { channel: 'd', offset: 3, epoch: 'e1' }]);
    r.ch.onSubscribed({ op: 'subscribed', channel: 'c', offset: 9, epoch: 'e1', recovered: true });
    assert.equal(r.ch.recoverPositions.find((p) => p.channel === 'c')!.offset, 3);
    r.ch.onSubscribed({ op: 'subscribed', channel: 'd', offset: 9, epoch: 'e1', recovered: false });
    assert.deepEqual(r.resets, [{ channel: 'd', epoch: 'e1', offset: 9, reason: 'not_recovered' }]);
    assert.deepEqual(r.ch.names.sort(), ['c', 'd']);
    r.ch.detach();
    assert.deepEqual(r.ch.names, []);
  });

  it('a throwing handler is reported and does not stop the others', () => {
    const r = rig();
    const seen: number[] = [];
    r.ch.on('c', () => { throw new Error('boom'); });
    const off = r.ch.on('c', (m) => seen.push(m.offset));
    r.pub(1);
    off();
    r.pub(2);
    assert.deepEqual(seen, [1]);
    assert.equal(r.errors.length, 2);
  });
});
