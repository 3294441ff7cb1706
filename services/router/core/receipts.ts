/**
 * Receipts for pushes sent with `await_ms`, of two kinds:
 *
 * - Delivery receipts: the router tags such deliveries with its own receipt
 *   subject; a gateway that handed the push to at least one live connection
 *   of the user publishes `{user, seqs, gateway}` there. "Delivered" means
 *   written to the user's socket(s) on a gateway, not read by the app.
 * - Ack receipts (`await: "acked"`): a device of the user acked the push.
 *   Acks reach one router of the queue group, which publishes an AckEvent
 *   per newly acked push on the acked subject; every router hears them and
 *   settles its own waiters here. Acks are cumulative, so an event for seq N
 *   settles every waiter of that user at or below N.
 *
 * A waiter not settled within its timeout resolves false: the push is then
 * `stored` or `delivered` (it stays in the inbox and arrives on the next
 * resume). The waits are deadlines of a request in flight, not protocol
 * time: real timers, and they follow shared/deadline.ts, so a router stalled
 * past a wait (CPU starvation, GC, SIGSTOP) takes a receipt that reached its
 * socket in time instead of reporting the push `stored`.
 */
import type { AckEvent, DeliveryReceipt } from '../../shared/bus/messages.js';
import { deadlineTimer } from '../../shared/deadline.js';
import { bump } from '../../shared/stats.js';
import type { ValidPush } from './push-input.js';
import type { PushOutcome } from './router-types.js';

/**
 * Turns `sent` into `acked` (awaiting acks, and a device acked in time),
 * `delivered` or `stored` for the pushes that asked to await receipts
 * (counted per status in `counts`), and drops the internal promises from
 * the results.
 */
export async function settleReceipts(pushes: readonly ValidPush[], outcomes: PushOutcome[], counts: Map<string, number>): Promise<PushOutcome[]> {
  await Promise.all(outcomes.map(async (o, i) => {
    if (pushes[i]!.awaitMs === undefined) return;
    await Promise.all(o.results.map(async (r) => {
      if (r.status !== 'sent') return;
      if (r.ackReceipt !== undefined && await r.ackReceipt) r.status = 'acked';
      else r.status = (await r.receipt) ? 'delivered' : 'stored';
      bump(counts, r.status);
    }));
    for (const r of o.results) { delete r.receipt; delete r.ackReceipt; }
  }));
  return outcomes;
}

export class ReceiptWaiter {
  private readonly waiting = new Map<string, () => void>();
  /** user → seq → settle, for ack receipts. */
  private readonly ackWaiting = new Map<string, Map<number, () => void>>();

  /** Resolves true when a delivery receipt for (user, seq) arrives within timeoutMs, else false. */
  expect(user: string, seq: number, timeoutMs: number): Promise<boolean> {
    const key = `${seq}\u0000${user}`;
    return new Promise((resolve) => {
      let settled = false;
      const settle = (ok: boolean): void => {
        if (settled) return; // a receipt read after the timer fired settled it first
        settled = true;
        clearTimeout(timer);
        if (this.waiting.get(key) === done) this.waiting.delete(key);
        resolve(ok);
      };
      const done = (): void => settle(true);
      const timer = deadlineTimer(() => settle(false), timeoutMs).ref(); // ref'd as before: a waiting push keeps the process up
      this.waiting.set(key, done);
    });
  }

  receive(r: DeliveryReceipt): void {
    for (const seq of r.seqs) {
      const done = this.waiting.get(`${seq}\u0000${r.user}`);
      if (done) done();
    }
  }

  /** Whether any push awaits an ack: lets the bus link skip decoding ack events nobody here waits for. */
  get awaitingAcks(): boolean { return this.ackWaiting.size > 0; }

  /** Resolves true when a device of `user` acks `seq` (or a later seq) within timeoutMs, else false. */
  expectAck(user: string, seq: number, timeoutMs: number): Promise<boolean> {
    return new Promise((resolve) => {
      let forUser = this.ackWaiting.get(user);
      if (!forUser) this.ackWaiting.set(user, forUser = new Map());
      let settled = false;
      const settle = (ok: boolean): void => {
        if (settled) return; // an ack read after the timer fired settled it first
        settled = true;
        clearTimeout(timer);
        const m = this.ackWaiting.get(user);
        if (m?.get(seq) === done) {
          m.delete(seq);
          if (m.size === 0) this.ackWaiting.delete(user);
        }
        resolve(ok);
      };
      const done = (): void => settle(true);
      const timer = deadlineTimer(() => settle(false), timeoutMs).ref(); // ref'd as before: a waiting push keeps the process up
      forUser.set(seq, done);
    });
  }

  /** An ack receipt: settles this user's waiters at or below its seq (acks are cumulative). */
  acked(ev: Pick<AckEvent, 'user' | 'seq'>): void {
    const forUser = this.ackWaiting.get(ev.user);
    if (!forUser) return;
    for (const [seq, done] of [...forUser]) if (seq <= ev.seq) done();
  }
}
