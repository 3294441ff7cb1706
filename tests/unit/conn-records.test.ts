/** The per-connection record store (services/gateway/core/conn-records.ts) and Connection's use of it: zeroed slots, reuse, growth, detach on close. */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { ConnRecords, R, STRIDE } from '../../services/gateway/core/conn-records.js';
import { Connection } from '../../services/gateway/core/connection.js';
import { take, takeAt } from '../../services/shared/token-bucket.js';
import { encodeHeartbeat } from '../../protocol/index.js';
import { buf, flush, roomyGatewayBench } from '../helpers/gateway-harness.js';
import { FakeClientSocket } from '../helpers/fake-client-socket.js';

const conn = (records?: ConnRecords, expiry = 50_000): Connection =>
  new Connection(new FakeClientSocket(), 'c', 'u', 'd', expiry, 10_000, 2000, 20, 100, records);

describe('ConnRecords', () => {
  it('hands out distinct zeroed slots, reuses released ones zeroed, and counts them', () => {
    const r = new ConnRecords(4);
    const a = r.alloc(), b = r.alloc();
    assert.notEqual(a, b);
    assert.equal(r.size, 2);
    r.f.fill(7, a * STRIDE, a * STRIDE + STRIDE);
    r.release(a);
    assert.equal(r.size, 1);
    const c = r.alloc();
    assert.equal(c, a, 'a released slot is reused');
    assert.deepEqual([...r.f.subarray(c * STRIDE, c * STRIDE + STRIDE)], new Array(STRIDE).fill(0));
  });

  it('grows past its capacity keeping every record\'s values', () => {
    const r = new ConnRecords(2);
    const slots: number[] = [];
    for (let i = 0; i < 100; i++) {
      const s = r.alloc();
      slots.push(s);
      for (let k = 0; k < STRIDE; k++) r.f[s * STRIDE + k] = i * 10 + k;
    }
    assert.ok(r.capacity >= 100);
    assert.equal(new Set(slots).size, 100);
    slots.forEach((s, i) => assert.equal(r.f[s * STRIDE + 3], i * 10 + 3));
    for (const s of slots) r.release(s);
    assert.equal(r.size, 0);
  });

  it('refuses bad sizes and releasing a slot never handed out', () => {
    for (const n of [0, -1, 1.5, Number.NaN, 2 ** 27]) assert.throws(() => new ConnRecords(n), RangeError);
    const r = new ConnRecords(2);
    assert.throws(() => r.release(0), RangeError);
    assert.throws(() => r.release(-1), RangeError);
  });

  it('keeps the token bucket\'s two numbers adjacent, as takeAt reads them', () => {
    assert.equal(R.LAST, R.TOKENS + 1);
    assert.ok(Math.max(...Object.values(R)) < STRIDE);
  });
});

describe('Connection on ConnRecords', () => {
  it('reads and writes its numbers in its record; two connections never share one', () => {
    const r = new ConnRecords(1);
    const a = conn(r), b = conn(r, 60_000);
    a.sentSeq = 5; a.ackedSeq = 3; a.tokens = 2.5;
    assert.equal(b.sentSeq, 0);
    assert.equal(b.tokenExpiresAt, 60_000);
    assert.equal(a.tokenExpiresAt, 50_000);
    assert.equal(a.tokens, 2.5);
    assert.equal(a.last, 100);
    assert.equal(a.deadlineSpanMs, 10_000 * 1.5 + 2000);
    assert.equal(r.f[a.base + R.SENT], 5, 'the accessors are the store');
  });

  it('detach() keeps the closed connection\'s values and frees the slot; writes after it never reach the slot\'s next owner', () => {
    const r = new ConnRecords(1);
    const a = conn(r);
    a.sentSeq = 9;
    a.detach();
    a.detach(); // idempotent
    assert.equal(r.size, 0);
    assert.equal(a.sentSeq, 9);
    const b = conn(r);
    assert.equal(b.base, 0, 'the freed slot was reused');
    a.sentSeq = 99;
    a.tokens = 0;
    assert.equal(b.sentSeq, 0);
    assert.equal(b.tokens, 20);
  });

  it('takeAt on a record behaves as take on an object bucket', () => {
    const f = new Float64Array(2);
    f[0] = 2; f[1] = 0;
    const o = { tokens: 2, last: 0 };
    for (const now of [0, 0, 0, 50, 100, 100, 250, 250, 250, 1000]) {
      assert.equal(takeAt(f, 0, 10, 3, now), take(o, 10, 3, now), `at ${now}`);
      assert.equal(f[0], o.tokens);
      assert.equal(f[1], o.last);
    }
  });

  it('the gateway frees a closed connection\'s record for the next one, and the closed one cannot write into it', async () => {
    const { core, hs } = roomyGatewayBench();
    const s1 = new FakeClientSocket();
    const c1 = core.open(s1, hs('alice'));
    await flush();
    core.message(c1, buf(encodeHeartbeat()), true);
    const base = c1.base;
    core.closed(c1, 1000);
    const s2 = new FakeClientSocket();
    const c2 = core.open(s2, hs('bob'));
    await flush();
    assert.equal(c2.base, base, 'the slot was reused');
    c1.sentSeq = 1_000_000; // a late continuation on the closed connection
    core.message(c2, buf(encodeHeartbeat()), true);
    assert.deepEqual([...(s2.sent.at(-1)!.data as Uint8Array)], [0x02], 'bob still gets the bare ack: his record is his');
  });
});
