/**
 * The gateway and sequence epochs (services/gateway/core/epoch.ts,
 * docs/protocol.md §7): hello and push frames carry the epoch; a push or page
 * of a newer epoch resets the connection's watermarks instead of being
 * dropped as "already written"; pushes of an older epoch are dropped; acks
 * above what the new epoch wrote are not passed on.
 */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { encodeAck } from '../../protocol/index.js';
import type { HelloFrame, PushFrame } from '../../protocol/index.js';
import type { PushRecord, ResumeReply } from '../../services/gateway/core/ports.js';
import { FakeClientSocket } from '../helpers/fake-client-socket.js';
import { buf, flush, gatewayBench } from '../helpers/gateway-harness.js';

const E1 = 1_700_000_000_000_000;
const E2 = E1 + 5_000_000;
const rec = (seq: number, epoch: number): PushRecord => ({ seq, id: `m${seq}@${epoch}`, ts: 1, data: String(seq), epoch });
const pushes = (s: FakeClientSocket): Array<[number, number | undefined]> =>
  s.frames().filter((f): f is PushFrame => (f as PushFrame).op === 'push').map((f) => [f.seq, f.epoch]);

describe('GatewayCore and sequence epochs', () => {
  it('hello carries the epoch and the lost range; the resume request names the client\'s epoch', async () => {
    const { core, hs, link } = gatewayBench();
    link.resumeReply = async (req): Promise<ResumeReply> => ({ session: req.session!, resumed: true, latestSeq: 1, epoch: E2, lost: { epoch: E1, afterSeq: 41 }, pushes: [rec(1, E2)] });
    const s = new FakeClientSocket();
    core.open(s, hs('alice', 'd1', { session: 's1', lastSeq: 41, lastEpoch: E1 }));
    await flush();
    assert.equal(link.resumes[0]!.lastEpoch, E1);
    const hello = s.frames()[0] as HelloFrame;
    assert.deepEqual([hello.epoch, hello.lost, hello.seq], [E2, { epoch: E1, afterSeq: 41 }, 1]);
    assert.deepEqual(pushes(s), [[1, E2]], 'seq 1 of the new epoch is written although the client had 41');
  });

  it('a push of a newer epoch restarts the watermark: every push of the new sequence is written, late old ones are dropped', async () => {
    const { core, hs, link } = gatewayBench();
    link.resumeReply = async () => ({ session: 's', resumed: false, latestSeq: 40, epoch: E1, pushes: [] });
    const s = new FakeClientSocket();
    const c = core.open(s, hs());
    await flush();
    core.deliver({ user: 'alice', pushes: [rec(41, E1)] });
    core.message(c, buf(encodeAck(41)), true);
    // The store lost the sequence: new pushes count from 1 again under E2.
    core.deliver({ user: 'alice', pushes: [rec(1, E2)] });
    core.deliver({ user: 'alice', pushes: [rec(42, E1)] }); // published before the loss, arriving late
    core.deliver({ user: 'alice', pushes: [rec(2, E2), rec(3, E2)] });
    assert.deepEqual(pushes(s), [[41, E1], [1, E2], [2, E2], [3, E2]]);
    assert.deepEqual([c.epoch, c.sentSeq], [E2, 3]);
    assert.deepEqual(core.orderingStats.epochMoves, 1);
    assert.deepEqual(core.orderingStats.stalePushes, 1);
    // An ack of 41 sent before the client saw the new epoch must not trim new seqs up to 41.
    core.message(c, buf(encodeAck(41)), true);
    core.message(c, buf(encodeAck(3)), true);
    assert.deepEqual(link.acks.map((a) => a[2]), [41, 3]);
    assert.deepEqual(link.ackEpochs, [E1, E2], 'each ack names its epoch');
  });

  it('a gap after an epoch change is repaired from the new epoch\'s start', async () => {
    const { core, hs, link, run } = gatewayBench();
    link.resumeReply = async () => ({ session: 's', resumed: false, latestSeq: 10, epoch: E1, pushes: [] });
    link.fetchReply = async (req) => ({ latestSeq: 3, epoch: E2, pushes: [rec(1, E2), rec(2, E2), rec(3, E2)].filter((p) => p.seq > (req.epoch === E2 ? req.afterSeq : 0)) });
    const s = new FakeClientSocket();
    core.open(s, hs());
    await flush();
    core.deliver({ user: 'alice', pushes: [rec(3, E2)] }); // 1 and 2 went elsewhere first (two routers)
    assert.deepEqual(pushes(s), []);
    run(200);
    await flush();
    assert.deepEqual(link.fetches.map((f) => [f.afterSeq, f.epoch]), [[0, E2]]);
    assert.deepEqual(pushes(s), [[1, E2], [2, E2], [3, E2]]);
  });

  it('a replay page of a newer epoch (the store lost the sequence mid-replay) restarts the watermark', async () => {
    const { core, hs, link } = gatewayBench();
    link.resumeReply = async () => ({ session: 's', resumed: false, latestSeq: 9, epoch: E1, pushes: [rec(8, E1), rec(9, E1)], more: true });
    link.fetchReply = async () => ({ latestSeq: 2, epoch: E2, pushes: [rec(1, E2), rec(2, E2)] });
    const s = new FakeClientSocket();
    core.open(s, hs());
    await flush();
    await flush();
    assert.equal(link.fetches[0]!.epoch, E1);
    assert.deepEqual(pushes(s), [[8, E1], [9, E1], [1, E2], [2, E2]]);
  });
});
