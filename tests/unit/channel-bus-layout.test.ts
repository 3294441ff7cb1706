/**
 * The two bus layouts of a channel message (channel-layout.ts): a gateway
 * reads both to the same arrival, the frame layout is the client's pub frame
 * byte for byte, and anything not exactly a message of this channel is
 * refused (undefined), never thrown.
 */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { decodeServerFrame, encodePubRaw } from '../../protocol/index.js';
import { channelNameBytes, encodeChannelMessage, isFrameLayout, readChannelMessage, readFrame, type ChannelArrival } from '../../services/shared/bus/channel-layout.js';
import { decodeMsg } from '../../services/shared/bus/bus.js';
import type { ChannelMessage } from '../../services/shared/bus/messages.js';

const text = (a: ChannelArrival): string => (typeof a.frame === 'string' ? a.frame : Buffer.from(a.frame).toString('utf8'));
const read = (data: Uint8Array, channel: string): ChannelArrival | undefined => readChannelMessage(data, channel, channelNameBytes(channel));
const enc = (s: string): Uint8Array => new TextEncoder().encode(s);
/** A pub frame as the `frame` layout carries it: the marker byte first. */
const framed = (s: string): Uint8Array => enc(`#${s}`);

describe('channel bus layouts', () => {
  const msgs: ChannelMessage[] = [
    { channel: 'room:42', offset: 1, epoch: 'e1', id: 'a', ts: 1_700_000_000_000, data: '{"text":"hé \\"quoted\\" ✓"}' },
    { channel: 'news.eu', offset: 9_007_199_254_740_991, epoch: 'AbC_-09', id: 'ïd "x"', ts: 0, data: '[1,2,{"a":null}]' },
    { channel: '$all', offset: 12, epoch: 'x'.repeat(32), id: '', ts: 5, data: '"s"' },
  ];

  it('record and frame layouts of one message give the same frame, which the client decoder reads back', () => {
    for (const m of msgs) {
      const fromRecord = read(encodeChannelMessage(m, 'record'), m.channel);
      const fromFrame = read(encodeChannelMessage(m, 'frame'), m.channel);
      assert.ok(fromRecord && fromFrame, m.channel);
      assert.equal(typeof fromRecord.frame, 'string');
      assert.ok(fromFrame.frame instanceof Uint8Array, 'a frame arrives as bytes');
      for (const a of [fromRecord, fromFrame]) {
        assert.deepEqual([a.channel, a.offset, a.epoch], [m.channel, m.offset, m.epoch]);
        assert.equal(text(a), encodePubRaw(m.channel, m.offset, m.epoch, m.id, m.ts, m.data));
        const d = decodeServerFrame(text(a), false);
        assert.ok(d.ok && d.frame.op === 'pub');
      }
      assert.equal(isFrameLayout(encodeChannelMessage(m, 'record')), false);
      assert.equal(isFrameLayout(encodeChannelMessage(m, 'frame')), true);
    }
  });

  it('a gateway from before the frame layout cannot take a frame for a record, whatever its data', () => {
    // Such a gateway decoded every channel message as JSON (decodeMsg) and checked the record's fields; a frame whose
    // data is a JSON string had them all, and its data went to clients unquoted. The marker makes every frame invalid JSON.
    const strings = ['"hello"', '"1,\\"channel\\":\\"room:other\\""', '"s"'];
    for (const m of [...msgs, ...strings.map((data, i) => ({ ...msgs[0]!, offset: 100 + i, data }))]) {
      assert.equal(decodeMsg(encodeChannelMessage(m, 'frame')), undefined, m.data);
      assert.notEqual(decodeMsg(encodeChannelMessage(m, 'record')), undefined, m.data);
      // And the other way: a frame without the marker (routers built before it) is not read as a record either.
      assert.equal(read(enc(encodePubRaw(m.channel, m.offset, m.epoch, m.id, m.ts, m.data)), m.channel), undefined, m.data);
    }
  });

  it('a frame arrival owns its bytes: the bus buffer can be reused after the handler', () => {
    const data = encodeChannelMessage(msgs[0]!, 'frame');
    const a = read(data, 'room:42')!;
    data.fill(0x20);
    assert.equal(text(a), encodePubRaw('room:42', 1, 'e1', 'a', 1_700_000_000_000, msgs[0]!.data));
  });

  it('refuses another channel, a bad offset or epoch, a cut frame, another op and garbage', () => {
    // The frame's tail (id, ts, data) is the router's JSON and is not parsed; a cut frame is refused by its last byte,
    // so `data` here does not end in a brace.
    const good = encodePubRaw('room:42', 7, 'e1', 'a', 1, '[1]');
    assert.ok(read(framed(good), 'room:42'));
    assert.equal(text(read(framed(good), 'room:42')!), good, 'the marker is not part of the client frame');
    const bad = [
      encodePubRaw('room:4', 7, 'e1', 'a', 1, '[1]'), encodePubRaw('room:421', 7, 'e1', 'a', 1, '[1]'),
      good.replace('"offset":7', '"offset":0'), good.replace('"offset":7', '"offset":-7'), good.replace('"offset":7', '"offset":7.5'),
      good.replace('"offset":7', '"offset":99999999999999999'), good.replace('"offset":7', '"offset":'),
      good.replace('"epoch":"e1"', '"epoch":""'), good.replace('"epoch":"e1"', '"epoch":"e 1"'), good.replace('"epoch":"e1"', `"epoch":"${'x'.repeat(33)}"`),
      good.replace('"epoch":"e1"', '"epoch":"e1\\""'), good.replace('"epoch":"e1","id"', '"epoch":"e1"'),
      good.slice(0, -1), good.slice(0, 30), good.replace('"op":"pub"', '"op":"push"'), '{"op":"pub"}', '', '{', '}', 'null', '[]', '"x"',
      JSON.stringify({ channel: 'room:42', offset: 7, epoch: 'e1', id: 'a', ts: 1, data: { not: 'a string' } }),
      JSON.stringify({ channel: 'room:4', offset: 7, epoch: 'e1', id: 'a', ts: 1, data: '{}' }),
      JSON.stringify({ channel: 'room:42', offset: 0, epoch: 'e1', id: 'a', ts: 1, data: '{}' }),
    ];
    for (const b of bad) assert.equal(read(framed(b), 'room:42'), undefined, b);
    for (const b of bad.slice(-3)) assert.equal(read(enc(b), 'room:42'), undefined, b);
    assert.equal(readFrame(new Uint8Array([0xff, 0xfe, 0x00]), 'room:42', channelNameBytes('room:42')), undefined);
    for (let n = 0; n < good.length; n++) assert.equal(read(framed(good.slice(0, n)), 'room:42'), undefined, `cut at ${n}`);
  });
});
