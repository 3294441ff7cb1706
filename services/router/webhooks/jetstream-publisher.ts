/**
 * Puts webhook jobs on the JetStream queue, several per message.
 *
 * Group commit: per endpoint at most WINDOW messages wait for their PubAck;
 * jobs that come meanwhile gather in the next message, which leaves when a
 * PubAck frees the window (or at MAX_JOBS jobs / MAX_CHARS of bodies). At a
 * light load every job leaves at the end of the event-loop turn it was made
 * in, alone; under load messages grow with the PubAck's round trip, the
 * time a job waits here. JetStream's work (store, PubAck, hand-out, ack,
 * work-queue delete) and the client's are per message, and with every push
 * producing an event they were the largest cost of a webhook after the HTTP
 * request itself. What the push path was promised holds: its event is
 * handed to the queue in the background as the push is answered, and one
 * not yet confirmed when the router dies is lost (docs/webhooks.md); the
 * wait adds at most one PubAck round trip to that window.

 * Each message is a plain publish with a reply subject under one inbox
 * subscription: JetStream answers with its PubAck (or an error, or the
 * server a no-responders status), which settles every job of the message at
 * once. The client's js.publish costs about 15 times the CPU (a request
 * with its own promise, timer and parsed reply).
 */
import { createInbox, type Msg, type NatsConnection, type Subscription } from '@nats-io/transport-node';
import { encodeJobs, type QueuedJob } from './job-codec.js';
import { shareHeaders } from './jetstream-share.js';

/** Jobs per message at most: a crash between delivering and acking a message sends all of them again. */
export const MAX_JOBS = 64;
/** Body characters per message at most (≤ 3 bytes each in UTF-8: well under NATS's 1 MiB default max_payload). */
const MAX_CHARS = 256 * 1024;
/** Messages per subject waiting for their PubAck before the next one is held back. */
const WINDOW = 1;
/** A publish with no PubAck this long fails (JetStream unreachable). */
const PUBLISH_TIMEOUT_MS = 5000;

/** How messages are cut and written: the framed layout up to MAX_JOBS jobs, or one job per message in another layout. */
export interface PublisherLayout {
  maxJobs: number;
  encode(subject: string, jobs: readonly QueuedJob[]): Uint8Array;
}
const BATCH: PublisherLayout = { maxJobs: MAX_JOBS, encode: (_subject, jobs) => encodeJobs(jobs) };

interface Pending { resolve(): void; reject(err: Error): void; at: number; subject: string }
/** `charged`: some job carries a share tag (the message then carries the Longlink-Share header). */
interface Open { jobs: QueuedJob[]; chars: number; done: Promise<void>; settle: Pending; charged?: boolean }

const dec = new TextDecoder();

export class JobPublisher {
  private readonly inbox = createInbox();
  private readonly acks = new Map<number, Pending>();
  private nextAck = 0;
  private sub: Subscription | undefined;
  private sweep: NodeJS.Timeout | undefined;
  /** Per subject: the message being filled. */
  private readonly open = new Map<string, Open>();
  /** Per subject: messages sent and not yet answered. */
  private readonly unanswered = new Map<string, number>();
  /** Messages and jobs sent (the batching's effect, for the benchmarks). */
  messages = 0;
  jobs = 0;
  private flushTimer: NodeJS.Immediate | undefined;
  private closed = false;
  /** drain()'s wait: called once no message waits for its answer. */
  private idle: (() => void) | undefined;

  constructor(private readonly nc: NatsConnection, private readonly layout: PublisherLayout = BATCH) {}

  /**
   * Adds `job` to this turn's message for `subject`. Resolves once JetStream
   * has stored that message; every job of one message shares the promise.
   */
  add(subject: string, job: QueuedJob): Promise<void> {
    if (this.closed) return Promise.reject(new Error('webhook queue closed'));
    let o = this.open.get(subject);
    if (o !== undefined && (o.jobs.length >= this.layout.maxJobs || o.chars + job.body.length > MAX_CHARS)) {
      this.send(subject, o);
      o = undefined;
    }
    if (o === undefined) {
      let settle!: Pending;
      const done = new Promise<void>((resolve, reject) => { settle = { resolve, reject, at: 0, subject }; });
      o = { jobs: [], chars: 0, done, settle };
      this.open.set(subject, o);
      this.flushTimer ??= setImmediate(() => this.flush());
    }
    o.jobs.push(job);
    o.chars += job.body.length + job.id.length;
    if (job.share !== undefined) o.charged = true;
    return o.done;
  }

  /** Publishes `jobs` as one message now (a retry taken out of a batch); resolves on its PubAck. */
  publish(subject: string, jobs: QueuedJob[]): Promise<void> {
    if (this.closed) return Promise.reject(new Error('webhook queue closed'));
    let settle!: Pending;
    const done = new Promise<void>((resolve, reject) => { settle = { resolve, reject, at: 0, subject }; });
    this.send(subject, { jobs, chars: 0, done, settle, charged: jobs.some((j) => j.share !== undefined) });
    return done;
  }

  /** End of the turn: sends the messages being filled whose subject's window has room (all of them with `all`). */
  flush(all = false): void {
    if (this.flushTimer) clearImmediate(this.flushTimer);
    this.flushTimer = undefined;
    for (const [subject, o] of this.open) if (all || (this.unanswered.get(subject) ?? 0) < WINDOW) this.send(subject, o);
  }

  /** A PubAck (or its failure) for `subject`: the window has room again, and the message held back leaves. */
  private answered(subject: string): void {
    const u = (this.unanswered.get(subject) ?? 1) - 1;
    if (u > 0) this.unanswered.set(subject, u); else this.unanswered.delete(subject);
    const o = this.open.get(subject);
    if (o !== undefined && u < WINDOW) this.send(subject, o);
  }

  private send(subject: string, o: Open): void {
    if (this.open.get(subject) === o) this.open.delete(subject);
    this.listen();
    const n = this.nextAck++;
    o.settle.at = performance.now();
    this.acks.set(n, o.settle);
    this.unanswered.set(subject, (this.unanswered.get(subject) ?? 0) + 1);
    this.messages++;
    this.jobs += o.jobs.length;
    try {
      const hdrs = o.charged === true ? shareHeaders(o.jobs.map((j) => j.share)) : undefined;
      this.nc.publish(subject, this.layout.encode(subject, o.jobs), hdrs === undefined ? { reply: `${this.inbox}.${n}` } : { reply: `${this.inbox}.${n}`, headers: hdrs });
    } catch (err) {
      this.acks.delete(n);
      this.answered(subject);
      o.settle.reject(err instanceof Error ? err : new Error(String(err)));
      this.checkIdle();
    }
  }

  private checkIdle(): void { if (this.acks.size === 0) this.idle?.(); }

  private listen(): void {
    if (this.sub) return;
    // An error (the subscription denied) comes with no message: the waiting publishes time out below.
    this.sub = this.nc.subscribe(`${this.inbox}.*`, { callback: (err, m) => { if (err === null) this.onAck(m); } });
    this.sweep = setInterval(() => {
      const old = performance.now() - PUBLISH_TIMEOUT_MS;
      for (const [n, p] of this.acks) {
        if (p.at > old) break; // insertion order is time order
        this.acks.delete(n);
        this.answered(p.subject);
        p.reject(new Error('JetStream publish timed out'));
      }
      this.checkIdle();
    }, 1000);
    this.sweep.unref?.();
  }

  /** `<inbox>.<n>` settles message n. */
  private onAck(m: Msg): void {
    const n = Number(m.subject.slice(this.inbox.length + 1));
    const p = this.acks.get(n);
    if (!p) return;
    this.acks.delete(n);
    this.answered(p.subject);
    if (m.headers?.hasError || m.data.length === 0) p.reject(new Error(`JetStream publish failed: ${m.headers?.code ?? 'empty reply'} ${m.headers?.description ?? ''}`.trim()));
    else {
      const text = dec.decode(m.data);
      if (text.includes('"error"')) p.reject(new Error(`JetStream refused the event: ${text.slice(0, 200)}`));
      else p.resolve();
    }
    this.checkIdle();
  }

  /**
   * Sends what is being filled and waits, at most `ms`, until every message sent is answered: at close, a message
   * JetStream stored is then settled as stored (its share charge confirmed), not failed (and refunded) by close().
   */
  async drain(ms: number): Promise<void> {
    this.flush(true);
    if (this.acks.size === 0 || this.nc.isClosed()) return;
    let timer: NodeJS.Timeout | undefined;
    await new Promise<void>((resolve) => { this.idle = resolve; timer = setTimeout(resolve, ms); });
    clearTimeout(timer);
    this.idle = undefined;
  }

  /** Sends what is being filled; then fails whatever is not confirmed yet (drain() first to wait for the answers). */
  close(): void {
    this.flush(true);
    this.closed = true;
    if (this.sweep) clearInterval(this.sweep);
    this.sub?.unsubscribe();
    this.sub = undefined;
    for (const p of this.acks.values()) p.reject(new Error('webhook queue closed'));
    this.acks.clear();
  }
}
