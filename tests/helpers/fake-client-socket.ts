/** Fakes the client end as the gateway core sees it: a ClientSocket that records what the core does to it. */
import { decodeServerFrame, type ServerFrame } from '../../protocol/index.js';
import { SendStatus, type ClientSocket } from '../../services/gateway/core/ports.js';

export class FakeClientSocket implements ClientSocket {
  sent: Array<{ data: Uint8Array | string; isBinary: boolean }> = [];
  /** For each send: the cork it was written in (1, 2, …), or 0 if uncorked. */
  corkOf: number[] = [];
  corks = 0;
  private inCork = 0;
  ended: { code: number; reason: string } | undefined;
  buffered = 0;
  nextStatus: number = SendStatus.OK;
  touchedAfterEnd = false;

  send(message: Uint8Array | string, isBinary = false): number {
    if (this.ended) this.touchedAfterEnd = true;
    this.sent.push({ data: message, isBinary });
    this.corkOf.push(this.inCork);
    return this.nextStatus;
  }
  end(code = 1000, reason = ''): void {
    if (this.ended) this.touchedAfterEnd = true;
    this.ended = { code, reason };
  }
  getBufferedAmount(): number {
    if (this.ended) this.touchedAfterEnd = true;
    return this.buffered;
  }
  cork(cb: () => void): void {
    const outer = this.inCork;
    if (outer === 0) this.inCork = ++this.corks;
    try { cb(); } finally { this.inCork = outer; }
  }
  /** Topics joined (what uWS would publish to this socket). */
  topics = new Set<string>();
  subscribe(topic: string): boolean {
    if (this.ended) this.touchedAfterEnd = true;
    this.topics.add(topic);
    return true;
  }
  unsubscribe(topic: string): boolean {
    if (this.ended) this.touchedAfterEnd = true;
    return this.topics.delete(topic);
  }
  /** Decoded frames sent so far. */
  frames(): ServerFrame[] {
    return this.sent.map((s) => {
      const d = decodeServerFrame(s.data, s.isBinary);
      if (!d.ok) throw new Error(`gateway sent an undecodable frame: ${d.reason}`);
      return d.frame;
    });
  }
  /** Close code, if ended (a method, so assert narrowing of `ended` doesn't stick). */
  code(): number | undefined {
    return this.ended?.code;
  }
  ops(): string[] {
    return this.frames().map((f) => f.op);
  }
}
