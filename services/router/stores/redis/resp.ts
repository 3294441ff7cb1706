/**
 * RESP2 encoding and a streaming reply reader: just what the lean script
 * connection (lean-pipe.ts) needs, no more.
 *
 * Replies are read as ioredis reads them: simple strings and bulk strings as
 * UTF-8 strings, integers as numbers, nil as null, arrays as arrays, and an
 * error reply as a RedisReplyError value (the caller rejects with it).
 */

export type RespValue = string | number | null | RespValue[] | RedisReplyError;

/** An error reply (`-ERR …`, `-NOSCRIPT …`): the command failed; the connection is fine. */
export class RedisReplyError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'ReplyError';
  }
}

/** One bulk string: `$<bytes>\r\n<text>\r\n`. */
export function bulk(s: string): string {
  return `$${Buffer.byteLength(s)}\r\n${s}\r\n`;
}

/** A whole command (name and arguments as bulk strings). */
export function encodeCommand(parts: readonly string[]): string {
  let out = `*${parts.length}\r\n`;
  for (const p of parts) out += bulk(p);
  return out;
}

const INCOMPLETE: unique symbol = Symbol('incomplete');
const OPENED: unique symbol = Symbol('opened');
const CR = 13;

/** An array reply being read: its elements so far. */
interface Frame { out: RespValue[]; i: number }

/**
 * Reads replies from socket chunks. feed() a chunk, then call next() until
 * it returns undefined (the rest of a reply has not arrived yet).
 * A reply that cannot be RESP throws: the connection is out of step and must
 * be closed.
 *
 * Linear in the reply's size however it is cut into chunks: the reader
 * resumes where it stopped. An array being read keeps its elements read so
 * far (a stack of frames), and a bulk string that has not fully arrived
 * keeps how many bytes it still needs and the chunks that hold its start;
 * they are joined once, when the last byte arrives. Only a partial header
 * line (a few bytes) is ever copied into the next chunk.
 */
export class RespReader {
  private buf: Buffer = Buffer.alloc(0);
  private pos = 0;
  private readonly stack: Frame[] = [];
  /** A bulk string in progress: its length, the parts that arrived, and how many bytes (CRLF included) are still due. */
  private bulkLen = -1;
  private bulkParts: Buffer[] = [];
  private bulkDue = 0;

  feed(chunk: Buffer): void {
    if (this.pos >= this.buf.length) this.buf = chunk;
    else this.buf = Buffer.concat([this.buf.subarray(this.pos), chunk]); // a partial header line only
    this.pos = 0;
  }

  /** The next whole reply, or undefined if none is complete yet. */
  next(): { value: RespValue } | undefined {
    for (;;) {
      let v: RespValue | typeof INCOMPLETE | typeof OPENED;
      if (this.bulkLen >= 0) v = this.moreBulk();
      else v = this.read();
      if (v === INCOMPLETE) return undefined;
      if (v === OPENED) continue; // an array header: read its elements
      // Hand the value to the array being read, closing every array it completes.
      for (;;) {
        const top = this.stack.at(-1);
        if (top === undefined) return { value: v };
        top.out[top.i++] = v;
        if (top.i < top.out.length) break;
        this.stack.pop();
        v = top.out;
      }
    }
  }

  reset(): void {
    this.buf = Buffer.alloc(0);
    this.pos = 0;
    this.stack.length = 0;
    this.bulkLen = -1;
    this.bulkParts = [];
    this.bulkDue = 0;
  }

  /** The line from pos to its CRLF (exclusive), or -1 if the CRLF has not arrived. */
  private lineEnd(): number {
    const i = this.buf.indexOf(CR, this.pos);
    return i < 0 || i + 1 >= this.buf.length ? -1 : i;
  }

  private int(from: number, to: number): number {
    const b = this.buf;
    let i = from, neg = false, n = 0;
    if (b[i] === 45) { neg = true; i++; }
    if (i >= to) throw new Error('RESP: empty integer');
    for (; i < to; i++) {
      const d = b[i]! - 48;
      if (d < 0 || d > 9) throw new Error('RESP: bad integer');
      n = n * 10 + d;
    }
    return neg ? -n : n;
  }

  /** Takes what has arrived of the bulk string in progress; its value once whole. */
  private moreBulk(): RespValue | typeof INCOMPLETE {
    const avail = this.buf.length - this.pos;
    if (avail <= 0) return INCOMPLETE;
    const take = Math.min(avail, this.bulkDue);
    this.bulkParts.push(this.buf.subarray(this.pos, this.pos + take));
    this.pos += take;
    this.bulkDue -= take;
    if (this.bulkDue > 0) return INCOMPLETE;
    const len = this.bulkLen;
    const whole = Buffer.concat(this.bulkParts);
    this.bulkLen = -1;
    this.bulkParts = [];
    return whole.toString('utf8', 0, len);
  }

  /** One value, an array's header (OPENED: a frame was pushed), or INCOMPLETE (nothing consumed). */
  private read(): RespValue | typeof INCOMPLETE | typeof OPENED {
    const b = this.buf;
    if (this.pos >= b.length) return INCOMPLETE;
    const type = b[this.pos]!;
    const end = this.lineEnd();
    if (end < 0) return INCOMPLETE;
    const from = this.pos + 1;
    switch (type) {
      case 43: { // '+'
        this.pos = end + 2;
        return b.toString('utf8', from, end);
      }
      case 45: { // '-'
        this.pos = end + 2;
        return new RedisReplyError(b.toString('utf8', from, end));
      }
      case 58: { // ':'
        const n = this.int(from, end);
        this.pos = end + 2;
        return n;
      }
      case 36: { // '$'
        const len = this.int(from, end);
        this.pos = end + 2;
        if (len < 0) return null;
        const at = this.pos;
        if (at + len + 2 <= b.length) {
          this.pos = at + len + 2;
          return b.toString('utf8', at, at + len);
        }
        // Not all here yet: keep what came, wait for the rest.
        this.bulkLen = len;
        this.bulkParts = [];
        this.bulkDue = len + 2;
        return this.moreBulk();
      }
      case 42: { // '*'
        const len = this.int(from, end);
        this.pos = end + 2;
        if (len < 0) return null;
        if (len === 0) return [];
        this.stack.push({ out: new Array<RespValue>(len), i: 0 });
        return OPENED;
      }
      default:
        throw new Error(`RESP: unexpected reply type ${JSON.stringify(String.fromCharCode(type))}`);
    }
  }
}
