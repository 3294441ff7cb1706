/**
 * Wire protocol v1: every frame round-trips, binary frames have the sizes and
 * bytes docs/protocol.md promises, malformed input is rejected with the right
 * close code, and the close-code table in the docs matches close-codes.ts.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import {
  CLOSE_CODES, Close, LIMITS, MAX_DATA_DEPTH, MAX_VARINT_BYTES,
  closeCodeByName, closeCodeInfo, closeReasonLabel,
  decodeClientFrame, decodeServerFrame,
  encodeAck, encodeHeartbeat, encodeHeartbeatAck, encodeJson, encodePushRaw,
  readVarint, varintLength, writeVarint,
  type ClientFrame, type Decoded, type ServerFrame,
} from '../../protocol/index.js';

const hex = (b: Uint8Array): string => Buffer.from(b).toString('hex');
const bytes = (h: string): Uint8Array => Uint8Array.from(Buffer.from(h.replace(/\s+/g, ''), 'hex'));

function ok<T>(r: Decoded<T>): T {
  if (!r.ok) assert.fail(`expected ok, got ${r.code}: ${r.reason}`);
  return r.frame;
}

function rejects<T>(r: Decoded<T>, code: number, label: string): void {
  assert.equal(r.ok, false, `${label}: expected rejection`);
  if (r.ok) return;
  assert.equal(r.code, code, `${label}: code (${r.reason})`);
  assert.ok(r.reason.length > 0, `${label}: reason`);
}

// ---- binary frames -------------------------------------------------------------

test('bare heartbeat and bare heartbeat ack are exactly 1 byte', () => {
  assert.equal(hex(encodeHeartbeat()), '01');
  assert.equal(hex(encodeHeartbeatAck()), '02');
  assert.equal(hex(encodeHeartbeatAck({})), '02');
  assert.deepEqual(ok(decodeClientFrame(encodeHeartbeat(), true)), { op: 'heartbeat' });
  assert.deepEqual(ok(decodeServerFrame(encodeHeartbeatAck(), true)), { op: 'heartbeat_ack' });
});

test('heartbeat with interval round-trips and fits in 4 bytes up to 10 minutes', () => {
  for (const intervalMs of [LIMITS.minIntervalMs, 127, 128, 5000, 30_000, 60_000, 240_000, 600_000, 900_000, LIMITS.maxIntervalMs]) {
    const wire = encodeHeartbeat(intervalMs);
    assert.deepEqual(ok(decodeClientFrame(wire, true)), { op: 'heartbeat', intervalMs });
  }
  for (let ms = LIMITS.minIntervalMs; ms <= 600_000; ms += 997) assert.ok(encodeHeartbeat(ms).length <= 4, `${ms} ms`);
  assert.equal(encodeHeartbeat(600_000).length, 4);
});

test('heartbeat ack round-trips every combination of fields', () => {
  const values = { seq: 1234, intervalMs: 240_000, unread: 3 } as const;
  for (let mask = 0; mask < 8; mask++) {
    const fields: { seq?: number; intervalMs?: number; unread?: number } = {};
    if (mask & 1) fields.seq = values.seq;
    if (mask & 2) fields.intervalMs = values.intervalMs;
    if (mask & 4) fields.unread = values.unread;
    const wire = encodeHeartbeatAck(fields);
    assert.deepEqual(ok(decodeServerFrame(wire, true)), { op: 'heartbeat_ack', ...fields });
    assert.equal(wire[1] ?? 0, mask, 'flags byte equals the field mask');
  }
  assert.deepEqual(ok(decodeServerFrame(encodeHeartbeatAck({ seq: 0, unread: 0 }), true)), { op: 'heartbeat_ack', seq: 0, unread: 0 });
});

test('ack round-trips seq from 0 to 2^53-1', () => {
  for (const seq of [0, 1, 127, 128, 300, 16_383, 16_384, 2 ** 32, Number.MAX_SAFE_INTEGER]) {
    assert.deepEqual(ok(decodeClientFrame(encodeAck(seq), true)), { op: 'ack', seq });
  }
  assert.equal(encodeAck(Number.MAX_SAFE_INTEGER).length, 1 + MAX_VARINT_BYTES);
});

test('binary encodings match the examples in docs/protocol.md', () => {
  const examples: Array<[Uint8Array, string]> = [
    [encodeHeartbeat(30_000), '01 b0 ea 01'],
    [encodeHeartbeat(600_000), '01 c0 cf 24'],
    [encodeHeartbeat(3_600_000), '01 80 dd db 01'],
    [encodeHeartbeatAck({ seq: 42 }), '02 01 2a'],
    [encodeHeartbeatAck({ intervalMs: 900_000 }), '02 02 a0 f7 36'],
    [encodeHeartbeatAck({ seq: 1234, intervalMs: 240_000 }), '02 03 d2 09 80 d3 0e'],
    [encodeHeartbeatAck({ seq: 1234, intervalMs: 240_000, unread: 3 }), '02 07 d2 09 80 d3 0e 03'],
    [encodeAck(42), '03 2a'],
    [encodeAck(1234), '03 d2 09'],
    [encodeAck(Number.MAX_SAFE_INTEGER), '03 ff ff ff ff ff ff ff 0f'],
  ];
  for (const [wire, doc] of examples) assert.equal(hex(wire), doc.replace(/ /g, ''));
});

test('decoders accept Uint8Array views, Buffers and ArrayBuffers alike', () => {
  const big = new Uint8Array([0xaa, 0x03, 0xac, 0x02, 0xbb]);
  assert.deepEqual(ok(decodeClientFrame(big.subarray(1, 4), true)), { op: 'ack', seq: 300 });
  assert.deepEqual(ok(decodeClientFrame(Buffer.from([0x03, 0xac, 0x02]), true)), { op: 'ack', seq: 300 });
  assert.deepEqual(ok(decodeClientFrame(Uint8Array.of(0x03, 0xac, 0x02).buffer, true)), { op: 'ack', seq: 300 });
  const text = '{"op":"sent","id":"a"}';
  assert.deepEqual(ok(decodeServerFrame(new TextEncoder().encode(text).buffer, false)), { op: 'sent', id: 'a' });
});

// ---- JSON frames ---------------------------------------------------------------

const serverFrames: ServerFrame[] = [
  {
    op: 'hello', v: 1, session: 's_7Kq2xW9aPz', conn: 'c_Vb41Qm', gateway: 'gw-0', resumed: false, seq: 41,
    hb: { minMs: 5000, maxMs: 900_000, intervalMs: 60_000, graceMs: 5000 },
    limits: { maxPayload: 65_536, ratePerSec: 20, burst: 60 },
  },
  {
    op: 'hello', v: 1, session: 's', conn: 'c', gateway: 'g', resumed: true, seq: 0,
    hb: { minMs: 100, maxMs: 100, intervalMs: 100, graceMs: 0 }, limits: { maxPayload: 64, ratePerSec: 0.5, burst: 1 },
  },
  {
    op: 'hello', v: 1, session: 's', conn: 'c', gateway: 'g', resumed: true, seq: 2,
    hb: { minMs: 100, maxMs: 100, intervalMs: 100, graceMs: 0 }, limits: { maxPayload: 64, ratePerSec: 1, burst: 1 },
    tokenExpiresInMs: 5000, epoch: 1_764_990_000_123_456, lost: { epoch: 1_764_000_000_000_001, afterSeq: 41 },
  },
  { op: 'push', seq: 42, id: 'm_01J9ZQ3', ts: 1_760_000_000_123, data: { title: 'hi', nested: [1, 'two', null, { x: true }] } },
  { op: 'push', seq: 1, id: 'm_e', ts: 1_760_000_000_123, data: 'x', epoch: 1_764_990_000_123_456 },
  { op: 'push', seq: Number.MAX_SAFE_INTEGER, id: 'é"\\\u2028😀', ts: 0, data: null },
  { op: 'reconnect', delayMs: 2318, reason: 'draining' },
  { op: 'error', code: Close.INVALID_FRAME, name: 'INVALID_FRAME', message: 'unknown binary op 0x07' },
  { op: 'sent', id: 'u-1' },
  { op: 'sent', id: 'u-2', error: 'upstream unavailable' },
  { op: 'reply', id: 'q-1', data: { history: [1, 2], more: false } },
  { op: 'reply', id: 'q-2', data: null },
  { op: 'reply', id: 'q-3', error: 'LL_UPSTREAM_NO_BACKEND', message: 'No backend is listening on this topic: topic chat.history' },
  { op: 'reply', id: 'q-4', error: 'LL_UPSTREAM_TIMEOUT' },
];

const clientFrames: ClientFrame[] = [
  { op: 'send', id: 'u-1', topic: 'chat.typing', data: { room: 'r9' } },
  { op: 'send', id: 'x'.repeat(LIMITS.maxIdLength), topic: 'a'.repeat(LIMITS.maxTopicLength), data: null },
  { op: 'send', id: '中', topic: 'A-Z_0.9', data: [0, -1.5, 'ü', false] },
  { op: 'send', id: 'q-1', topic: 'chat.history', data: { room: 'r9' }, reply: true },
  { op: 'send', id: 'q-2', topic: 'chat.history', data: 1, reply: true, timeoutMs: LIMITS.maxReplyTimeoutMs },
];

test('every JSON server frame round-trips (as string and as bytes)', () => {
  for (const frame of serverFrames) {
    const text = encodeJson(frame);
    assert.deepEqual(ok(decodeServerFrame(text, false)), frame);
    assert.deepEqual(ok(decodeServerFrame(new TextEncoder().encode(text), false)), frame);
    assert.equal(encodeJson(ok(decodeServerFrame(text, false))), text, 'decode → encode reproduces the text');
  }
});

test('every JSON client frame round-trips (as string and as bytes)', () => {
  for (const frame of clientFrames) {
    const text = encodeJson(frame);
    assert.deepEqual(ok(decodeClientFrame(text, false)), frame);
    assert.deepEqual(ok(decodeClientFrame(Buffer.from(text), false)), frame);
    assert.equal(encodeJson(ok(decodeClientFrame(text, false))), text);
  }
});

test('unknown JSON fields are ignored and dropped', () => {
  const hello = { ...serverFrames[0]!, extra: { a: 1 }, hb: { ...(serverFrames[0] as { hb: object }).hb, future: 1 } };
  assert.deepEqual(ok(decodeServerFrame(JSON.stringify(hello), false)), serverFrames[0]);
  assert.deepEqual(ok(decodeClientFrame('{"op":"send","id":"a","topic":"t","data":1,"v":2}', false)), { op: 'send', id: 'a', topic: 't', data: 1 });
});

test('encodePushRaw produces exactly the JSON of the frame', () => {
  for (const frame of serverFrames) {
    if (frame.op !== 'push') continue;
    assert.equal(encodePushRaw(frame.seq, frame.id, frame.ts, JSON.stringify(frame.data), frame.epoch), encodeJson(frame));
  }
  for (const data of [0, 'str', [], {}, { a: [{ b: '\u0000' }] }, -1.25e-7, true]) {
    const frame: ServerFrame = { op: 'push', seq: 7, id: 'id"with\\escapes', ts: 1, data };
    const raw = encodePushRaw(7, frame.id, 1, JSON.stringify(data));
    assert.equal(raw, encodeJson(frame));
    assert.deepEqual(ok(decodeServerFrame(raw, false)), frame);
  }
});

test('data may nest MAX_DATA_DEPTH levels, not more', () => {
  const nest = (d: number): string => '['.repeat(d) + ']'.repeat(d);
  assert.equal(MAX_DATA_DEPTH, 64);
  ok(decodeClientFrame(`{"op":"send","id":"a","topic":"t","data":${nest(MAX_DATA_DEPTH)}}`, false));
  ok(decodeServerFrame(encodePushRaw(1, 'a', 1, nest(MAX_DATA_DEPTH)), false));
  rejects(decodeClientFrame(`{"op":"send","id":"a","topic":"t","data":${nest(MAX_DATA_DEPTH + 1)}}`, false), Close.INVALID_FRAME, 'send depth 65');
  rejects(decodeServerFrame(encodePushRaw(1, 'a', 1, '{"a":'.repeat(65) + '1' + '}'.repeat(65)), false), Close.INVALID_FRAME, 'push depth 65');
  // Far beyond JSON.stringify's stack limit: rejected, not thrown.
  rejects(decodeClientFrame(`{"op":"send","id":"a","topic":"t","data":${nest(100_000)}}`, false), Close.INVALID_FRAME, 'send depth 100000');
});

// ---- varints -------------------------------------------------------------------

test('varint edge cases', () => {
  const cases: Array<[number, string]> = [[0, '00'], [127, '7f'], [128, '8001'], [300, 'ac02'], [16_383, 'ff7f'], [16_384, '808001'],
    [Number.MAX_SAFE_INTEGER, 'ffffffffffffff0f']];
  for (const [value, encoded] of cases) {
    const buf = new Uint8Array(varintLength(value));
    assert.equal(writeVarint(buf, 0, value), buf.length);
    assert.equal(hex(buf), encoded);
    assert.deepEqual(readVarint(buf, 0), { value, next: buf.length });
  }
  // At an offset, and followed by other bytes.
  assert.deepEqual(readVarint(bytes('ff ac 02 99'), 1), { value: 300, next: 3 });
  // Truncated: a continuation bit with nothing after it.
  for (const t of ['', '80', 'ffff', 'ffffffffffffff']) assert.equal(readVarint(bytes(t), 0), undefined, `truncated ${t}`);
  // Over-long: more than 8 bytes, and 8 bytes whose value exceeds 2^53-1.
  assert.equal(readVarint(bytes('8080808080808080 01'), 0), undefined);
  assert.equal(readVarint(bytes('ffffffffffffff10'), 0), undefined, '2^53');
  assert.equal(readVarint(bytes('ffffffffffffff7f'), 0), undefined, '2^56-1');
  // Non-minimal: a trailing 0x00 continuation gives a second form of the same value.
  for (const t of ['8000', 'ff00', 'ac8200', '8080808080808000']) assert.equal(readVarint(bytes(t), 0), undefined, `non-minimal ${t}`);
});

test('varint encoders refuse values the decoder could not read back', () => {
  for (const bad of [-1, 1.5, Number.NaN, Infinity, -Infinity, 2 ** 53]) {
    assert.throws(() => varintLength(bad), RangeError, String(bad));
    assert.throws(() => writeVarint(new Uint8Array(16), 0, bad), RangeError, String(bad));
    assert.throws(() => encodeAck(bad), RangeError, String(bad));
  }
});

// ---- rejections ----------------------------------------------------------------

const INVALID = Close.INVALID_FRAME;

test('client decoder rejects malformed binary frames with INVALID_FRAME (4008)', () => {
  assert.equal(INVALID, 4008);
  const bad: Array<[string, string]> = [
    ['', 'empty'], ['00', 'op 0x00'], ['07', 'unknown op'], ['02', 'heartbeat ack is server-only'], ['ff', 'op 0xff'],
    ['01 63', 'interval 99'], ['01 81 de db 01', 'interval 3600001'], ['01 00', 'interval 0'],
    ['01 e4 80 00', 'non-minimal interval'], ['01 e8 07 00', 'trailing byte'], ['01 80', 'truncated interval'],
    ['03', 'ack without seq'], ['03 80', 'truncated seq'], ['03 2a 00', 'ack trailing byte'], ['03 80 00', 'non-minimal seq'],
    ['03 ff ff ff ff ff ff ff 10', 'seq 2^53'],
  ];
  for (const [h, label] of bad) rejects(decodeClientFrame(bytes(h), true), INVALID, label);
});

test('client decoder rejects malformed text frames with INVALID_FRAME (4008)', () => {
  const send = (fields: string): string => `{"op":"send",${fields}}`;
  const bad: Array<[string | Uint8Array, string]> = [
    ['', 'empty text'], ['{', 'bad JSON'], ['[]', 'array'], ['"send"', 'string'], ['null', 'null'], ['42', 'number'],
    ['{}', 'missing op'], ['{"op":7}', 'numeric op'], ['{"op":"hello"}', 'server op'], ['{"op":"nope"}', 'unknown op'],
    ['{"op":"heartbeat"}', 'text heartbeat'], ['{"op":"ack","seq":1}', 'text ack'],
    [send('"topic":"t","data":1'), 'missing id'], [send('"id":"","topic":"t","data":1'), 'empty id'],
    [send(`"id":"${'x'.repeat(129)}","topic":"t","data":1`), 'id of 129'], [send('"id":5,"topic":"t","data":1'), 'numeric id'],
    [send('"id":"a","data":1'), 'missing topic'], [send('"id":"a","topic":"","data":1'), 'empty topic'],
    [send('"id":"a","topic":"a b","data":1'), 'topic with space'], [send('"id":"a","topic":"a/b","data":1'), 'topic with slash'],
    [send(`"id":"a","topic":"${'t'.repeat(129)}","data":1`), 'topic of 129'], [send('"id":"a","topic":"t"'), 'missing data'],
    [Uint8Array.of(0x7b, 0xff, 0x7d), 'invalid UTF-8'], [Uint8Array.of(0xef, 0xbb, 0xbf, 0x7b, 0x7d), 'UTF-8 BOM (bytes)'],
    ['\ufeff{"op":"send","id":"a","topic":"t","data":1}', 'BOM (string)'],
    [send('"id":"a","topic":"t","data":1,"reply":false'), 'reply false'], [send('"id":"a","topic":"t","data":1,"reply":1'), 'reply 1'],
    [send('"id":"a","topic":"t","data":1,"timeoutMs":500'), 'timeoutMs without reply'],
    [send('"id":"a","topic":"t","data":1,"reply":true,"timeoutMs":99'), 'timeoutMs under 100'],
    [send('"id":"a","topic":"t","data":1,"reply":true,"timeoutMs":30001'), 'timeoutMs over 30000'],
    [send('"id":"a","topic":"t","data":1,"reply":true,"timeoutMs":"500"'), 'timeoutMs string'],
  ];
  for (const [data, label] of bad) rejects(decodeClientFrame(data, false), INVALID, label);
});

test('server decoder rejects malformed frames with the right close code', () => {
  const hello = encodeJson(serverFrames[0]!);
  const patch = (from: string, to: string): string => { assert.ok(hello.includes(from)); return hello.replace(from, to); };
  rejects(decodeServerFrame(patch('"v":1', '"v":2'), false), Close.UNSUPPORTED_PROTOCOL, 'hello v2');
  assert.equal(Close.UNSUPPORTED_PROTOCOL, 4010);
  const bad: Array<[string, string]> = [
    [patch('"session":"s_7Kq2xW9aPz",', ''), 'hello without session'], [patch('"resumed":false', '"resumed":0'), 'resumed not boolean'],
    [patch('"seq":41', '"seq":-1'), 'negative seq'], [patch('"graceMs":5000', '"graceMs":"5000"'), 'graceMs string'],
    [patch('"ratePerSec":20', '"ratePerSec":1e400'), 'ratePerSec Infinity'], [patch('"ratePerSec":20', '"ratePerSec":-1'), 'negative rate'],
    [patch('"burst":60', '"burst":1.5'), 'fractional burst'], [patch(',"limits":{"maxPayload":65536,"ratePerSec":20,"burst":60}', ''), 'no limits'],
    ['{"op":"push","seq":1.5,"id":"a","ts":1,"data":1}', 'fractional seq'], ['{"op":"push","seq":9007199254740992,"id":"a","ts":1,"data":1}', 'seq 2^53'],
    ['{"op":"push","seq":1,"id":"a","ts":1}', 'push without data'], ['{"op":"push","seq":1,"id":2,"ts":1,"data":1}', 'numeric id'],
    ['{"op":"reconnect","delayMs":-5,"reason":"x"}', 'negative delay'], ['{"op":"reconnect","delayMs":5}', 'no reason'],
    ['{"op":"error","code":"4008","name":"x","message":"y"}', 'string code'], ['{"op":"sent","id":"a","error":null}', 'null error'],
    ['{"op":"push","seq":1,"id":"a","ts":1,"data":1,"epoch":-1}', 'negative epoch'], ['{"op":"push","seq":1,"id":"a","ts":1,"data":1,"epoch":"7"}', 'string epoch'],
    [patch('"seq":41', '"seq":41,"epoch":1.5'), 'fractional hello epoch'], [patch('"seq":41', '"seq":41,"lost":{"epoch":1}'), 'lost without afterSeq'],
    [patch('"seq":41', '"seq":41,"lost":7'), 'lost not an object'],
    ['{"op":"sent"}', 'sent without id'], ['{"op":"reply","id":"a"}', 'reply without data or error'],
    ['{"op":"reply","id":"a","data":1,"error":"LL_X"}', 'reply with both'], ['{"op":"reply","data":1}', 'reply without id'],
    ['{"op":"reply","id":"a","error":5}', 'numeric reply error'], [`{"op":"reply","id":"a","data":${'['.repeat(65)}${']'.repeat(65)}}`, 'reply depth 65'], ['{"op":"send","id":"a","topic":"t","data":1}', 'client op'], ['{"op":"heartbeat_ack"}', 'text heartbeat_ack'],
  ];
  for (const [text, label] of bad) rejects(decodeServerFrame(text, false), INVALID, label);
  const badBinary: Array<[string, string]> = [
    ['', 'empty'], ['01', 'client heartbeat'], ['03 2a', 'client ack'], ['02 00', 'flags 0'], ['02 08 01', 'unknown flag'],
    ['02 01', 'missing seq'], ['02 03 2a', 'missing interval'], ['02 01 2a 00', 'trailing byte'], ['02 01 80 00', 'non-minimal'],
  ];
  for (const [h, label] of badBinary) rejects(decodeServerFrame(bytes(h), true), INVALID, label);
});

// ---- close codes ---------------------------------------------------------------

const ADVICE = new Set(['backoff', 'after-delay', 'refresh-token', 'no']);

test('close-code table: unique codes and names, each with a meaning and reconnect advice', () => {
  assert.equal(new Set(CLOSE_CODES.map((c) => c.code)).size, CLOSE_CODES.length, 'codes unique');
  assert.equal(new Set(CLOSE_CODES.map((c) => c.name)).size, CLOSE_CODES.length, 'names unique');
  for (const c of CLOSE_CODES) {
    assert.ok(Number.isInteger(c.code) && ((c.code >= 1000 && c.code <= 1015) || (c.code >= 4000 && c.code <= 4999)), `${c.code} in a valid range`);
    assert.ok(/^[A-Z][A-Z_]*$/.test(c.name), c.name);
    assert.ok(c.meaning.trim().length > 10, `${c.name} has a meaning`);
    assert.ok(ADVICE.has(c.reconnect), `${c.name} has reconnect advice`);
    assert.equal(Close[c.name], c.code);
    assert.equal(closeCodeInfo(c.code), c);
    assert.equal(closeCodeByName(c.name), c);
    assert.equal(closeReasonLabel(c.code), c.name);
  }
  assert.equal(closeCodeInfo(4999), undefined);
  assert.equal(closeReasonLabel(4999), 'OTHER');
});

test('docs/protocol.md lists exactly the close codes of close-codes.ts', () => {
  // Compiled to dist/tests/unit/, so the repository root is three levels up.
  const md = readFileSync(new URL('../../../docs/protocol.md', import.meta.url), 'utf8');
  const begin = md.indexOf('<!-- close-codes:begin -->');
  const end = md.indexOf('<!-- close-codes:end -->');
  assert.ok(begin >= 0 && end > begin, 'marker comments present');
  const rows = md.slice(begin, end).split('\n')
    .filter((l) => /^\|\s*\d+\s*\|/.test(l))
    .map((l) => l.split('|').slice(1, -1).map((cell) => cell.trim()))
    .map(([code, name, advice, meaning]) => ({ code: Number(code), name, reconnect: advice?.replace(/`/g, ''), meaning }));
  assert.deepEqual(rows, CLOSE_CODES.map(({ code, name, reconnect, meaning }) => ({ code, name, reconnect, meaning })));
});
