/**
 * The receive half of a minimal RFC 6455 client (raw-driver.ts): splits the
 * bytes a socket reads into WebSocket frames, whatever the read boundaries
 * (a frame split across reads, several frames in one read), joins fragmented
 * messages (§5.4) and unmasks masked frames (servers do not mask, but a
 * reader must not misparse one that does).
 *
 * Contract for `onMessage(opcode, buf, start, end)`: one whole data message
 * (opcode 1 text or 2 binary; continuation frames already joined), its
 * payload `buf[start, end)`. `buf` may be the socket's shared read buffer,
 * reused by the next read: the callee parses or copies what it keeps before
 * returning. Passing a range rather than a sub-Buffer spares an allocation
 * per frame on the load generator's hot path (bench:fanout receives hundreds
 * of thousands of frames a second on the gateways' cores).
 * `onControl(opcode, payload)`: close, ping or pong (a fresh or shared Buffer
 * with the same lifetime rule). A protocol error (an unknown opcode, a
 * continuation without a start) is reported once through `onError` and the
 * reader stops.
 */

export interface FrameSink {
  onMessage(opcode: number, buf: Buffer, start: number, end: number): void;
  onControl(opcode: number, payload: Buffer): void;
  onError(reason: string): void;
}

export class FrameReader {
  /** Bytes of an incomplete frame from earlier reads (only while one is incomplete). */
  private pending: Buffer | undefined;
  /** Fragments of a message being assembled (rare: gateways send whole frames). */
  private frag: Buffer[] | undefined;
  private fragOpcode = 0;
  private failed = false;

  constructor(private readonly sink: FrameSink) {}

  /** Forgets partial state (a new connection on the same reader). */
  reset(): void { this.pending = undefined; this.frag = undefined; this.failed = false; }

  /** Feeds `data[from, to)` as read from the socket. */
  push(data: Buffer, from = 0, to = data.length): void {
    if (this.failed) return;
    if (this.pending) { data = Buffer.concat([this.pending, data.subarray(from, to)]); from = 0; to = data.length; this.pending = undefined; }
    let at = from;
    while (at < to && !this.failed) {
      if (to - at < 2) break;
      const b0 = data[at]!, b1 = data[at + 1]!;
      let len = b1 & 0x7f, p = at + 2;
      if (len === 126) { if (to - at < 4) break; len = data.readUInt16BE(at + 2); p = at + 4; }
      else if (len === 127) { if (to - at < 10) break; len = data.readUInt32BE(at + 2) * 2 ** 32 + data.readUInt32BE(at + 6); p = at + 10; }
      const masked = (b1 & 0x80) !== 0;
      if (masked) p += 4;
      if (to < p + len) break;
      at = p + len;
      if (masked) {
        const k = data.subarray(p - 4, p), copy = Buffer.allocUnsafe(len);
        for (let i = 0; i < len; i++) copy[i] = data[p + i]! ^ k[i & 3]!;
        this.frame((b0 & 0x80) !== 0, b0 & 0x0f, copy, 0, len);
      } else this.frame((b0 & 0x80) !== 0, b0 & 0x0f, data, p, p + len);
    }
    if (at < to && !this.failed) this.pending = Buffer.from(data.subarray(at, to));
  }

  private frame(fin: boolean, opcode: number, buf: Buffer, start: number, end: number): void {
    if (opcode >= 0x8) {
      if (opcode > 0xa) { this.fail(`opcode ${opcode}`); return; }
      this.sink.onControl(opcode, buf.subarray(start, end));
      return;
    }
    if (opcode === 0x1 || opcode === 0x2) {
      if (this.frag) { this.fail('new message inside a fragmented one'); return; }
      if (fin) { this.sink.onMessage(opcode, buf, start, end); return; }
      this.fragOpcode = opcode;
      this.frag = [Buffer.from(buf.subarray(start, end))];
      return;
    }
    if (opcode !== 0x0) { this.fail(`opcode ${opcode}`); return; }
    if (!this.frag) { this.fail('continuation without a start'); return; }
    this.frag.push(Buffer.from(buf.subarray(start, end)));
    if (!fin) return;
    const whole = Buffer.concat(this.frag);
    this.frag = undefined;
    this.sink.onMessage(this.fragOpcode, whole, 0, whole.length);
  }

  private fail(reason: string): void {
    this.failed = true;
    this.pending = undefined;
    this.frag = undefined;
    this.sink.onError(reason);
  }
}
