import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { LIMITS } from '../../protocol/index.js';
import { FakeTimers, RequestError, SendError, Upstream } from '../../sdk/src/index.js';

const setup = () => {
  const timers = new FakeTimers();
  const up = new Upstream(timers, 't-');
  const written: Array<Record<string, unknown>> = [];
  up.attach((f) => written.push(JSON.parse(f) as Record<string, unknown>));
  return { timers, up, written };
};
const settle = async <T>(p: Promise<T>): Promise<T | Error> => p.then((v) => v, (e: Error) => e);

describe('SDK upstream request()', () => {
  it('sends send with reply and timeoutMs, resolves with the reply data, and rejects with typed errors', async () => {
    const { up, written } = setup();
    const ok = up.request('chat.history', { room: 1 }, 1500, 'q1');
    const none = up.request('chat.history', 2, 99_999, 'q2');
    const slow = up.request('chat.history', 3, 1, 'q3');
    const busy = up.request('chat.history', 4, 1000, 'q4');
    assert.deepEqual(written.map((w) => [w.id, w.reply, w.timeoutMs]), [['q1', true, 1500], ['q2', true, LIMITS.maxReplyTimeoutMs], ['q3', true, LIMITS.minReplyTimeoutMs], ['q4', true, 1000]]);
    up.onReply({ op: 'reply', id: 'q1', data: { messages: [] } });
    up.onReply({ op: 'reply', id: 'q2', error: 'LL_UPSTREAM_NO_BACKEND', message: 'No backend' });
    up.onReply({ op: 'reply', id: 'q3', error: 'LL_UPSTREAM_TIMEOUT' });
    up.onReply({ op: 'reply', id: 'q4', error: 'LL_UPSTREAM_BUSY' });
    assert.deepEqual(await ok, { messages: [] });
    const errs = await Promise.all([none, slow, busy].map((p) => settle(p)));
    assert.deepEqual(errs.map((e) => e instanceof RequestError && [e.kind, e.code, e.id]), [
      ['no-backend', 'LL_UPSTREAM_NO_BACKEND', 'q2'], ['timeout', 'LL_UPSTREAM_TIMEOUT', 'q3'], ['busy', 'LL_UPSTREAM_BUSY', 'q4'],
    ]);
    assert.equal(up.inFlight, 0);
  });

  it('times out on its own a little after the gateway would, resends on a new connection, and closes with kind closed', async () => {
    const { up, timers, written } = setup();
    const lost = settle(up.request('a.b', 1, 1000, 'lost'));
    up.detach();
    const again = settle(up.request('a.b', 2, 5000, 'again'));
    up.attach((f) => written.push(JSON.parse(f) as Record<string, unknown>));
    assert.deepEqual(written.map((w) => w.id), ['lost', 'lost', 'again'], 'unanswered requests are sent again on attach');
    timers.advance(2999);
    assert.equal(up.inFlight, 2);
    timers.advance(1);
    const e = await lost;
    assert.ok(e instanceof RequestError && e.kind === 'timeout' && e.code === undefined);
    up.rejectAll('client stopped');
    const c = await again;
    assert.ok(c instanceof RequestError && c.kind === 'closed');
  });

  it('a request answered `sent` (an older gateway) is unsupported; a reply for a plain send is ignored', async () => {
    const { up } = setup();
    const old = settle(up.request('a.b', 1, 1000, 'r'));
    up.onSent({ op: 'sent', id: 'r' });
    const e = await old;
    assert.ok(e instanceof RequestError && e.kind === 'unsupported');
    const plain = settle(up.send('a.b', 1, 1000, 's'));
    up.onReply({ op: 'reply', id: 's', data: 1 });
    assert.equal(up.inFlight, 1, 'still waiting for sent');
    up.onSent({ op: 'sent', id: 's' });
    assert.equal(await plain, undefined);
    const bad = await settle(up.request('not a topic', 1, 1000));
    assert.ok(bad instanceof RequestError && bad.kind === 'rejected' && !(bad instanceof SendError));
  });
});
