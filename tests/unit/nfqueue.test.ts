/**
 * The NFQUEUE netlink codec the delayer uses: byte layouts against the
 * kernel's structs, and a decoder that never throws on garbage.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { configCommand, configParams, decode, NF_ACCEPT, NFQNL_CFG_CMD_BIND, NFQNL_COPY_META, verdict } from '../../infra/netns/nfqueue.js';
import { Rand } from '../../loadtest/lib/rand.js';

test('config and verdict messages match nlmsghdr + nfgenmsg + attribute layouts', () => {
  const bind = configCommand(7, 3, NFQNL_CFG_CMD_BIND);
  assert.equal(bind.length, 16 + 4 + 8);
  assert.equal(bind.readUInt32LE(0), bind.length);
  assert.equal(bind.readUInt16LE(4), (3 << 8) | 2, 'NFNL_SUBSYS_QUEUE << 8 | NFQNL_MSG_CONFIG');
  assert.equal(bind.readUInt16LE(6), 1 | 4, 'NLM_F_REQUEST | NLM_F_ACK');
  assert.equal(bind.readUInt32LE(8), 7);
  assert.equal(bind.readUInt16BE(18), 3, 'queue number, big-endian res_id');
  assert.deepEqual([bind.readUInt16LE(20), bind.readUInt16LE(22), bind[24]], [8, 1, NFQNL_CFG_CMD_BIND]);

  const params = configParams(8, 3, NFQNL_COPY_META, 4096);
  assert.equal(params.readUInt16LE(20), 9, 'params attribute: 4 + 5 bytes');
  assert.equal(params[28], NFQNL_COPY_META);
  assert.equal(params.readUInt16LE(32), 8, 'maxlen attribute after 4-byte padding');
  assert.equal(params.readUInt32BE(36), 4096);

  const v = verdict(3, 0xdeadbeef, NF_ACCEPT);
  assert.equal(v.readUInt16LE(4), (3 << 8) | 1);
  assert.equal(v.readUInt32BE(24), NF_ACCEPT);
  assert.equal(v.readUInt32BE(28), 0xdeadbeef);
});

test('decode: packet ids, acks and errors, several messages in one datagram', () => {
  const pkt = Buffer.alloc(20 + 12 + 8);
  pkt.writeUInt32LE(pkt.length, 0);
  pkt.writeUInt16LE(3 << 8, 4);
  pkt.writeUInt16BE(5, 18);
  pkt.writeUInt16LE(8, 20); pkt.writeUInt16LE(9, 22); // some other attribute first
  pkt.writeUInt16LE(11, 28); pkt.writeUInt16LE(1, 30); pkt.writeUInt32BE(42, 32); // NFQA_PACKET_HDR
  const ack = Buffer.alloc(36);
  ack.writeUInt32LE(36, 0); ack.writeUInt16LE(2, 4); ack.writeUInt32LE(9, 8); ack.writeInt32LE(-1, 16);
  assert.deepEqual(decode(Buffer.concat([pkt, ack])), [{ kind: 'packet', queue: 5, id: 42 }, { kind: 'ack', seq: 9, errno: 1 }]);
});

test('decode never throws on random or truncated input', () => {
  const r = new Rand(17);
  for (let i = 0; i < 20_000; i++) {
    const b = Buffer.alloc(r.int(96));
    for (let j = 0; j < b.length; j++) b[j] = r.int(256);
    if (b.length >= 8 && r.chance(0.5)) { b.writeUInt32LE(Math.min(b.length, 16 + r.int(80)), 0); b.writeUInt16LE(r.chance(0.5) ? 3 << 8 : 2, 4); }
    assert.ok(Array.isArray(decode(b)));
  }
});
