/**
 * bench:fanout's receipt accounting in a client process (fanout-worker.ts):
 * per channel and offset, how many subscribers received it and when the
 * latest did; per connection and channel, whether offsets arrived in order.
 *
 * Two receive paths feed it, chosen by `--client` (the bench's before/after):
 *  - 'ws': every frame decoded by the load tools' ClientSession (the `ws`
 *    library's parser, the protocol decoder, an event object) and counted
 *    under a `channel#offset` string key, as the bench always did;
 *  - 'lean' (default): raw-driver.ts reads the socket into one shared buffer
 *    and hands each whole message to `LeanConn.intercept`, which finds the
 *    channel and offset in the bytes (pub-scan.ts: the frame shape cut from
 *    the protocol's own encoder) and bumps two array slots. Anything that is
 *    not a pub frame of one of the connection's channels (hello, subscribed,
 *    heartbeat acks, pushes, errors) goes to the session's full decoder.
 * Both report the same `channel#offset` → [receipts, latest receipt ms]
 * entries to the parent, so the bench's arithmetic does not depend on the path.
 */
import { bytesEqual, scanPub, type PubScan } from '../lib/pub-scan.js';

/** One channel's receipts, indexed by offset (offsets are dense from 1 within a run). */
export class Tally {
  readonly counts: number[] = [];
  readonly latest: number[] = [];
  constructor(readonly key: string) {}

  add(offset: number, now: number): void {
    const n = this.counts[offset];
    if (n === undefined) { this.fill(offset); this.counts[offset] = 1; this.latest[offset] = now; return; }
    this.counts[offset] = n + 1;
    if (now > this.latest[offset]!) this.latest[offset] = now;
  }

  /** Keeps the arrays packed (no holes): a sparse write would turn them into dictionaries. */
  private fill(offset: number): void {
    for (let i = this.counts.length; i < offset; i++) { this.counts.push(0); this.latest.push(0); }
    if (this.counts.length === offset) { this.counts.push(0); this.latest.push(0); }
  }

  /** `key#offset` entries with at least one receipt. */
  entries(out: Array<[string, [number, number]]>): void {
    for (let off = 0; off < this.counts.length; off++) {
      const n = this.counts[off]!;
      if (n > 0) out.push([`${this.key}#${off}`, [n, this.latest[off]!]]);
    }
  }
}

/** Every tally of the process, by channel name (shared by all its connections). */
export class Tallies {
  private readonly byKey = new Map<string, Tally>();
  /** Receipts that took the full decoder although they were pub frames (the lean scanner did not match): should stay 0. */
  slowPubs = 0;
  disorder = 0;

  get(key: string): Tally {
    let t = this.byKey.get(key);
    if (t === undefined) this.byKey.set(key, (t = new Tally(key)));
    return t;
  }

  entries(out: Array<[string, [number, number]]>): void { for (const t of this.byKey.values()) t.entries(out); }
}

const TEXT = 0x1;
/** One scan result object for the whole process (single-threaded, used before the next frame). */
const scan: PubScan = { channelStart: 0, channelEnd: 0, offset: 0 };

/** One lean connection's channels: their names as bytes, tallies and last offsets (for the order check). */
export class LeanConn {
  private readonly names: Buffer[];
  private readonly tallies: Tally[];
  private readonly last: number[];

  constructor(channels: readonly string[], private readonly all: Tallies) {
    this.names = channels.map((c) => Buffer.from(c, 'latin1'));
    this.tallies = channels.map((c) => all.get(c));
    this.last = channels.map(() => 0);
  }

  /** raw-driver.ts' intercept: true when `buf[start, end)` was a pub frame of one of this connection's channels, now counted. */
  intercept(opcode: number, buf: Buffer, start: number, end: number, now: number): boolean {
    if (opcode !== TEXT || !scanPub(buf, start, end, scan)) return false;
    const names = this.names;
    for (let i = 0; i < names.length; i++) {
      if (!bytesEqual(buf, scan.channelStart, scan.channelEnd, names[i]!)) continue;
      const off = scan.offset;
      if (off <= this.last[i]!) this.all.disorder++;
      this.last[i] = off;
      this.tallies[i]!.add(off, now);
      return true;
    }
    return false;
  }
}
