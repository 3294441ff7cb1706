/**
 * In-process Bus for standalone mode. Same semantics as NATS core (see
 * bus.ts): async delivery, wildcards, queue groups (round-robin within a
 * group), request/reply with timeout and no-responders.
 */
import { BusNoRespondersError, BusTimeoutError, subjectMatches, type Bus, type BusMessage, type Headers, type Subscription } from './bus.js';

interface Sub {
  pattern: string;
  queue: string | undefined;
  handler: (msg: BusMessage) => void;
  active: boolean;
}

/** Subjects whose matching subscriptions are remembered (cleared past this, and on every (un)subscribe). */
const MATCH_CACHE_MAX = 4096;

export class MemoryBus implements Bus {
  private subs: Sub[] = [];
  /**
   * Subject → matching subscriptions. A standalone router publishes one
   * offline notice per offline recipient (100,000 for a maximum batch), and
   * matching each against every subscription pattern dominated that work.
   */
  private readonly matches = new Map<string, Sub[]>();
  private readonly rr = new Map<string, number>();
  private readonly waiting = new Map<string, (msg: BusMessage) => void>();
  private nextInbox = 0;
  private closed = false;

  publish(subject: string, data: Uint8Array, headers?: Headers): void {
    this.dispatch({ subject, data, headers, reply: undefined });
  }

  interested(subject: string): boolean {
    if (this.closed) return false;
    return this.waiting.has(subject) || this.matching(subject).some((s) => s.active);
  }

  /** Returns how many subscribers the message was queued for. */
  private dispatch(msg: BusMessage): number {
    if (this.closed) return 0;
    const replyWaiter = this.waiting.get(msg.subject);
    if (replyWaiter) {
      queueMicrotask(() => replyWaiter(msg));
      return 1;
    }
    const matched = this.matching(msg.subject);
    if (matched.length === 0) return 0;
    const groups = new Map<string, Sub[]>();
    const targets: Sub[] = [];
    for (const s of matched) {
      if (!s.active) continue;
      if (s.queue === undefined) targets.push(s);
      else {
        const key = `${s.pattern} ${s.queue}`;
        const g = groups.get(key);
        if (g) g.push(s);
        else groups.set(key, [s]);
      }
    }
    for (const [key, members] of groups) {
      const i = (this.rr.get(key) ?? 0) % members.length;
      this.rr.set(key, i + 1);
      targets.push(members[i]!);
    }
    for (const s of targets) {
      queueMicrotask(() => {
        if (!s.active) return;
        try {
          s.handler(msg);
        } catch {
          // A throwing handler must not break delivery to others (NATS behaves the same).
        }
      });
    }
    return targets.length;
  }

  private matching(subject: string): Sub[] {
    let m = this.matches.get(subject);
    if (m === undefined) {
      m = this.subs.filter((s) => subjectMatches(s.pattern, subject));
      if (this.matches.size >= MATCH_CACHE_MAX) this.matches.clear();
      this.matches.set(subject, m);
    }
    return m;
  }

  subscribe(subject: string, handler: (msg: BusMessage) => void, opts?: { queue?: string }): Subscription {
    const sub: Sub = { pattern: subject, queue: opts?.queue, handler, active: true };
    this.subs.push(sub);
    this.matches.clear();
    return {
      unsubscribe: () => {
        sub.active = false;
        this.subs = this.subs.filter((s) => s !== sub);
        this.matches.clear();
      },
    };
  }

  request(subject: string, data: Uint8Array, opts: { timeoutMs: number; headers?: Headers }): Promise<BusMessage> {
    const reply = `_INBOX.${++this.nextInbox}`;
    return new Promise<BusMessage>((resolve, reject) => {
      const timer = setTimeout(() => {
        this.waiting.delete(reply);
        reject(new BusTimeoutError(subject, opts.timeoutMs));
      }, opts.timeoutMs);
      this.waiting.set(reply, (msg) => {
        clearTimeout(timer);
        this.waiting.delete(reply);
        resolve(msg);
      });
      const n = this.dispatch({ subject, data, headers: opts.headers, reply });
      if (n === 0) {
        clearTimeout(timer);
        this.waiting.delete(reply);
        reject(new BusNoRespondersError(subject));
      }
    });
  }

  respond(to: BusMessage, data: Uint8Array, headers?: Headers): void {
    if (to.reply !== undefined) this.dispatch({ subject: to.reply, data, headers, reply: undefined });
  }

  async flush(): Promise<void> {
    await new Promise<void>((r) => setImmediate(r));
  }

  async close(): Promise<void> {
    this.closed = true;
    for (const s of this.subs) s.active = false;
    this.subs = [];
    this.matches.clear();
  }
}
