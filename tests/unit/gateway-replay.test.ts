/**
 * Replay paced by the send buffer (services/gateway/core/replay.ts): writes
 * stop at the high-water mark and continue on the drain event, the next page
 * is fetched from the inbox after what was written, acks are forwarded
 * during the replay, and live pushes wait until it ends.
 */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { encodeAck, type PushFrame } from '../../protocol/index.js';
import type { FetchReply, FetchRequest, PushRecord, ResumeReply, ResumeRequest } from '../../services/gateway/core/ports.js';
import { FakeClientSocket } from '../helpers/fake-client-socket.js';
import { buf, flush, gatewayBench } from '../helpers/gateway-harness.js';

const BOUND = 1000;
const rec = (seq: number, size = 300): PushRecord => ({ seq, id: `m${seq}`, ts: 1, data: JSON.stringify('x'.repeat(size)) });

/** An inbox of `n` pushes served in pages of `page`, like the router's resume/repair answers. */
function inbox(n: number, page: number) {
  const all = Array.from({ length: n }, (_, i) => rec(i + 1));
  const fetches: FetchRequest[] = [];
  const pageAfter = (after: number) => {
    const rest = all.filter((p) => p.seq > after);
    return { latestSeq: n, pushes: rest.slice(0, page), ...(rest.length > page ? { more: true } : {}) };
  };
  const answer = async (_req: ResumeRequest): Promise<ResumeReply> => ({ session: 's1', resumed: false, ...pageAfter(0) });
  const fetch = async (req: FetchRequest): Promise<FetchReply> => { fetches.push(req); return pageAfter(req.afterSeq); };
  return { all, fetches, answer, fetch };
}

/** A socket whose buffer grows by what is sent and empties on `drain()`. */
class BufferingSocket extends FakeClientSocket {
  override send(message: Uint8Array | string, isBinary = false): number {
    this.buffered += typeof message === 'string' ? message.length : message.byteLength;
    return super.send(message, isBinary);
  }
  seqs(): number[] { return this.frames().filter((f): f is PushFrame => f.op === 'push').map((f) => f.seq); }
}

describe('flow-controlled replay', () => {
  it('pauses at the send-buffer bound, continues on drain, fetches pages after what was written', async () => {
    const { core, hs, link } = gatewayBench({ limits: { maxPayload: 1024, ratePerSec: 100, burst: 100, sendBufferBound: BOUND, writeTimeoutMs: 3000 } });
    const ib = inbox(40, 10);
    link.resumeReply = ib.answer;
    link.fetchReply = ib.fetch;
    const s = new BufferingSocket();
    const c = core.open(s, hs());
    await flush();
    const firstBurst = s.seqs();
    assert.ok(firstBurst.length > 0 && firstBurst.length <= 4, `stops near the bound: ${firstBurst.length} written`);
    assert.ok(s.buffered < BOUND + 400);
    for (let round = 0; round < 100 && s.seqs().length < 40; round++) {
      s.buffered = 0;
      core.sendBufferDrained(c);
      await flush();
    }
    assert.deepEqual(s.seqs(), ib.all.map((p) => p.seq), 'all, once, in order');
    assert.equal(ib.fetches.length, 3, 'pages 2-4 fetched');
    assert.deepEqual(ib.fetches.map((a) => a.afterSeq), [10, 20, 30], 'each after the last seq written');
    assert.equal(link.resumes.length, 1, 'a page is a fetch, not another resume');
    assert.equal(s.ended, undefined);
    assert.ok(core.replayStats.pauses > 0);
  });

  it('forwards acks during the replay, and delivers live pushes that arrived meanwhile after it, in order', async () => {
    const { core, hs, link } = gatewayBench({ limits: { maxPayload: 1024, ratePerSec: 100, burst: 100, sendBufferBound: BOUND, writeTimeoutMs: 3000 } });
    const ib = inbox(20, 20);
    link.resumeReply = ib.answer;
    link.fetchReply = ib.fetch;
    const s = new BufferingSocket();
    const c = core.open(s, hs());
    await flush();
    const seen = s.seqs();
    core.message(c, buf(encodeAck(seen.at(-1)!)), true);
    assert.deepEqual(link.acks, [['alice', 'd1', seen.at(-1)!]], 'ack forwarded mid-replay');
    assert.equal(core.deliver({ user: 'alice', pushes: [rec(21)] }), 1);
    assert.ok(!s.seqs().includes(21), 'a live push waits for the replay');
    for (let round = 0; round < 100 && s.seqs().length < 21; round++) { s.buffered = 0; core.sendBufferDrained(c); await flush(); }
    assert.deepEqual(s.seqs(), Array.from({ length: 21 }, (_, i) => i + 1));
  });

  it('too many live pushes during a replay are dropped for one more page, which holds them', async () => {
    const { core, hs, link } = gatewayBench({ limits: { maxPayload: 1024, ratePerSec: 100, burst: 100, sendBufferBound: BOUND, writeTimeoutMs: 3000 } });
    const ib = inbox(5, 5);
    link.resumeReply = ib.answer;
    link.fetchReply = ib.fetch;
    const s = new BufferingSocket();
    const c = core.open(s, hs());
    await flush();
    // 1,100 live pushes (over the pending bound), appended to the inbox before being published.
    for (let seq = 6; seq <= 1105; seq++) { ib.all.push(rec(seq, 1)); core.deliver({ user: 'alice', pushes: [rec(seq, 1)] }); }
    for (let round = 0; round < 5000 && s.seqs().at(-1) !== 1105; round++) { s.buffered = 0; core.sendBufferDrained(c); await flush(); }
    assert.deepEqual(s.seqs(), Array.from({ length: 1105 }, (_, i) => i + 1));
    assert.ok(c.pending === null && c.replay === null, 'replay over');
  });

  it('a failed page fetch closes with 1011 (the client resumes from its acks)', async () => {
    const { core, hs, link } = gatewayBench({ limits: { maxPayload: 1024, ratePerSec: 100, burst: 100, sendBufferBound: BOUND, writeTimeoutMs: 3000 } });
    const ib = inbox(10, 2);
    link.resumeReply = ib.answer;
    link.fetchReply = () => Promise.reject(new Error('router gone'));
    const s = new FakeClientSocket();
    core.open(s, hs());
    await flush();
    await flush();
    assert.equal(s.code(), 1011);
  });
});
