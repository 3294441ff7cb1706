import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { LIMITS, type ReplyFrame } from '../../protocol/index.js';
import { admissionOptions, flush, gatewayBench, text } from '../helpers/gateway-harness.js';
import { FakeClientSocket } from '../helpers/fake-client-socket.js';
import { Errors, LonglinkError } from '../../services/shared/errors.js';

const setup = () => gatewayBench({
  admission: admissionOptions({ maxConnections: 100, connectRate: 1000, connectBurst: 1000, maxStarting: 1000 }),
  limits: { maxPayload: 4096, ratePerSec: 1000, burst: 1000, sendBufferBound: 1 << 20, writeTimeoutMs: 3000 },
});
const ask = (id: string, extra: Record<string, unknown> = {}) => text(JSON.stringify({ op: 'send', id, topic: 'chat.history', data: { room: 1 }, reply: true, ...extra }));
const replies = (s: FakeClientSocket) => s.frames().filter((f): f is ReplyFrame => f.op === 'reply');

describe('gateway: upstream requests (send with reply)', () => {
  it('forwards the request with the sender\'s ids and its timeout, and answers with a reply frame (data or error)', async () => {
    const { core, hs, link } = setup();
    const s = new FakeClientSocket();
    const c = core.open(s, hs('alice', 'phone'));
    await flush();
    link.replyWith = async (msg) => ({ echo: msg.data, by: msg.user });
    core.message(c, ask('q1', { timeoutMs: 1500 }), false);
    await flush();
    assert.deepEqual(link.requests.map((r) => [r.msg.topic, r.msg.id, r.msg.user, r.msg.device, r.msg.conn, r.timeoutMs]), [['chat.history', 'q1', 'alice', 'phone', c.id, 1500]]);
    link.replyWith = () => Promise.reject(new LonglinkError(Errors.UPSTREAM_NO_BACKEND, 'topic chat.history'));
    core.message(c, ask('q2'), false);
    await flush();
    assert.equal(link.requests[1]!.timeoutMs, LIMITS.defaultReplyTimeoutMs, 'the default timeout');
    assert.deepEqual(replies(s), [
      { op: 'reply', id: 'q1', data: { echo: { room: 1 }, by: 'alice' } },
      { op: 'reply', id: 'q2', error: 'LL_UPSTREAM_NO_BACKEND', message: 'No backend is listening on this topic: topic chat.history' },
    ]);
    assert.ok(!s.ops().includes('sent'), 'a request is answered by reply, not sent');
    assert.deepEqual(Object.fromEntries(core.stats.upstreamReplies), { ok: 1, LL_UPSTREAM_NO_BACKEND: 1 });
  });

  it(`at most ${LIMITS.maxRepliesInFlight} requests wait per connection; more get LL_UPSTREAM_BUSY at once, and room frees as answers come`, async () => {
    const { core, hs, link } = setup();
    const s = new FakeClientSocket();
    const c = core.open(s, hs());
    await flush();
    const waiting: Array<(v: unknown) => void> = [];
    link.replyWith = () => new Promise((r) => { waiting.push(r); });
    for (let i = 0; i <= LIMITS.maxRepliesInFlight; i++) core.message(c, ask(`q${i}`), false);
    await flush();
    assert.equal(link.requests.length, LIMITS.maxRepliesInFlight, 'the one over the cap was not forwarded');
    assert.deepEqual(replies(s).map((f) => [f.id, 'error' in f ? f.error : 'data']), [[`q${LIMITS.maxRepliesInFlight}`, 'LL_UPSTREAM_BUSY']]);
    waiting[0]!('done');
    await flush();
    core.message(c, ask('again'), false);
    await flush();
    assert.equal(link.requests.length, LIMITS.maxRepliesInFlight + 1, 'an answer frees a slot');
    assert.equal(s.code(), undefined, 'the connection stays open');
  });
});
