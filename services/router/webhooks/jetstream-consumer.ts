/**
 * One endpoint's deliveries out of the JetStream queue: fetches messages,
 * fans each message's jobs out to `handle` (at most `concurrency` attempts
 * at once) and settles the message once every job in it is settled.
 *
 * Leases, per message (JetStream's unit):
 *  - a message of one job settles as before: ack, NAK with the retry delay
 *    (JetStream counts deliveries: the attempt number), or dead-letter + ack;
 *  - a message of several jobs is acked when each of its jobs is delivered,
 *    dead-lettered (stored first) or, when it failed, re-published on its own
 *    with its attempt count and the time before which it waits (stored
 *    first). A router that dies before that sends the whole message again
 *    after its lease: jobs already delivered go out twice, with the same
 *    webhook-id (at-least-once, as a crash mid-attempt always did).
 *  - If storing a retry or a dead letter fails, the store is tried again
 *    every FAILED_AGAIN_MS while the message stays held (its lease renewed):
 *    the message's other jobs are not sent again. Only a consumer stopped
 *    meanwhile, or an attempt that ends without settling its job, leaves the
 *    message unsettled: it comes back whole, as after a crash.
 *  - The fast path (NAK with the retry delay, JetStream counting attempts)
 *    is only for a message of one new job: a job re-published with its count
 *    may have been held back once or not, so its deliveries do not count its
 *    attempts; it is re-published again with the count.
 * Messages are fetched only while fewer than `cap` jobs are held here, and
 * every held message's lease is extended (working) every third of ack_wait,
 * so jobs waiting for a slot behind a slow receiver do not come back while
 * they wait.
 * Share tags (jetstream-share.ts): a settled message reports the tags of
 * its jobs that left the queue (delivered or dead-lettered) to `settled`,
 * each with its charge's id (released once across the routers, however
 * often the message or copies of the job settle); a job re-published for a
 * retry takes its tag and id along instead, and reports nothing.
 */
import type { Consumer, ConsumerMessages, JsMsg } from '@nats-io/jetstream';
import type { Logger } from '../../shared/log.js';
import type { LeasedJob, QueueConsumer } from './core/queue.js';
import type { DeadLetter, WebhookJob } from './core/types.js';
import { decodeJobs, type QueuedJob } from './job-codec.js';
import { MAX_JOBS } from './jetstream-publisher.js';
import { readShareTags, type ShareTag } from './jetstream-share.js';

/** A fetch waits this long for messages before it is renewed (JetStream's minimum is 1 s). */
const FETCH_EXPIRES_MS = 5000;
/** A retry or dead letter that could not be stored is tried again after this (ms). */
const FAILED_AGAIN_MS = 5000;
/** A job re-published with a wait comes back this early at most without being held back again. */
const EARLY_SLACK_MS = 5;

export interface JobConsumerOptions {
  consumer: Consumer;
  endpoint: string;
  concurrency: number;
  /** The consumer's ack_wait (one attempt's limit + 5 s). */
  ackWaitMs: number;
  handle(j: LeasedJob): Promise<void>;
  /** Stores one job as a message of its own on the endpoint's subject; resolves once stored. */
  requeue(job: QueuedJob): Promise<void>;
  /** Stores a dead letter (`tag`: its job's share charge); resolves once stored, false when dropped over its user's dead-letter share. */
  bury(letter: DeadLetter, tag?: ShareTag): Promise<boolean>;
  /** Acks a message (acks of one turn leave together). */
  ack(m: JsMsg): void;
  /** Charged jobs that left the queue with a settled message (their origins release them). */
  settled?(tags: ShareTag[]): void;
  log: Logger;
}

interface Held { m: JsMsg; left: number; started: number; failed: boolean; readonly single: boolean; gone?: ShareTag[] }
interface Ready { h: Held; job: WebhookJob; attempt: number; done: boolean; tag?: ShareTag }

export async function consumeJobs(o: JobConsumerOptions): Promise<QueueConsumer> {
  const held = new Set<Held>();
  const ready: Ready[] = [];
  // Jobs held here (waiting for a slot or in an attempt); messages are fetched below half of `cap`.
  const cap = Math.max(o.concurrency * 4, 64);
  let heldJobs = 0, active = 0, stopped = false;
  // Jobs per message, smoothed; starts at the most a message holds, so a first fetch into a backlog takes `cap` jobs, not `cap` messages.
  let perMessage = MAX_JOBS;
  let malformed = 0, lastMalformedWarn = -Infinity;
  let wake: (() => void) | undefined;
  let current: ConsumerMessages | undefined;
  const wakeUp = (): void => { const w = wake; wake = undefined; w?.(); };
  const keep = setInterval(() => { for (const h of held) h.m.working(); }, Math.max(1000, Math.floor(o.ackWaitMs / 3)));
  keep.unref?.();

  const settled = (h: Held, ok: boolean): void => {
    if (!ok) h.failed = true;
    if (--h.left > 0) return;
    held.delete(h);
    if (h.failed) { h.m.nak(FAILED_AGAIN_MS); return; }
    o.ack(h.m);
    if (h.gone !== undefined && h.gone.length > 0) o.settled?.(h.gone);
  };

  /** Settles r's job once (an attempt that ends without settling it is settled as failed by pump); `moved`: re-published, its tag with it. */
  const settle = (r: Ready, ok: boolean, moved = false): void => {
    if (r.done) return;
    r.done = true;
    // A job re-published carries its charge on (its copy reports it when it leaves). A message settled twice (its
    // ack lost) reports its charges twice: every router releases a charge id once.
    if (ok && !moved && r.tag !== undefined) (r.h.gone ??= []).push(r.tag);
    settled(r.h, ok);
  };

  const lease = (r: Ready): LeasedJob => {
    const { h, job } = r;
    // Stores until it succeeds or the consumer stops (then the message comes back whole after its lease).
    const guard = async <T>(store: () => Promise<T>, moved: boolean): Promise<T> => {
      for (;;) {
        try {
          const v = await store();
          settle(r, true, moved);
          return v;
        } catch (err) {
          if (stopped) { settle(r, false); throw err; }
          o.log.warn({ err: String(err), endpoint: o.endpoint }, 'webhook retry or dead letter not stored; trying again');
          await new Promise((w) => setTimeout(w, FAILED_AGAIN_MS));
        }
      }
    };
    return {
      job, attempt: r.attempt,
      ack: async () => { settle(r, true); },
      retry: async (delayMs) => {
        if (h.single) { r.done = true; held.delete(h); h.left = 0; h.m.nak(Math.max(1, Math.round(delayMs))); return; }
        await guard(() => o.requeue({ id: job.id, type: job.type, createdAt: job.createdAt, body: job.body, attempts: r.attempt, notBefore: Date.now() + Math.max(1, Math.round(delayMs)), share: r.tag }), true);
      },
      dead: (letter) => guard(() => o.bury(letter, r.tag), false),
      working: () => h.m.working(),
    };
  };

  const pump = (): void => {
    while (!stopped && active < o.concurrency && ready.length > 0) {
      const r = ready.shift()!;
      active++;
      r.h.started++;
      void o.handle(lease(r)).catch(() => undefined).finally(() => { settle(r, false); active--; heldJobs--; pump(); if (heldJobs <= cap / 2) wakeUp(); });
    }
  };

  const take = (m: JsMsg): void => {
    const jobs = decodeJobs(m.data);
    if (jobs === undefined) {
      const tags = o.settled ? readShareTags(m.headers).filter((t) => t !== undefined) : [];
      if (tags.length > 0) o.settled!(tags);
      malformed++;
      if (performance.now() - lastMalformedWarn > 10_000) {
        lastMalformedWarn = performance.now();
        o.log.warn({ endpoint: o.endpoint, seq: m.seq, bytes: m.data.length, malformed }, 'malformed webhook queue message dropped');
      }
      m.term('malformed webhook job');
      return;
    }
    const now = Date.now();
    if (jobs.length === 1 && jobs[0]!.notBefore > now + EARLY_SLACK_MS) { m.nak(jobs[0]!.notBefore - now); return; }
    const h: Held = { m, left: jobs.length, started: 0, failed: false, single: jobs.length === 1 && jobs[0]!.notBefore === 0 && jobs[0]!.attempts === 0 };
    held.add(h);
    heldJobs += jobs.length;
    perMessage = perMessage * 0.8 + jobs.length * 0.2;
    const deliveries = m.info.deliveryCount;
    const tags = o.settled ? readShareTags(m.headers, jobs.length) : [];
    for (const [i, q] of jobs.entries()) {
      // Deliveries of this message count as attempts, less the one held back until notBefore.
      const attempt = q.attempts + Math.max(1, deliveries - (q.notBefore > 0 ? 1 : 0));
      ready.push({ h, attempt, done: false, tag: tags[i], job: { id: q.id, endpoint: o.endpoint, type: q.type, createdAt: q.createdAt, body: q.body } });
    }
    pump();
  };

  const done = (async () => {
    let lastWarn = -Infinity;
    while (!stopped) {
      if (heldJobs > cap / 2) { await new Promise<void>((r) => { wake = r; }); continue; }
      try {
        current = await o.consumer.fetch({ max_messages: Math.max(1, Math.min(256, Math.floor((cap - heldJobs) / perMessage))), expires: FETCH_EXPIRES_MS });
        if (stopped) current.stop(); // stopped while the fetch was being set up
        for await (const m of current) {
          if (stopped) m.nak(); else take(m);
        }
      } catch (err) {
        if (stopped) break;
        if (performance.now() - lastWarn > 10_000) { lastWarn = performance.now(); o.log.warn({ err: String(err), endpoint: o.endpoint }, 'webhook fetch failed'); }
        await new Promise((r) => setTimeout(r, 1000));
      } finally {
        current = undefined;
      }
    }
  })();

  return {
    stop: async () => {
      stopped = true;
      clearInterval(keep);
      current?.stop();
      wakeUp();
      await done;
      // Messages none of whose jobs started go back now; the rest come back after their lease.
      for (const h of held) if (h.started === 0) { held.delete(h); h.m.nak(); }
      ready.length = 0;
    },
  };
}
