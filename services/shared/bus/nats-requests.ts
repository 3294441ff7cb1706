/**
 * Requests for nats-bus.ts with deadlines that follow shared/deadline.ts: a
 * reply that reached the socket before a stalled process (CPU starvation, a
 * long GC, SIGSTOP) got to run again is taken, not timed out. The client's
 * own request() cannot do that: its timer, an expired one running before
 * the poll phase reads the reply, rejects the call and drops the reply
 * slot, so a gateway stalled past a resume deadline failed a session start
 * whose answer was waiting.
 *
 * Same shape and error handling as the client's request multiplexing
 * (nats-core 3.4 muxsubscription.ts and protocol.ts processError):
 *  - one wildcard reply subscription, made on first use and re-sent by the
 *    client on reconnect; one reply subject and one timer per call (none
 *    added);
 *  - a reply with the server's no-responders status (503, empty body)
 *    rejects its call with the client's NoRespondersError;
 *  - the reply subscription failing (the server denied it: a
 *    PermissionViolationError for `Subscription to "<inbox>.*"`, or it
 *    closed) rejects every waiting call at once with that error and drops
 *    the subscription; the next request subscribes again on a new inbox
 *    (so a permission fixed by a config reload heals without a restart);
 *  - a denied request publish (`Permissions Violation for Publish to
 *    "<subject>"`, reported only as a connection error event, which
 *    nats-bus.ts passes to publishDenied()) rejects the oldest waiting call
 *    on that subject at once with the PermissionViolationError, instead of
 *    a timeout after its whole deadline. Like the client, a denied plain
 *    publish on the same subject is taken for that call;
 *  - close() rejects what is still waiting; a request made while the
 *    connection drains or after it closed is refused at once and not sent
 *    (the client's own check), so a responder never acts on it;
 *  - reply inboxes are `_INBOX.<nuid>.<token>` (the client's default
 *    prefix; connections here are made without another one).
 */
import {
  ClosedConnectionError, createInbox, DrainingConnectionError, NoRespondersError, PermissionViolationError, TimeoutError,
  type Msg, type MsgHdrs, type NatsConnection, type Subscription,
} from '@nats-io/transport-node';
import { deadlineTimer } from '../deadline.js';

interface Waiting { resolve: (m: Msg) => void; reject: (e: Error) => void; subject: string; timer: NodeJS.Timeout | undefined }

export class NatsRequests {
  private sub: Subscription | undefined;
  private prefix = '';
  private seq = 0;
  private readonly waiting = new Map<string, Waiting>();

  constructor(private readonly nc: NatsConnection) {}

  /**
   * Rejects with the client's TimeoutError once the deadline is missed
   * (deadline.ts's rule), NoRespondersError, PermissionViolationError (reply
   * subscription or request publish denied), or a publish error.
   */
  request(subject: string, data: Uint8Array, timeoutMs: number, headers?: MsgHdrs): Promise<Msg> {
    if (this.nc.isClosed()) return Promise.reject(new ClosedConnectionError());
    if (this.nc.isDraining()) return Promise.reject(new DrainingConnectionError());
    if (this.sub === undefined) {
      try {
        this.subscribe();
      } catch (err) {
        return Promise.reject(err instanceof Error ? err : new Error(String(err)));
      }
    }
    const token = (++this.seq).toString(36);
    const reply = this.prefix + token;
    return new Promise<Msg>((resolve, reject) => {
      const w: Waiting = { resolve, reject, subject, timer: undefined };
      this.waiting.set(token, w);
      w.timer = deadlineTimer(() => this.settle(token, w, new TimeoutError()), timeoutMs);
      try {
        this.nc.publish(subject, data, { reply, ...(headers ? { headers } : {}) });
      } catch (err) {
        this.settle(token, w, err instanceof Error ? err : new Error(String(err)));
      }
    });
  }

  /** A connection error event: a publish permission violation fails the oldest call waiting on that subject. */
  publishDenied(err: unknown): void {
    if (!(err instanceof PermissionViolationError) || err.operation !== 'publish') return;
    for (const [token, w] of this.waiting) {
      if (w.subject === err.subject) { this.settle(token, w, err); return; }
    }
  }

  /** Rejects every call still waiting (the connection closed: no reply can come). */
  close(err: Error): void {
    this.failAll(err);
  }

  /** Calls now waiting for a reply (tests, metrics). */
  get size(): number {
    return this.waiting.size;
  }

  private subscribe(): void {
    this.prefix = `${createInbox()}.`;
    const sub = this.nc.subscribe(`${this.prefix}*`, {
      callback: (err, m) => {
        if (err === null) this.answer(m);
        else this.dropped(sub, err);
      },
    });
    this.sub = sub;
    // Closed without an error callback (drained, or the connection closed): no reply can come on it.
    void sub.closed.then((err) => { this.dropped(sub, err instanceof Error ? err : new ClosedConnectionError()); });
  }

  /** The reply subscription failed: forget it (the next request subscribes again) and fail every waiting call. */
  private dropped(sub: Subscription, err: Error): void {
    if (this.sub !== sub) return; // an older subscription, already replaced
    this.sub = undefined;
    this.failAll(err);
  }

  private failAll(err: Error): void {
    for (const [token, w] of [...this.waiting]) this.settle(token, w, err);
  }

  private answer(m: Msg): void {
    if (!m.subject.startsWith(this.prefix)) return; // a late reply to a dropped inbox
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
