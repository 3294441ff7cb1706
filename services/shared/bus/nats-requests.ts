/**
 * Requests for nats-bus.ts with deadlines that follow shared/deadline.ts: a
 * reply that reached the socket before a stalled process (CPU starvation, a
 * long GC, SIGSTOP) got to run again is taken, not timed out. The client's
 * own request() cannot do that: its timer, an expired one running before
 * the poll phase reads the reply, rejects the call and drops the reply
 * slot, so a gateway stalled past a resume deadline failed a session start
 * whose answer was waiting.
 *
 * Same shape as the client's request multiplexing: one wildcard reply
 * subscription (made on first use, re-sent by the client on reconnect),
 * one reply subject per call, one timer per call (none added). A reply
 * with the server's no-responders status (503, empty body) rejects with the
 * client's NoRespondersError; close() rejects what is still waiting.
 */
import { createInbox, NoRespondersError, TimeoutError, type Msg, type MsgHdrs, type NatsConnection, type Subscription } from '@nats-io/transport-node';
import { deadlineTimer } from '../deadline.js';

interface Waiting { resolve: (m: Msg) => void; reject: (e: Error) => void; subject: string; timer: NodeJS.Timeout | undefined }

export class NatsRequests {
  private sub: Subscription | undefined;
  private prefix = '';
  private seq = 0;
  private readonly waiting = new Map<string, Waiting>();

  constructor(private readonly nc: NatsConnection) {}

  /** Rejects with the client's TimeoutError once the deadline is missed (deadline.ts's rule), NoRespondersError, or a publish error. */
  request(subject: string, data: Uint8Array, timeoutMs: number, headers?: MsgHdrs): Promise<Msg> {
    if (this.sub === undefined) {
      this.prefix = `${createInbox()}.`;
      this.sub = this.nc.subscribe(`${this.prefix}*`, { callback: (err, m) => { if (err === null) this.answer(m); } });
    }
    const token = (++this.seq).toString(36);
    return new Promise<Msg>((resolve, reject) => {
      const w: Waiting = { resolve, reject, subject, timer: undefined };
      this.waiting.set(token, w);
      w.timer = deadlineTimer(() => this.settle(token, w, new TimeoutError()), timeoutMs);
      try {
        this.nc.publish(subject, data, { reply: this.prefix + token, ...(headers ? { headers } : {}) });
      } catch (err) {
        this.settle(token, w, err instanceof Error ? err : new Error(String(err)));
      }
    });
  }

  /** Rejects every call still waiting (the connection closed: no reply can come). */
  close(err: Error): void {
    for (const [token, w] of [...this.waiting]) this.settle(token, w, err);
  }

  private answer(m: Msg): void {
    const token = m.subject.slice(this.prefix.length);
    const w = this.waiting.get(token);
    if (w === undefined) return; // late: its call already timed out
    if (m.data.length === 0 && m.headers?.code === 503) this.settle(token, w, new NoRespondersError(w.subject));
    else this.settle(token, w, undefined, m);
  }

  private settle(token: string, w: Waiting, err: Error | undefined, m?: Msg): void {
    if (this.waiting.get(token) !== w) return; // settled already (a stale deadline run after its reply)
    this.waiting.delete(token);
    if (w.timer !== undefined) clearTimeout(w.timer);
    if (err !== undefined) w.reject(err);
    else w.resolve(m!);
  }
}
