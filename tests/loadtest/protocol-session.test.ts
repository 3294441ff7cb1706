/**
 * loadtest/lib/protocol-session.ts (the protocol logic k6 and the Node load
 * generator share) against the reference: its frames equal the gateway
 * codec's bytes, its parser agrees with decodeServerFrame, its backoff equals
 * the SDK's for the same random draws, and the heartbeat / zombie / ack
 * batching / resume rules hold on a fake clock.
 */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import {
  ClientSession, ackFrame, connectUrl, heartbeatFrame, parseServerFrame, subprotocols, toArrayBuffer,
} from '../../loadtest/lib/protocol-session.js';
import { FIXED_RETRY, SDK_RETRY, closeAdvice, retryDelay, retryPolicyFor } from '../../loadtest/lib/retry-policy.js';
import {
  CLOSE_CODES, decodeServerFrame, encodeAck, encodeHeartbeat, encodeHeartbeatAck, encodeJson, encodePushRaw,
} from '../../protocol/index.js';
import { DEFAULT_BACKOFF, backoffDelay, retryAfterDelay } from '../../sdk/src/backoff.js';
import { FakeTimers } from '../../sdk/src/fake-timers.js';
import { ReconnectMachine } from '../../sdk/src/reconnect-machine.js';

const hello = (o: Partial<{ session: string; resumed: boolean; intervalMs: number; seq: number; epoch: number }> = {}): string => encodeJson({
  op: 'hello', v: 1, session: o.session ?? 's1', conn: 'c1', gateway: 'gw-0', resumed: o.resumed ?? false, seq: o.seq ?? 0,
  ...(o.epoch !== undefined ? { epoch: o.epoch } : {}),
  hb: { minMs: 100, maxMs: 900_000, intervalMs: o.intervalMs ?? 1000, graceMs: 500 }, limits: { maxPayload: 65536, ratePerSec: 20, burst: 60 },
});
const push = (seq: number, data: unknown = {}, ts = 1000): string => encodePushRaw(seq, `m${seq}`, ts, JSON.stringify(data));
/** Deterministic random: a fixed cycle of draws. */
const draws = (xs: number[]): (() => number) => { let i = 0; return () => xs[i++ % xs.length]!; };

describe('protocol-session codec = protocol', () => {
  it('heartbeat and ack frames are byte-identical to the gateway codec', () => {
    for (const v of [undefined, 100, 127, 128, 300, 30_000, 60_000, 3_600_000]) assert.deepEqual(heartbeatFrame(v), encodeHeartbeat(v), `heartbeat ${v}`);
    for (const s of [0, 1, 42, 127, 128, 1234, 2 ** 31, Number.MAX_SAFE_INTEGER]) assert.deepEqual(ackFrame(s), encodeAck(s), `ack ${s}`);
    assert.throws(() => ackFrame(-1), RangeError);
    assert.throws(() => heartbeatFrame(1.5), RangeError);
  });

  it('parses every server frame as decodeServerFrame does, and rejects what it rejects', () => {
    const acks = [undefined, { seq: 42 }, { intervalMs: 900_000 }, { seq: 1234, intervalMs: 240_000, unread: 3 }, { unread: 0 }];
    for (const f of acks) {
      const b = encodeHeartbeatAck(f);
      const ref = decodeServerFrame(b, true);
      assert.ok(ref.ok);
      assert.deepEqual(parseServerFrame(b), ref.frame);
      assert.deepEqual(parseServerFrame(toArrayBuffer(b)), ref.frame, 'ArrayBuffer input (k6) parses the same');
    }
    const texts = [hello(), hello({ resumed: true, seq: 7 }), push(3, { t: 5 }), push(4, null),
      encodeJson({ op: 'reconnect', delayMs: 2318, reason: 'draining' }), encodeJson({ op: 'error', code: 4008, name: 'INVALID_FRAME', message: 'x' }),
      encodeJson({ op: 'sent', id: 'u-1' }), encodeJson({ op: 'sent', id: 'u-2', error: 'nope' })];
    for (const t of texts) {
      const ref = decodeServerFrame(t, false);
      assert.ok(ref.ok, t);
      assert.deepEqual(parseServerFrame(t), ref.frame, t);
    }
    const bad: Array<string | Uint8Array> = ['', 'null', '[]', '{"op":"nope"}', '{"op":"push","seq":-1,"id":"x","ts":1,"data":1}', '{"op":"hello","v":2}',
      Uint8Array.of(), Uint8Array.of(0x02, 0x00), Uint8Array.of(0x02, 0x08, 0x01), Uint8Array.of(0x02, 0x01, 0x80, 0x00), Uint8Array.of(0x02, 0x01, 0x2a, 0x00), Uint8Array.of(0x01)];
    for (const b of bad) {
      assert.equal(decodeServerFrame(b, typeof b !== 'string').ok, false, `reference rejects ${String(b)}`);
      assert.equal(parseServerFrame(b).op, 'invalid', `protocol-session rejects ${String(b)}`);
    }
  });

  it('close advice matches the close-code table for every code', () => {
    for (const c of CLOSE_CODES) assert.equal(closeAdvice(c.code), c.reconnect, `${c.code} ${c.name}`);
    assert.equal(closeAdvice(4999), 'backoff', 'unknown codes mean backoff');
  });

  it('connect URLs carry token, device, interval and resume parameters, URL-encoded', () => {
    assert.equal(connectUrl('ws://h:1/ws', { token: 'a.b.c', hbMs: 30000, device: 'd-1' }), 'ws://h:1/ws?access_token=a.b.c&device=d-1&hb=30000');
    assert.equal(connectUrl('ws://h:1/ws', { token: 't', tokenIn: 'subprotocol', session: 's/1 2', lastSeq: 0 }), 'ws://h:1/ws?session=s%2F1%202&last_seq=0');
    assert.equal(connectUrl('ws://h:1/ws?x=1', { session: 's' }), 'ws://h:1/ws?x=1', 'session without last_seq is never sent');
    assert.deepEqual(subprotocols('jwt'), ['longlink.v1', 'longlink.token.jwt']);
  });
});

describe('protocol-session backoff = sdk/src/backoff.ts', () => {
  it('full jitter and Retry-After give the SDK\'s delays for the same draws', () => {
    assert.equal(SDK_RETRY.baseMs, DEFAULT_BACKOFF.baseMs);
    assert.equal(SDK_RETRY.capMs, DEFAULT_BACKOFF.capMs);
    assert.equal(SDK_RETRY.retryAfterJitter, DEFAULT_BACKOFF.retryAfterJitter);
    assert.equal(SDK_RETRY.healthyAfterMs, DEFAULT_BACKOFF.healthyAfterMs);
    const xs = [0, 0.13, 0.5, 0.77, 0.999];
    for (let attempt = 0; attempt < 12; attempt++) {
      for (const x of xs) {
        assert.equal(retryDelay(SDK_RETRY, attempt, () => x), backoffDelay(DEFAULT_BACKOFF, attempt, () => x), `attempt ${attempt}, draw ${x}`);
        assert.equal(retryDelay(SDK_RETRY, attempt, () => x, 3000), retryAfterDelay(DEFAULT_BACKOFF, 3000, () => x));
      }
    }
  });

  it('fixed retry has no jitter: the same delay for every draw, Retry-After exactly', () => {
    for (const x of [0, 0.5, 0.99]) {
      assert.equal(retryDelay(FIXED_RETRY, 5, () => x), 1000);
      assert.equal(retryDelay(FIXED_RETRY, 0, () => x, 4000), 4000);
    }
  });
});

describe('ClientSession on a fake clock', () => {
  it('first heartbeat jittered in [interval/2, interval] after hello, then one per idle interval, each ack timed', () => {
    const s = new ClientSession({ intervalMs: 5000, random: draws([0.5]) });
    s.opened(0);
    s.receive(hello({ intervalMs: 1000 }), 10);
    assert.equal(s.intervalMs, 1000, 'hello\'s interval wins');
    assert.equal(s.nextWakeAt(), 10 + 750, 'first beat at interval × (0.5 + 0.5 × 0.5)');
    assert.deepEqual(s.poll(759).frames, []);
    assert.deepEqual(s.poll(760).frames, [Uint8Array.of(0x01)]);
    const e = s.receive(Uint8Array.of(0x02), 772);
    assert.equal(e.type, 'heartbeat_ack');
    assert.equal(e.type === 'heartbeat_ack' ? e.rttMs : -1, 12);
    assert.deepEqual(s.poll(1771).frames, [], 'the ack restarted the idle timer');
    assert.deepEqual(s.poll(1772).frames, [Uint8Array.of(0x01)]);
    assert.equal(s.stats.heartbeats, 2);
  });

  it('zombie: a heartbeat unanswered for a whole interval kills the connection, once', () => {
    const s = new ClientSession({ intervalMs: 1000, random: draws([1]) });
    s.opened(0);
    s.receive(hello(), 0);
    assert.equal(s.poll(1000).frames.length, 1);
    assert.equal(s.poll(1999).zombie, false);
    assert.equal(s.poll(2000).zombie, true);
    assert.equal(s.poll(2500).zombie, false, 'reported once');
    assert.equal(s.stats.zombies, 1);
  });

  it('the zombie wait is min(interval, heartbeatTimeoutMs), the SDK\'s rule (default: the SDK\'s 60 s)', () => {
    for (const [timeout, zombieAt] of [[undefined, 180_000], [5_000, 125_000]] as const) {
      const s = new ClientSession({ intervalMs: 120_000, random: draws([1]), ...(timeout !== undefined ? { heartbeatTimeoutMs: timeout } : {}) });
      s.opened(0);
      s.receive(hello({ intervalMs: 120_000 }), 0);
      assert.equal(s.poll(120_000).frames.length, 1);
      assert.equal(s.nextWakeAt(), zombieAt);
      assert.equal(s.poll(zombieAt - 1).zombie, false);
      assert.equal(s.poll(zombieAt).zombie, true);
    }
  });

  it('an ack sent moves the last-packet time: the heartbeat due then is put off; a corrected interval is adopted', () => {
    const s = new ClientSession({ intervalMs: 1000, ackBatchMs: 100, random: draws([1]) });
    s.opened(0);
    s.receive(hello(), 0);
    s.receive(push(1), 900); // counts as traffic: the first beat moves to 1900
    assert.deepEqual(s.poll(1000).frames, [ackFrame(1)], 'the ack at 1000, no beat');
    assert.deepEqual(s.poll(1999).frames, []);
    assert.deepEqual(s.poll(2000).frames, [heartbeatFrame()]);
    s.receive(encodeHeartbeatAck({ intervalMs: 3000 }), 2010);
    assert.equal(s.intervalMs, 3000);
    assert.equal(s.nextWakeAt(), 5010);
    assert.deepEqual(s.connectParams(), { hbMs: 3000, session: 's1', lastSeq: 1 });
  });

  it('pushes: de-duplicated by seq, gaps counted, acks batched by time and by count, latency from data.t', () => {
    const s = new ClientSession({ intervalMs: 60_000, ackBatchMs: 100, ackBatchCount: 3 });
    s.opened(0);
    s.receive(hello(), 0);
    const p1 = s.receive(push(1, { t: 40 }, 20), 50);
    assert.ok(p1.type === 'push' && !p1.duplicate && p1.e2eMs === 10 && p1.latencyMs === 30);
    assert.deepEqual(s.poll(149).frames, [], 'ack waits for the batch window');
    assert.deepEqual(s.poll(150).frames, [ackFrame(1)]);
    s.receive(push(2), 200);
    const dup = s.receive(push(2), 201);
    assert.ok(dup.type === 'push' && dup.duplicate);
    const gap = s.receive(push(5), 202);
    assert.ok(gap.type === 'push' && gap.gap === 2);
    assert.deepEqual(s.poll(202).frames, [ackFrame(5)], 'three pushes (the duplicate counts, as in the SDK): ack at once, cumulative');
    s.receive(push(6), 203);
    assert.deepEqual(s.poll(302).frames, []);
    assert.deepEqual(s.poll(303).frames, [ackFrame(6)]);
    assert.equal(s.ackedSeq, 6);
    assert.deepEqual({ p: s.stats.pushes, d: s.stats.duplicates, g: s.stats.gaps, last: s.lastSeq }, { p: 4, d: 1, g: 2, last: 6 });
  });

  it('acks: false (bench:fanout\'s push baseline): pushes counted and de-duplicated, never acked; heartbeats still go', () => {
    const s = new ClientSession({ intervalMs: 1000, ackBatchMs: 100, ackBatchCount: 2, acks: false, random: draws([0]) });
    s.opened(0);
    s.receive(hello(), 0);
    s.receive(push(1), 10);
    s.receive(push(2), 11);
    s.receive(push(2), 12);
    assert.deepEqual(s.poll(500).frames, [], 'no ack, by time or by count');
    assert.deepEqual(s.poll(1011).frames, [heartbeatFrame()]);
    assert.deepEqual({ p: s.stats.pushes, d: s.stats.duplicates, acks: s.stats.acks, acked: s.ackedSeq, last: s.lastSeq }, { p: 2, d: 1, acks: 0, acked: 0, last: 2 });
  });

  it('epochs (§7), as the SDK: a new epoch in hello or in a push starts the sequence over; resume names the epoch', () => {
    const s = new ClientSession({ intervalMs: 60_000 });
    s.opened(0);
    s.receive(hello({ session: 'e1', epoch: 7 }), 0);
    for (const seq of [1, 2, 3]) s.receive(encodePushRaw(seq, `m${seq}`, 0, '{}', 7), 1);
    assert.deepEqual(s.connectParams(), { hbMs: 1000, session: 'e1', lastSeq: 3, epoch: 7 });
    assert.match(connectUrl('ws://h/ws', s.connectParams()), /last_seq=3&epoch=7/);
    // The store was wiped while we were away: the gateway names epoch 8 and seqs start at 1 again.
    s.opened(10);
    s.receive(hello({ session: 'e1', resumed: true, seq: 1, epoch: 8 }), 10);
    const p1 = s.receive(encodePushRaw(1, 'n1', 0, '{}', 8), 11);
    assert.ok(p1.type === 'push' && !p1.duplicate && p1.gap === 0, 'seq 1 of the new epoch is new, not a duplicate of the old seq 1');
    const stale = s.receive(encodePushRaw(4, 'm4', 0, '{}', 7), 12);
    assert.ok(stale.type === 'push' && stale.duplicate, 'a push of the old epoch is stale');
    // Mid-connection: a push of a newer epoch resets too (no gap counted across epochs).
    const p2 = s.receive(encodePushRaw(2, 'x2', 0, '{}', 9), 13);
    assert.ok(p2.type === 'push' && !p2.duplicate && p2.gap === 0);
    assert.deepEqual({ last: s.lastSeq, pushes: s.stats.pushes, dups: s.stats.duplicates, changes: s.stats.epochChanges }, { last: 2, pushes: 5, dups: 1, changes: 2 });
  });

  it("'deaf' retries after 1 s whatever the server said; 'fixed' keeps the server's wait", () => {
    const deaf = new ClientSession({ intervalMs: 1000, retry: retryPolicyFor('deaf'), random: draws([0.5]) });
    assert.equal(deaf.ended({ status: 503, retryAfterMs: 4000 }, 0), 1000, '503 Retry-After 4 s: back in 1 s');
    const fixed = new ClientSession({ intervalMs: 1000, retry: retryPolicyFor('fixed'), random: draws([0.5]) });
    assert.equal(fixed.ended({ status: 503, retryAfterMs: 4000 }, 0), 4000, 'Retry-After exactly');
  });

  it('resume: the next connect carries session and last_seq; ended() follows the close-code advice', () => {
    const s = new ClientSession({ intervalMs: 1000, random: draws([0.5]) });
    assert.deepEqual(s.connectParams({ token: 't' }), { token: 't', hbMs: 1000 });
    s.opened(0);
    s.receive(hello({ session: 'sess-9' }), 0);
    s.receive(push(4), 5);
    assert.deepEqual(s.connectParams(), { hbMs: 1000, session: 'sess-9', lastSeq: 4 });
    assert.equal(s.ended({ closeCode: 1006 }, 10), 500, 'attempt 0: 0.5 × base');
    assert.equal(s.ended({}, 20), 1000, 'failed connect, attempt 1: 0.5 × 2 × base');
    assert.equal(s.ended({ status: 503, retryAfterMs: 2000 }, 30), 2500, 'Retry-After plus jitter');
    assert.equal(s.ended({ status: 401 }, 40), 0, '401: the SDK retries at once with a fresh token');
    assert.equal(s.wantsFreshToken, true);
    assert.equal(s.ended({ status: 401 }, 45), undefined, 'a second 401 (even with a fresh token) is terminal');
    assert.equal(s.ended({ closeCode: 4003 }, 50), undefined, 'REPLACED is terminal');
    s.opened(100);
    s.receive(encodeJson({ op: 'reconnect', delayMs: 777, reason: 'draining' }), 110);
    assert.equal(s.ended({ closeCode: 4000 }, 120), 767, 'drain: the server\'s delay, counted from its frame');
    s.opened(1000);
    assert.equal(s.ended({ closeCode: 1006 }, 1000 + SDK_RETRY.healthyAfterMs), 500, 'a healthy connection resets the attempt counter');
  });
});

describe('ClientSession.ended() = the SDK\'s reconnect machine', () => {
  /**
   * The same sequence of losses fed to the load tool's session and to the
   * SDK's ReconnectMachine (same random draws, same clock) must give the same
   * retry delays and stop at the same point: for every close code of the
   * table, unknown codes, refused upgrades and drain frames.
   */
  type Loss = { closeCode?: number; status?: number; retryAfterMs?: number; drainMs?: number };
  const losses: Loss[] = [
    ...CLOSE_CODES.map((c) => ({ closeCode: c.code })),
    ...CLOSE_CODES.map((c) => ({ closeCode: c.code, drainMs: 321 })),
    { closeCode: 4999 }, { closeCode: 1006 }, {},
    ...[400, 401, 403, 404, 429, 500, 502, 503].map((status) => ({ status })),
    { status: 503, retryAfterMs: 2000 }, { status: 401, retryAfterMs: 2000 },
  ];

  // One constant draw per run: the session also draws for its first heartbeat's jitter, so a cycle would fall out of step.
  function run(seq: Loss[], x: number): { lt: Array<number | undefined>; sdk: Array<number | undefined> } {
    const s = new ClientSession({ intervalMs: 1000, random: () => x });
    const timers = new FakeTimers(0);
    const retries: number[] = [];
    let fresh = false; // the SDK's connection reports whether its attempt used a freshly fetched token
    const m = new ReconnectMachine(DEFAULT_BACKOFF, timers, () => x, { connect: (f) => { fresh = f; }, abort: () => {}, state: () => {}, retry: (d) => { retries.push(d); } });
    const lt: Array<number | undefined> = [];
    const sdk: Array<number | undefined> = [];
    m.start();
    for (const l of seq) {
      timers.advance(10);
      const opened = l.status === undefined && l.closeCode !== undefined;
      if (opened) {
        s.opened(timers.now());
        s.receive(hello(), timers.now());
        if (l.drainMs !== undefined) s.receive(encodeJson({ op: 'reconnect', delayMs: l.drainMs, reason: 'draining' }), timers.now());
        m.opened();
      }
      const d = s.ended({ ...(opened ? { closeCode: l.closeCode } : {}), ...(l.status !== undefined ? { status: l.status } : {}), ...(l.retryAfterMs !== undefined ? { retryAfterMs: l.retryAfterMs } : {}) }, timers.now());
      lt.push(d);
      const before = retries.length;
      m.lost({
        code: opened ? l.closeCode! : 1006, reason: '',
        ...(l.status !== undefined ? { httpStatus: l.status } : {}),
        ...(l.status === 503 && l.retryAfterMs !== undefined ? { retryAfterMs: l.retryAfterMs } : {}),
        ...(opened && l.drainMs !== undefined ? { reconnectDelayMs: l.drainMs } : {}),
        ...(fresh ? { usedFreshToken: true } : {}),
      });
      sdk.push(retries.length > before ? retries[retries.length - 1] : undefined);
      if (sdk[sdk.length - 1] === undefined) break; // terminal on the SDK side: start over in the next run
      timers.advance(120_000); // the retry timer fires: the machine is connecting again
    }
    return { lt, sdk };
  }

  it('each loss alone, from a fresh client', () => {
    for (const x of [0.31, 0.9]) {
      for (const l of losses) {
        const { lt, sdk } = run([l], x);
        assert.deepEqual(lt, sdk, JSON.stringify(l));
      }
    }
  });

  it('losses in a row (attempt counter, 401 then 401, token-expired twice)', () => {
    for (const x of [0.31, 0.9]) {
      for (const l of losses) {
        const { lt, sdk } = run([{ closeCode: 1006 }, l, l, { status: 503 }, l], x);
        assert.deepEqual(lt.slice(0, sdk.length), sdk, JSON.stringify(l));
      }
    }
  });
});
