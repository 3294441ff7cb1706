/**
 * Delivery receipts for pushes sent with `await_ms`. The router tags such
 * deliveries with its own receipt subject; a gateway that handed the push to
 * at least one live connection of the user publishes
 * `{user, seqs, gateway}` there. A push whose receipt arrives in time is
 * `delivered`; one without is `stored` (it stays in the inbox and arrives on
 * the next resume). "Delivered" means written to the user's socket(s) on a
 * gateway, not read by the app: app-level reads are the client's acks.
 */
import type { DeliveryReceipt } from '../../shared/bus/messages.js';

export class ReceiptWaiter {
  private readonly waiting = new Map<string, () => void>();

  /** Resolves true when a receipt for (user, seq) arrives within timeoutMs, else false. */
  expect(user: string, seq: number, timeoutMs: number): Promise<boolean> {
    const key = `${seq}\u0000${user}`;
    return new Promise((resolve) => {
      const timer = setTimeout(() => {
        this.waiting.delete(key);
        resolve(false);
      }, timeoutMs);
      this.waiting.set(key, () => {
        clearTimeout(timer);
        this.waiting.delete(key);
        resolve(true);
      });
    });
  }

  receive(r: DeliveryReceipt): void {
    for (const seq of r.seqs) {
      const done = this.waiting.get(`${seq}\u0000${r.user}`);
      if (done) done();
    }
  }

}
