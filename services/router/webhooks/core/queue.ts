/**
 * The durable queue behind webhooks, as a contract: the dispatcher and the
 * sink see only this, and the adapters implement it (jetstream-queue.ts over
 * NATS JetStream in cluster mode: survives router restarts and is shared by
 * every router; memory-queue.ts in standalone mode and unit tests: lost with
 * the process). Delivery is at-least-once: a job handed out and neither
 * acked, retried nor dead-lettered (its router died) is handed out again
 * after the adapter's lease, with the same job (same webhook-id).
 */
import type { ShareCorrections } from './stats.js';
import type { DeadLetter, WebhookJob } from './types.js';

/** A job without its endpoint: an event's copies differ in nothing else. */
export type WebhookEvent = Omit<WebhookJob, 'endpoint'>;

/** A job handed to one consumer; exactly one of ack / retry / dead ends the lease. */
export interface LeasedJob {
  readonly job: WebhookJob;
  /** 1 on the first attempt. Counts hand-outs, so a lease lost with a dead router counts too. */
  readonly attempt: number;
  /** Delivered: gone from the queue. */
  ack(): Promise<void>;
  /** Hand it out again after `delayMs`. */
  retry(delayMs: number): Promise<void>;
  /**
   * Move it to the dead letters (then gone from the queue). Resolves false when
   * the dead letter was dropped instead: its user (the key the job was charged
   * to) already holds its share of the dead letters (the same numbers as the
   * queue's share, counted apart); the job still leaves the queue.
   */
  dead(letter: DeadLetter): Promise<boolean>;
  /** Still working on it: extends the lease (slow receivers). */
  working(): void;
}

export interface QueueConsumer {
  stop(): Promise<void>;
}

export interface WebhookQueue {
  /**
   * One event's copies, one per endpoint, together (what the sink enqueues);
   * one promise per copy, in `endpoints` order. A copy's promise resolves once
   * the queue holds it durably (the adapter's meaning of durable). It rejects
   * past the queue's bound, or, for an event with a `key` when the adapter has
   * a share (core/share.ts), with WebhookShareError once that key holds its
   * share. Copies are refused in order, as if enqueued one after another: a
   * refusal holds for every later copy (same size), so the copies stored are
   * the first ones. The event's size and its share charge (the user's key,
   * hashed once where the adapter hashes it) are worked out once for all of
   * them. A job is charged only here, so its retries are never refused, and
   * a replayed dead letter is not charged.
   */
  enqueueEvent(event: WebhookEvent, endpoints: readonly string[]): Array<Promise<void>>;
  /** Hands `endpoint`'s jobs to `handle`, at most `concurrency` at once across this consumer. */
  consume(endpoint: string, concurrency: number, handle: (j: LeasedJob) => Promise<void>): Promise<QueueConsumer>;
  /** Entries of the endpoint not yet delivered (waiting, in flight or waiting for a retry): jobs, or messages of several jobs (the adapter's unit). */
  depth(endpoint: string): Promise<number>;
  deadCount(endpoint: string): Promise<number>;
  /** The oldest dead letters of the endpoint, at most `limit`. */
  listDead(endpoint: string, limit: number): Promise<DeadLetter[]>;
  /**
   * Puts up to `limit` of the endpoint's oldest dead letters back in the
   * queue, with their webhook-id and a fresh retry horizon; returns how many.
   */
  replayDead(endpoint: string, limit: number): Promise<number>;
  close(): Promise<void>;
  /** The cluster shares' corrections (JetStream): the queue's and the dead letters', where this queue keeps them. */
  readonly corrections?: { queue?: ShareCorrections; dead?: ShareCorrections };
}
