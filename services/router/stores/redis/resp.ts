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
const CR = 13;

/**
 * Reads replies from socket chunks. feed() a chunk, then call next() until
 * it returns undefined (the rest of a reply has not arrived yet; it is kept
 * and the reply is read again from its start once more bytes come).
 * A reply that cannot be RESP throws: the connection is out of step and must
 * be closed.
 */
export class RespReader {
  private buf: Buffer = Buffer.alloc(0);
  private pos = 0;

  feed(chunk: Buffer): void {
    if (this.pos >= this.buf.length) this.buf = chunk;
    else this.buf = Buffer.concat([this.buf.subarray(this.pos), chunk]);
    this.pos = 0;
  }

  /** The next whole reply, or undefined if none is complete yet. */
  next(): { value: RespValue } | undefined {
    if (this.pos >= this.buf.length) return undefined;
    const start = this.pos;
    const v = this.read();
    if (v === INCOMPLETE) {
      this.pos = start;
      return undefined;
    }
    return { value: v };
  }

  reset(): void {
    this.buf = Buffer.alloc(0);
    this.pos = 0;
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

  private read(): RespValue | typeof INCOMPLETE {
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
        if (len < 0) { this.pos = end + 2; return null; }
        const at = end + 2;
        if (at + len + 2 > b.length) return INCOMPLETE;
        this.pos = at + len + 2;
        return b.toString('utf8', at, at + len);
      }
      case 42: { // '*'
        const len = this.int(from, end);
        this.pos = end + 2;
        if (len < 0) return null;
        const out: RespValue[] = new Array<RespValue>(len);
        for (let i = 0; i < len; i++) {
          const v = this.read();
          if (v === INCOMPLETE) return INCOMPLETE;
          out[i] = v;
        }
        return out;
      }
      default:
        throw new Error(`RESP: unexpected reply type ${JSON.stringify(String.fromCharCode(type))}`);
    }
  }
}
