/**
 * bench:fanout's lean client: the pub-frame scanner (pub-scan.ts) agrees
 * with the protocol's decoder on generated frames, and says "not mine" for
 * every other frame (which then goes to the decoder); the frame reader
 * (ws-reader.ts) gives back the same messages whatever the read boundaries,
 * with fragmented messages, control frames between fragments, extended
 * lengths and masked frames; and the receipt tallies count per channel and
 * offset, in order or not.
 */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { decodeServerFrame, encodeJson, encodePubRaw, encodePushRaw } from '../../protocol/index.js';
import { scanPub, type PubScan } from '../../loadtest/lib/pub-scan.js';
import { FrameReader } from '../../loadtest/lib/ws-reader.js';
import { LeanConn, Tallies } from '../../loadtest/bench/fanout-receipts.js';
import { Rand } from '../../loadtest/lib/rand.js';

const rng = new Rand(14);
const rnd = (): number => rng.next();
const pick = <T>(xs: readonly T[]): T => xs[Math.floor(rnd() * xs.length)]!;
const CH_CHARS = 'abcXYZ019_-:@';
function channelName(): string {
  const words = 1 + Math.floor(rnd() * 3);
  return Array.from({ length: words }, () => Array.from({ length: 1 + Math.floor(rnd() * 12) }, () => pick([...CH_CHARS])).join('')).join('.');
}
const DATA = ['null', '0', '"x"', '{"t":1765000000000,"i":3}', '{"s":"a \\"quoted\\" \\\\ \\u00e9 ünï","n":[1,2,{"offset":9}]}', '[]', '"' + 'z'.repeat(1000) + '"'];
/** Large enough for a 64-bit length field. */
const BIG = '"' + 'z'.repeat(70_000) + '"';
const IDS = ['p-1', 'id with "quotes" and \\ backslash', 'ünïcödé-✓', 'x'.repeat(128)];

/** A pub frame as the gateways encode it, with its expected fields. */
function genPub(big = false): { text: string; channel: string; offset: number } {
  const channel = channelName();
  const offset = pick([1, 2, 9, 10, 99, 12345, 2 ** 31, Number.MAX_SAFE_INTEGER, Math.floor(rnd() * 1e9) + 1]);
  const epoch = pick(['e', 'AbC_-09', 'x'.repeat(32)]);
  return { text: encodePubRaw(channel, offset, epoch, pick(IDS), Math.floor(rnd() * 2e12), big ? BIG : pick(DATA)), channel, offset };
}

/** Server frames that are not pub frames: the scanner must leave each to the decoder. */
const OTHERS = [
  encodePushRaw(5, 'pub', 1, '{"op":"pub","channel":"a","offset":1}'),
  encodeJson({ op: 'subscribed', channel: 'room:1', offset: 4, epoch: 'abc' }),
  encodeJson({ op: 'unsubscribed', channel: 'room:1' }),
  encodeJson({ op: 'error', code: 4008, name: 'SLOW_CONSUMER', message: 'pub' }),
  encodeJson({ op: 'reconnect', delayMs: 10, reason: 'drain' }),
  // A pub frame with another field order (valid for the decoder): not the encoder's shape, so decoded in full.
  JSON.stringify({ op: 'pub', offset: 3, channel: 'a', epoch: 'e', id: 'i', ts: 1, data: 0 }),
];

const bytesOf = (s: string): Buffer => Buffer.from(s, 'utf8');
const scan = (): PubScan => ({ channelStart: 0, channelEnd: 0, offset: 0 });

describe('lean client: pub scanner', () => {
  it('agrees with decodeServerFrame on 2,000 generated pub frames', () => {
    for (let n = 0; n < 2000; n++) {
      const g = genPub(n % 100 === 0);
      const dec = decodeServerFrame(g.text, false);
      assert.ok(dec.ok && dec.frame.op === 'pub', g.text.slice(0, 200));
      const buf = bytesOf(g.text), out = scan();
      // Somewhere inside a larger buffer too, as the shared read buffer holds it.
      const pad = Buffer.concat([Buffer.from('\x81\x7e..', 'latin1'), buf, Buffer.from('{"op"')]);
      for (const [b, s, e] of [[buf, 0, buf.length], [pad, 4, 4 + buf.length]] as const) {
        assert.equal(scanPub(b, s, e, out), true, g.text.slice(0, 200));
        assert.equal(b.toString('latin1', out.channelStart, out.channelEnd), dec.frame.channel);
        assert.equal(out.offset, dec.frame.offset);
      }
    }
  });

  it('leaves every other frame, a truncated pub and a pub with an escaped channel to the decoder', () => {
    for (const t of OTHERS) assert.equal(scanPub(bytesOf(t), 0, Buffer.byteLength(t), scan()), false, t);
    // Cut anywhere up to the offset's end (a reader never hands over part of a message; the scanner reads no further than the offset).
    const g = bytesOf(encodePubRaw('room:1', 7, 'e', 'i', 1, '{"a":1}'));
    for (let cut = 1; cut <= g.indexOf(',"epoch"'); cut++) assert.equal(scanPub(g, 0, cut, scan()), false, `cut at ${cut}`);
    const escaped = bytesOf('{"op":"pub","channel":"a\\"b","offset":1,"epoch":"e","id":"i","ts":1,"data":0}');
    assert.equal(scanPub(escaped, 0, escaped.length, scan()), false);
    const binary = Buffer.from([0x03, 0x01, 0x05]);
    assert.equal(scanPub(binary, 0, binary.length, scan()), false);
  });
});

/** A server frame: unmasked unless `mask`, FIN as given. */
function frame(opcode: number, payload: Buffer, fin = true, mask = false): Buffer {
  const n = payload.length;
  const head = n < 126 ? 2 : n < 65536 ? 4 : 10;
  const out = Buffer.alloc(head + (mask ? 4 : 0) + n);
  out[0] = (fin ? 0x80 : 0) | opcode;
  out[1] = (mask ? 0x80 : 0) | (n < 126 ? n : n < 65536 ? 126 : 127);
  if (n >= 126 && n < 65536) out.writeUInt16BE(n, 2);
  else if (n >= 65536) { out.writeUInt32BE(0, 2); out.writeUInt32BE(n, 6); }
  if (!mask) { payload.copy(out, head); return out; }
  const key = Buffer.from([0x12, 0x34, 0x56, 0x78]);
  key.copy(out, head);
  for (let i = 0; i < n; i++) out[head + 4 + i] = payload[i]! ^ key[i & 3]!;
  return out;
}

describe('lean client: frame reader', () => {
  for (const big of [false, true]) it(`gives back every message, whatever the read boundaries, with fragments, control frames and masks; the scanner agrees with the decoder on each${big ? ' (64-bit lengths)' : ''}`, () => {
    const messages: Array<{ opcode: number; payload: Buffer }> = [];
    const wire: Buffer[] = [];
    const pings: string[] = [];
    for (let n = 0; n < (big ? 40 : 400); n++) {
      const text = n % 7 === 0 ? pick(OTHERS) : genPub(big && n % 3 === 0).text;
      const payload = bytesOf(text);
      messages.push({ opcode: 1, payload });
      const how = n % 5;
      if (how === 3 && payload.length > 3) {
        // Fragmented into up to 4 frames, a ping between two of them (§5.4: control frames may be interleaved).
        const cuts = [0, ...[1, 2, 3].map(() => 1 + Math.floor(rnd() * (payload.length - 1))).sort((a, b) => a - b), payload.length];
        const parts = cuts.slice(1).map((c, i) => payload.subarray(cuts[i]!, c));
        parts.forEach((p, i) => {
          wire.push(frame(i === 0 ? 1 : 0, p, i === parts.length - 1));
          if (i === 0) { const ping = `ping${n}`; pings.push(ping); wire.push(frame(0x9, Buffer.from(ping))); }
        });
      } else wire.push(frame(1, payload, true, how === 4));
      if (n % 50 === 0) { messages.push({ opcode: 2, payload: Buffer.from([0x03]) }); wire.push(frame(2, Buffer.from([0x03]))); }
    }
    const stream = Buffer.concat(wire);
    // Byte-at-a-time reads only on the small stream: each read of an incomplete frame copies what is pending.
    for (const readSize of big ? [997, 4096, 65_536, stream.length] : [1, 2, 3, 7, 64, 1000, 65_536, stream.length]) {
      const got: Array<{ opcode: number; payload: Buffer; lean: boolean; offset: number }> = [];
      const gotPings: string[] = [];
      const out = scan();
      const reader = new FrameReader({
        onMessage: (opcode, buf, start, end) => {
          const lean = opcode === 1 && scanPub(buf, start, end, out);
          got.push({ opcode, payload: Buffer.from(buf.subarray(start, end)), lean, offset: lean ? out.offset : -1 });
          buf.fill(0, start, end); // the shared read buffer is reused: nothing may be kept from it
        },
        onControl: (op, p) => { if (op === 0x9) gotPings.push(p.toString()); },
        onError: (r) => assert.fail(r),
      });
      // Through a reused read buffer, as raw-driver.ts reads sockets (onread with one buffer).
      const shared = Buffer.alloc(Math.min(readSize, 65_536));
      for (let at = 0; at < stream.length; at += shared.length) {
        const n = stream.copy(shared, 0, at, at + shared.length);
        reader.push(shared, 0, n);
        shared.fill(0xee);
      }
      assert.equal(got.length, messages.length, `read size ${readSize}`);
      assert.deepEqual(gotPings, pings);
      got.forEach((g, i) => {
        assert.equal(g.opcode, messages[i]!.opcode);
        assert.ok(g.payload.equals(messages[i]!.payload), `read size ${readSize}, message ${i}`);
        if (g.opcode !== 1) return;
        const dec = decodeServerFrame(g.payload.toString('utf8'), false);
        assert.ok(dec.ok);
        // The lean path takes exactly the pub frames in the encoder's shape, and reads their offset as the decoder does.
        const canonical = dec.frame.op === 'pub' && g.payload.toString('utf8').startsWith('{"op":"pub","channel"');
        assert.equal(g.lean, canonical, g.payload.toString('utf8').slice(0, 120));
        if (g.lean && dec.frame.op === 'pub') assert.equal(g.offset, dec.frame.offset);
      });
    }
  });

  it('stops at a protocol error (continuation without a start, unknown opcode)', () => {
    for (const bad of [frame(0, Buffer.from('x')), frame(0x3, Buffer.from('x')), Buffer.concat([frame(1, Buffer.from('a'), false), frame(1, Buffer.from('b'))])]) {
      const errors: string[] = [];
      const r = new FrameReader({ onMessage: () => {}, onControl: () => {}, onError: (e) => errors.push(e) });
      r.push(Buffer.concat([bad, frame(1, Buffer.from('after'))]));
      assert.equal(errors.length, 1);
    }
  });
});

describe('lean client: receipts', () => {
  it('counts per channel and offset, only its own channels, and notes disorder', () => {
    const all = new Tallies();
    const a = new LeanConn(['room:1', 'bench:s0'], all), b = new LeanConn(['room:1'], all);
    const pub = (ch: string, off: number): Buffer => bytesOf(encodePubRaw(ch, off, 'e', 'i', 1, '{"t":1}'));
    const feed = (c: LeanConn, buf: Buffer, now: number): boolean => c.intercept(1, buf, 0, buf.length, now);
    assert.equal(feed(a, pub('room:1', 1), 10), true);
    assert.equal(feed(b, pub('room:1', 1), 12), true);
    assert.equal(feed(a, pub('bench:s0', 3), 11), true);
    assert.equal(feed(a, pub('room:2', 1), 11), false, 'not one of its channels: the decoder sees it');
    assert.equal(feed(a, pub('room:1', 1), 13), true, 'a duplicate is counted (and is disorder)');
    assert.equal(a.intercept(2, pub('room:1', 2), 0, 5, 0), false, 'binary frames are never pubs');
    const out: Array<[string, [number, number]]> = [];
    all.entries(out);
    assert.deepEqual(new Map(out), new Map([['room:1#1', [3, 13]], ['bench:s0#3', [1, 11]]]));
    assert.equal(all.disorder, 1);
  });
});
