/**
 * The RESP2 reader and encoder of the lean Redis connection
 * (stores/redis/resp.ts): replies split anywhere across socket reads are
 * read whole, in order, as ioredis would give them.
 */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { bulk, encodeCommand, RedisReplyError, RespReader, type RespValue } from '../../services/router/stores/redis/resp.js';

const WIRE = Buffer.from([
  '+OK\r\n',
  ':-42\r\n',
  '$-1\r\n',
  '$0\r\n\r\n',
  '$7\r\nhé ✓\r\n',
  '*5\r\n:0\r\n:17\r\n:3\r\n$2\r\n{}\r\n*2\r\n$1\r\na\r\n$-1\r\n',
  '*0\r\n',
  '-NOSCRIPT No matching script.\r\n',
  '$12\r\nline\r\nbreak!\r\n',
].join(''));
const EXPECTED: RespValue[] = ['OK', -42, null, '', 'hé ✓', [0, 17, 3, '{}', ['a', null]], [], new RedisReplyError('NOSCRIPT No matching script.'), 'line\r\nbreak!'];

function readAll(r: RespReader, out: RespValue[]): void {
  for (let x = r.next(); x !== undefined; x = r.next()) out.push(x.value);
}

describe('RESP reader', () => {
  it('reads every reply type, whole, in order', () => {
    const r = new RespReader();
    const out: RespValue[] = [];
    r.feed(WIRE);
    readAll(r, out);
    assert.deepEqual(out, EXPECTED);
    assert.ok(out[7] instanceof RedisReplyError);
  });

  it('gives the same replies whatever the split into reads (every cut point, and byte by byte)', () => {
    for (let cut = 1; cut < WIRE.length; cut++) {
      const r = new RespReader();
      const out: RespValue[] = [];
      r.feed(WIRE.subarray(0, cut));
      readAll(r, out);
      r.feed(WIRE.subarray(cut));
      readAll(r, out);
      assert.deepEqual(out, EXPECTED, `cut at ${cut}`);
    }
    const r = new RespReader();
    const out: RespValue[] = [];
    for (let i = 0; i < WIRE.length; i++) { r.feed(WIRE.subarray(i, i + 1)); readAll(r, out); }
    assert.deepEqual(out, EXPECTED);
  });

  it('a large reply in many reads is read in linear work: its bytes are copied about once, not once per read', () => {
    // 4 MiB: an array of 64 bulk strings of 64 KiB and one bulk string of 1 MiB, fed in 16 KiB reads (offset by 7 bytes, so no cut lands on a boundary).
    const item = 'x'.repeat(64 * 1024), big = 'é'.repeat(512 * 1024);
    const wire = Buffer.from(`*65\r\n${Array.from({ length: 64 }, () => bulk(item)).join('')}${bulk(big)}`);
    const r = new RespReader();
    const concat = Buffer.concat;
    let copied = 0;
    Buffer.concat = ((list: readonly Uint8Array[], len?: number) => {
      const b = concat(list, len);
      copied += b.length;
      return b;
    }) as typeof Buffer.concat;
    let got: RespValue | undefined;
    try {
      r.feed(wire.subarray(0, 7));
      for (let i = 7; i < wire.length; i += 16 * 1024) {
        r.feed(wire.subarray(i, i + 16 * 1024));
        const x = r.next();
        if (x !== undefined) got = x.value;
      }
    } finally {
      Buffer.concat = concat;
    }
    assert.ok(Array.isArray(got) && got.length === 65 && got[0] === item && got[64] === big, 'read whole');
    assert.ok(copied <= 2 * wire.length, `copied ${copied} bytes for a ${wire.length}-byte reply`);
  });

  it('throws on bytes that are not RESP (the connection is then closed)', () => {
    const r = new RespReader();
    r.feed(Buffer.from('?what\r\n'));
    assert.throws(() => r.next(), /RESP/);
    const s = new RespReader();
    s.feed(Buffer.from(':12x\r\n'));
    assert.throws(() => s.next(), /RESP/);
  });
});

describe('RESP encoder', () => {
  it('counts bytes, not characters', () => {
    assert.equal(bulk('é✓'), '$5\r\né✓\r\n');
    assert.equal(encodeCommand(['GET', 'k']), '*2\r\n$3\r\nGET\r\n$1\r\nk\r\n');
  });
});
