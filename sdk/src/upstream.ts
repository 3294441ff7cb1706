/**
 * Upstream `send` with its own ack and timeout.
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
 */
import { checkMessageId, checkTopic, encodeJson, type SentFrame } from '../../protocol/index.js';
import type { Timer, Timers } from './timers.js';

export type SendErrorKind = 'rejected' | 'timeout' | 'closed';

export class SendError extends Error {
  constructor(readonly kind: SendErrorKind, message: string, readonly id: string) {
    super(message);
    this.name = 'SendError';
  }
}

interface Pending {
  id: string;
  frame: string;
  resolve: () => void;
  reject: (e: SendError) => void;
  timer: Timer;
}

export class Upstream {
  private readonly pending = new Map<string, Pending>();
  private write: ((frame: string) => void) | undefined;
  private counter = 0;

  constructor(private readonly timers: Timers, private readonly newIdPrefix: string) {}

  get inFlight(): number { return this.pending.size; }

  send(topic: string, data: unknown, timeoutMs: number, id?: string): Promise<void> {
    const msgId = id ?? `${this.newIdPrefix}${(this.counter++).toString(36)}`;
    // Refused here, before anything is sent: the gateway would close the connection (4008) on such a frame.
    const bad = checkTopic(topic) ?? checkMessageId(msgId);
    if (bad !== undefined) return Promise.reject(new SendError('rejected', `${checkTopic(topic) !== undefined ? 'topic' : 'id'} ${bad}`, msgId));
    if (this.pending.has(msgId)) return Promise.reject(new SendError('rejected', `a send with id ${msgId} is already in flight`, msgId));
    return new Promise<void>((resolve, reject) => {
      const frame = encodeJson({ op: 'send', id: msgId, topic, data });
      const timer = this.timers.setTimeout(() => {
        this.pending.delete(msgId);
        reject(new SendError('timeout', `no "sent" for ${msgId} within ${timeoutMs} ms`, msgId));
      }, timeoutMs);
      this.pending.set(msgId, { id: msgId, frame, resolve, reject, timer });
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
    if (f.error === undefined) p.resolve();
    else p.reject(new SendError('rejected', f.error, f.id));
  }

  rejectAll(message: string): void {
    const all = [...this.pending.values()];
    this.pending.clear();
    for (const p of all) {
      p.timer.cancel();
      p.reject(new SendError('closed', message, p.id));
    }
  }
}
