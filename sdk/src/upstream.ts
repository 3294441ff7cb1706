/**
 * Upstream `send` with its own ack and timeout, and upstream requests.
 *
 * `send()` returns a promise that resolves when the gateway answers `sent`
 * (accepted for delivery to backends), rejects with `SendError` when the
 * answer carries an error, when `timeoutMs` passes, or when the client is
 * closed or reaches a terminal state.
 *
 * A send made while disconnected waits for the next connection (within its
 * timeout). If a connection drops before `sent` arrived, the outcome is
 * unknown, so the frame is sent again with the same id on the next connection
 * (docs/protocol.md §8: backends that need exactly-once de-duplicate by id).
 *
 * `request()` is a `send` with `reply: true`: it resolves with the backend's
 * reply (the `reply` frame's data) and rejects with `RequestError`, whose
 * `kind` and `code` say why: no backend listening, the backend's timeout, a
 * bad reply, too many requests in flight, or the client closed. Pending
 * requests are resent on a new connection like sends (same id).
 */
import { LIMITS, checkMessageId, checkTopic, encodeJson, type ReplyFrame, type SentFrame } from '../../protocol/index.js';
import type { Timer, Timers } from './timers.js';

export type SendErrorKind = 'rejected' | 'timeout' | 'closed';

export class SendError extends Error {
  constructor(readonly kind: SendErrorKind, message: string, readonly id: string) {
    super(message);
    this.name = 'SendError';
  }
}

export type RequestErrorKind = 'no-backend' | 'timeout' | 'bad-reply' | 'busy' | 'rejected' | 'unsupported' | 'closed';

/** Why a request() failed. `code` is the gateway's LL_ code when it sent one (docs/errors.md). */
export class RequestError extends Error {
  constructor(readonly kind: RequestErrorKind, message: string, readonly id: string, readonly code?: string) {
    super(message);
    this.name = 'RequestError';
  }
}

const KIND_OF_CODE: Readonly<Record<string, RequestErrorKind>> = {
  LL_UPSTREAM_NO_BACKEND: 'no-backend', LL_UPSTREAM_TIMEOUT: 'timeout', LL_UPSTREAM_BAD_REPLY: 'bad-reply', LL_UPSTREAM_BUSY: 'busy', LL_UPSTREAM_OVERLOADED: 'busy',
};

/** The gateway answers a timed-out request itself; the client's own timer waits this much longer for that answer. */
const REQUEST_GRACE_MS = 2000;

interface Pending {
  id: string;
  frame: string;
  /** A request (reply expected) rather than a send. */
  request: boolean;
  resolve: (v: unknown) => void;
  reject: (e: SendError | RequestError) => void;
  timer: Timer;
}

export class Upstream {
  private readonly pending = new Map<string, Pending>();
  private write: ((frame: string) => void) | undefined;
  private counter = 0;

  constructor(private readonly timers: Timers, private readonly newIdPrefix: string) {}

  get inFlight(): number { return this.pending.size; }

  send(topic: string, data: unknown, timeoutMs: number, id?: string): Promise<void> {
    return this.start(topic, data, timeoutMs, id, false).then(() => undefined);
  }

  /** A send with `reply: true`; `timeoutMs` is the gateway's wait for the backend (clamped to the protocol's bounds). */
  request(topic: string, data: unknown, timeoutMs: number, id?: string): Promise<unknown> {
    return this.start(topic, data, Math.min(LIMITS.maxReplyTimeoutMs, Math.max(LIMITS.minReplyTimeoutMs, Math.round(timeoutMs))), id, true);
  }

  private start(topic: string, data: unknown, timeoutMs: number, id: string | undefined, request: boolean): Promise<unknown> {
    const msgId = id ?? `${this.newIdPrefix}${(this.counter++).toString(36)}`;
    const error = (kind: 'rejected' | 'timeout', message: string) => (request ? new RequestError(kind, message, msgId) : new SendError(kind, message, msgId));
    // Refused here, before anything is sent: the gateway would close the connection (4008) on such a frame.
    const bad = checkTopic(topic) ?? checkMessageId(msgId);
    if (bad !== undefined) return Promise.reject(error('rejected', `${checkTopic(topic) !== undefined ? 'topic' : 'id'} ${bad}`));
    if (this.pending.has(msgId)) return Promise.reject(error('rejected', `a send with id ${msgId} is already in flight`));
    return new Promise<unknown>((resolve, reject) => {
      const frame = encodeJson(request ? { op: 'send', id: msgId, topic, data, reply: true, timeoutMs } : { op: 'send', id: msgId, topic, data });
      const wait = request ? timeoutMs + REQUEST_GRACE_MS : timeoutMs;
      const timer = this.timers.setTimeout(() => {
        this.pending.delete(msgId);
        reject(error('timeout', `no ${request ? 'reply' : '"sent"'} for ${msgId} within ${wait} ms`));
      }, wait);
      this.pending.set(msgId, { id: msgId, frame, request, resolve, reject, timer });
      this.write?.(frame);
    });
  }

  /** A connection is ready: (re)send everything not yet answered. */
  attach(write: (frame: string) => void): void {
    this.write = write;
    for (const p of this.pending.values()) write(p.frame);
  }

  detach(): void {
    this.write = undefined;
  }

  onSent(f: SentFrame): void {
    const p = this.pending.get(f.id);
    if (p === undefined) return; // late answer after a timeout, or a duplicate after a resend
    this.pending.delete(f.id);
    p.timer.cancel();
    // A request answered `sent`: a gateway that predates replies forwarded it as a plain send.
    if (p.request) p.reject(new RequestError(f.error === undefined ? 'unsupported' : 'rejected', f.error ?? 'the gateway does not support replies', f.id, f.error));
    else if (f.error === undefined) p.resolve(undefined);
    else p.reject(new SendError('rejected', f.error, f.id));
  }

  onReply(f: ReplyFrame): void {
    const p = this.pending.get(f.id);
    if (p === undefined || !p.request) return; // late, duplicate, or not a request of ours
    this.pending.delete(f.id);
    p.timer.cancel();
    if ('error' in f) p.reject(new RequestError(KIND_OF_CODE[f.error] ?? 'rejected', f.message ?? f.error, f.id, f.error));
    else p.resolve(f.data);
  }

  rejectAll(message: string): void {
    const all = [...this.pending.values()];
    this.pending.clear();
    for (const p of all) {
      p.timer.cancel();
      p.reject(p.request ? new RequestError('closed', message, p.id) : new SendError('closed', message, p.id));
    }
  }
}
