/**
 * The netlink NFQUEUE protocol (linux/netfilter/nfnetlink_queue.h), the few
 * messages a delayer needs: bind a queue, ask for metadata only, learn each
 * queued packet's id, give it a verdict. Pure encode/decode over Buffers; the
 * socket is `netlink`'s RawNetlinkSocket (delayer.ts).
 *
 * Layout: nlmsghdr (len u32, type u16, flags u16, seq u32, pid u32; host
 * order) + nfgenmsg (family u8, version u8, res_id be16 = queue number) +
 * attributes (len u16, type u16, value padded to 4). NFQUEUE's own values
 * inside attributes are big-endian.
 */
export const NETLINK_NETFILTER = 12;
const NFNL_SUBSYS_QUEUE = 3;
const NFQNL_MSG_PACKET = 0;
const NFQNL_MSG_VERDICT = 1;
const NFQNL_MSG_CONFIG = 2;
const NLMSG_ERROR = 2;
const NLM_F_REQUEST = 1;
const NLM_F_ACK = 4;
const AF_INET = 2;

const NFQA_PACKET_HDR = 1;
const NFQA_VERDICT_HDR = 2;
const NFQA_CFG_CMD = 1;
const NFQA_CFG_PARAMS = 2;
const NFQA_CFG_QUEUE_MAXLEN = 3;

export const NFQNL_CFG_CMD_BIND = 1;
export const NFQNL_CFG_CMD_UNBIND = 2;
export const NFQNL_COPY_META = 1;
export const NF_DROP = 0;
export const NF_ACCEPT = 1;

function attr(type: number, value: Buffer): Buffer {
  const len = 4 + value.length;
  const b = Buffer.alloc((len + 3) & ~3);
  b.writeUInt16LE(len, 0);
  b.writeUInt16LE(type, 2);
  value.copy(b, 4);
  return b;
}

function message(msgType: number, flags: number, seq: number, queue: number, attrs: Buffer[]): Buffer {
  const body = Buffer.concat(attrs);
  const b = Buffer.alloc(20 + body.length);
  b.writeUInt32LE(b.length, 0);
  b.writeUInt16LE((NFNL_SUBSYS_QUEUE << 8) | msgType, 4);
  b.writeUInt16LE(NLM_F_REQUEST | flags, 6);
  b.writeUInt32LE(seq >>> 0, 8);
  b.writeUInt32LE(0, 12);
  b.writeUInt8(AF_INET, 16);
  b.writeUInt8(0, 17);
  b.writeUInt16BE(queue, 18);
  body.copy(b, 20);
  return b;
}

/** Bind or unbind `queue` to this socket (acknowledged). */
export function configCommand(seq: number, queue: number, command: number): Buffer {
  const v = Buffer.alloc(4);
  v.writeUInt8(command, 0);
  v.writeUInt16BE(AF_INET, 2);
  return message(NFQNL_MSG_CONFIG, NLM_F_ACK, seq, queue, [attr(NFQA_CFG_CMD, v)]);
}

/** Copy mode (metadata only: the delayer never reads payloads) and the kernel-side queue length (acknowledged). */
export function configParams(seq: number, queue: number, copyMode: number, maxLen: number): Buffer {
  const p = Buffer.alloc(5);
  p.writeUInt32BE(0, 0);
  p.writeUInt8(copyMode, 4);
  const m = Buffer.alloc(4);
  m.writeUInt32BE(maxLen, 0);
  return message(NFQNL_MSG_CONFIG, NLM_F_ACK, seq, queue, [attr(NFQA_CFG_PARAMS, p), attr(NFQA_CFG_QUEUE_MAXLEN, m)]);
}

export function verdict(queue: number, packetId: number, v: number): Buffer {
  const h = Buffer.alloc(8);
  h.writeUInt32BE(v, 0);
  h.writeUInt32BE(packetId >>> 0, 4);
  return message(NFQNL_MSG_VERDICT, 0, 0, queue, [attr(NFQA_VERDICT_HDR, h)]);
}

export type Incoming =
  | { kind: 'packet'; queue: number; id: number }
  | { kind: 'ack'; seq: number; errno: number }
  | { kind: 'other'; type: number };

/** Splits a datagram into its netlink messages. Malformed tails are dropped (the kernel never sends them). */
export function decode(buf: Buffer): Incoming[] {
  const out: Incoming[] = [];
  let off = 0;
  while (off + 16 <= buf.length) {
    const len = buf.readUInt32LE(off);
    if (len < 16 || off + len > buf.length) break;
    const type = buf.readUInt16LE(off + 4);
    const seq = buf.readUInt32LE(off + 8);
    if (type === NLMSG_ERROR && len >= 20) {
      out.push({ kind: 'ack', seq, errno: -buf.readInt32LE(off + 16) });
    } else if (type === ((NFNL_SUBSYS_QUEUE << 8) | NFQNL_MSG_PACKET) && len >= 20) {
      const queue = buf.readUInt16BE(off + 18);
      let a = off + 20;
      while (a + 4 <= off + len) {
        const alen = buf.readUInt16LE(a);
        const atype = buf.readUInt16LE(a + 2) & 0x3fff;
        if (alen < 4) break;
        if (atype === NFQA_PACKET_HDR && alen >= 4 + 7) {
          out.push({ kind: 'packet', queue, id: buf.readUInt32BE(a + 4) });
          break;
        }
        a += (alen + 3) & ~3;
      }
    } else {
      out.push({ kind: 'other', type });
    }
    off += (len + 3) & ~3;
  }
  return out;
}
