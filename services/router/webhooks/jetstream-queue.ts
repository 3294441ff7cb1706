/**
 * The webhook queue on NATS JetStream (cluster mode): durable on the NATS
 * servers (file storage), so queued events survive a router restart, and
 * shared by every router.
 *
 *  - Stream `<P>_webhooks` (subjects `<prefix>.webhooks.q.<endpoint>`,
 *    work-queue retention: a job is gone once acked). One durable pull
 *    consumer per endpoint (`wh_<endpoint>`), shared by the routers, so a
 *    dead receiver's backlog never holds up another endpoint. Explicit acks:
 *    a job whose router dies mid-attempt is redelivered after `ack_wait`
 *    (attempt time limit + 5 s) with the same body, hence the same webhook-id.
 *    Retries are NAKs with a delay, JetStream counting the deliveries (the
 *    attempt number), or for a job out of a message of several, the job
 *    re-published on its own with its count.
 *  - Stream `<P>_webhooks_dead` (subjects `<prefix>.webhooks.dead.<endpoint>`,
 *    limits retention, kept `deadTtlMs` and at most `deadMaxBytes`, the
 *    longest-dead dropped first, where JetStream storage can reserve that
 *    bound; an operator's bound is kept): dead letters, counted per subject
 *    and replayed by re-publishing them to the queue and deleting them.
 * Jobs travel several to a message (jetstream-publisher.ts: the jobs of
 * one event-loop turn per endpoint; job-codec.ts: the layout), and the
 * consumer fans them out and settles each message once all its jobs are
 * settled (jetstream-consumer.ts, where the lease rules are). The depth
 * counts messages: one event each at a light load, up to MAX_JOBS under a
 * heavy one.
 * Replays carry a `Nats-Msg-Id` of their own, so a replay retried within the
 * stream's duplicate window is stored once.
 * With `share`, each user holds at most its share of what the routers
 * queued (jetstream-share.ts: a ledger per router, released by the settle
 * notices of whichever router delivers, plus the other routers' charges as
 * they announce them).
 * With `deadShare` (default: `share`), each user holds at most that share of
 * the dead letters too, kept the same way on subjects of its own: the router
 * that buries a job charges the key of the job's share tag, the dead letter
 * records its charge (`share`), and a replay reports it settled; a dead
 * letter past its user's share is not stored (bury resolves false). Dead
 * letters the stream drops (max_age, its byte bound) report nothing: their
 * charges lapse after `deadTtlMs` + 1 min. Across the routers, like the queue's share.
 */
import { AckPolicy, DeliverPolicy, DiscardPolicy, jetstream, jetstreamManager, JetStreamApiError, RetentionPolicy, StorageType, type JetStreamClient, type JetStreamManager, type JsMsg, type StreamConfig } from '@nats-io/jetstream';
import type { NatsConnection } from '@nats-io/transport-node';
import type { Logger } from '../../shared/log.js';
import type { LeasedJob, QueueConsumer, WebhookEvent, WebhookQueue } from './core/queue.js';
import type { DeadLetter, WebhookJob } from './core/types.js';
import { consumeJobs } from './jetstream-consumer.js';
import { JobPublisher } from './jetstream-publisher.js';
import { encodeJobJson, encodeJobs } from './job-codec.js';
import type { ShareLimits } from './core/share.js';
import { copyTag, formatShareTag, JetStreamShare, keyOf, parseShareTag, ShareNotices, type ShareTag, type ShareTiming } from './jetstream-share.js';

export interface JetStreamQueueOptions {
  nc: NatsConnection;
  /** The subject prefix (LONGLINK_SUBJECT_PREFIX). */
  prefix: string;
  log: Logger;
  /** One attempt's limit: the lease (ack_wait) is this + 5 s. */
  timeoutMs: number;
  /** Queued jobs older than this + 1 h are dropped by the stream (they are dead-lettered long before). */
  horizonMs: number;
  deadTtlMs: number;
  /**
   * How jobs are written (LONGLINK_WEBHOOK_QUEUE_LAYOUT): "batch", several per
   * message in the framed layout; "single", one per message in the JSON
   * layout that routers before the framed one read (for a rolling update from
   * such a release). Both are read. Default "batch".
   */
  layout?: 'batch' | 'single';
  /** Bytes the queue stream may hold; past it new events are refused (counted as dropped). Default 1 GiB. */
  maxBytes?: number;
  /** Bytes the dead-letter stream may hold; past it the longest-dead are dropped. Default 1 GiB. */
  deadMaxBytes?: number;
  /** Per-user share of what this router queues (LONGLINK_WEBHOOK_USER_MAX_JOBS / _BYTES); none: no share. */
  share?: ShareLimits;
  /** A charge whose settle notice never came is forgotten after this (default: shareLapseMs; tests shorten it). */
  shareLapseMs?: number;
  /** The shares' confirmation window (jetstream-share.ts; tests shorten it). */
  shareTiming?: ShareTiming;
  /**
   * Per-user share of the dead letters (default: `share`); the router's webhook thread, which buries, has it
   * without `share` (it queues no new events). Charged to the key of the job's share tag: jobs queued without one
   * (no share, or a replay) are not charged. `false`: none, for a queue that never buries (the router's main
   * thread, whose deliveries run on the webhook thread): it would only listen to every router's dead-letter
   * charges and keep them, on the push path's thread, for the dead letters' whole TTL.
   */
  deadShare?: ShareLimits | false;
  /** A dead letter's charge is forgotten after this (default: deadTtlMs + 1 min, when the stream has dropped it). */
  deadShareLapseMs?: number;
  /**
   * Create the streams or bring their limits up to date (default true). The router's webhook thread opens the queue
   * its main thread already set up (false): set up twice, a warning about the servers' storage was logged twice.
   */
  ensureStreams?: boolean;
}

/** The stream's max_age past the horizon. */
const MAX_AGE_PAST_HORIZON_MS = 3_600_000;
/**
 * How long a charge may still be in the queue: its job's last message is
 * published before the horizon passes (a retry re-published, its tag with
 * it) and removed within the stream's max_age after that, or acked within a
 * lease; plus a minute for clocks.
 */
export const shareLapseMs = (horizonMs: number, timeoutMs: number): number => 2 * horizonMs + MAX_AGE_PAST_HORIZON_MS + timeoutMs + 5000 + 60_000;
const GIB = 1024 ** 3;
/** JetStream's "insufficient storage resources available" (10047) and "insufficient resources" (10023). */
const noRoomToReserve = (err: unknown): boolean => err instanceof JetStreamApiError && (err.code === 10047 || err.code === 10023);

const ns = (ms: number): number => Math.round(ms * 1_000_000);
/** Jobs handed out and not acked per endpoint (in flight or waiting out a retry delay). */
const MAX_ACK_PENDING = 20_000;
/** How long close() waits for the answers to messages already sent (a PubAck is a round trip; a publish fails after 5 s). */
const CLOSE_DRAIN_MS = 2000;
const enc = new TextEncoder();
const dec = new TextDecoder();

export async function openJetStreamQueue(o: JetStreamQueueOptions): Promise<JetStreamWebhookQueue> {
  // API calls (depth, dead letters, replay) fail after 3 s instead of waiting on a NATS outage.
  const jsm = await jetstreamManager(o.nc, { timeout: 3000 });
  const base = o.prefix.replace(/\./g, '_');
  const q = new JetStreamWebhookQueue(o, jsm, jetstream(o.nc, { timeout: 3000 }), `${base}_webhooks`, `${base}_webhooks_dead`);
  if (o.ensureStreams !== false) await q.ensureStreams();
  return q;
}

export class JetStreamWebhookQueue implements WebhookQueue {
  private readonly consumers = new Set<QueueConsumer>();
  private readonly publisher: JobPublisher;
  /** Deliveries' acks waiting for the end of this event-loop turn (ackSoon). */
  private acksDue: JsMsg[] = [];
  private acksTimer: NodeJS.Immediate | undefined;
  /** This router's share ledger (with `share`), and the settle notices its consumers send. */
  readonly share: JetStreamShare | undefined;
  private readonly notices: ShareNotices;
  /** The dead letters' share (the router burying charges it) and the notices a replay sends. */
  readonly deadShare: JetStreamShare | undefined;
  private readonly deadNotices: ShareNotices;

  constructor(private readonly o: JetStreamQueueOptions, private readonly jsm: JetStreamManager, private readonly js: JetStreamClient,
    readonly stream: string, readonly deadStream: string) {
    const q = `${o.prefix}.webhooks.q.`;
    this.publisher = o.layout === 'single'
      ? new JobPublisher(o.nc, { maxJobs: 1, encode: (subject, jobs) => encodeJobJson(jobs[0]!, subject.slice(q.length)) })
      : new JobPublisher(o.nc);
    const timing = o.shareTiming ?? {};
    this.share = o.share ? new JetStreamShare(o.nc, o.prefix, o.share, o.shareLapseMs ?? shareLapseMs(o.horizonMs, o.timeoutMs), o.log, keyOf, 'queue', timing) : undefined;
    this.notices = new ShareNotices(o.nc, o.prefix);
    const deadShare = o.deadShare ?? o.share;
    this.deadShare = deadShare ? new JetStreamShare(o.nc, o.prefix, deadShare, o.deadShareLapseMs ?? o.deadTtlMs + 60_000, o.log, keyOf, 'dead', timing) : undefined;
    this.deadNotices = new ShareNotices(o.nc, o.prefix, 'dead_settled');
  }

  get corrections(): { queue?: JetStreamShare; dead?: JetStreamShare } { return { queue: this.share, dead: this.deadShare }; }

  private subject(endpoint: string): string { return `${this.o.prefix}.webhooks.q.${endpoint}`; }
  private deadSubject(endpoint: string): string { return `${this.o.prefix}.webhooks.dead.${endpoint}`; }
  private durable(endpoint: string): string { return `wh_${endpoint}`; }

  /** Creates both streams, or brings an existing one's limits up to date (several routers may race here). */
  async ensureStreams(): Promise<void> {
    await this.ensure({
      name: this.stream, subjects: [`${this.o.prefix}.webhooks.q.*`], retention: RetentionPolicy.Workqueue, storage: StorageType.File,
      max_age: ns(this.o.horizonMs + MAX_AGE_PAST_HORIZON_MS), max_bytes: this.o.maxBytes ?? GIB, discard: DiscardPolicy.New,
    });
    await this.ensureDead();
  }

  /**
   * The dead-letter stream: kept `deadTtlMs`, and bounded in bytes too (by age alone, a receiver down for days kept
   * every event of the TTL, 7 days by default, on the NATS servers' disks). A byte bound is reserved in JetStream's
   * storage (the servers' max_file_store, the account's limit): where it does not fit beside the queue stream's, the
   * stream keeps its age bound only and a warning says so, instead of the router refusing to start. A bound already
   * on an existing stream (an operator's) is kept.
   */
  private async ensureDead(): Promise<void> {
    const maxBytes = this.o.deadMaxBytes ?? GIB;
    const cfg = {
      name: this.deadStream, subjects: [`${this.o.prefix}.webhooks.dead.*`], retention: RetentionPolicy.Limits, storage: StorageType.File,
      max_age: ns(this.o.deadTtlMs), discard: DiscardPolicy.Old,
    };
    const bounded = await this.jsm.streams.info(this.deadStream).then((i) => i.config.max_bytes > 0, () => false);
    if (bounded) return this.ensure(cfg);
    try {
      await this.ensure({ ...cfg, max_bytes: maxBytes });
    } catch (err) {
      if (!noRoomToReserve(err)) throw err;
      this.o.log.warn({ stream: this.deadStream, maxBytes, err: String(err) }, 'webhook dead-letter stream left without a byte bound: '
        + 'JetStream storage on the NATS servers cannot reserve it (raise max_file_store or the account\'s JetStream limit); '
        + 'dead letters are bounded by LONGLINK_WEBHOOK_DEAD_TTL_MS only');
      await this.ensure(cfg);
    }
  }

  private async ensure(cfg: Partial<StreamConfig> & { name: string }): Promise<void> {
    const exists = (): Promise<boolean> => this.jsm.streams.info(cfg.name).then(() => true, () => false);
    if (!(await exists())) {
      try {
        await this.jsm.streams.add(cfg);
        return;
      } catch (err) {
        // Another router created it meanwhile: update below. Otherwise add's refusal is the reason to report.
        if (!(await exists())) throw err;
      }
    }
    const { name, retention: _r, storage: _s, ...update } = cfg;
    await this.jsm.streams.update(name, update);
  }

  /**
   * Each copy joins this turn's message for its endpoint; its promise resolves once JetStream has stored that
   * message. With a share, the event is charged once for its copies
   * (jetstream-share.ts chargeEvent): those past the share are refused; a copy JetStream does not store is refunded.
   */
  enqueueEvent(event: WebhookEvent, endpoints: readonly string[]): Array<Promise<void>> {
    const q = { id: event.id, type: event.type, createdAt: event.createdAt, body: event.body, attempts: 0, notBefore: 0 };
    const share = this.share;
    if (share === undefined || event.key === undefined) return endpoints.map((ep) => this.publisher.add(this.subject(ep), { ...q }));
    const { tag, taken, refusal } = share.chargeEvent(event.key, Buffer.byteLength(event.body), endpoints.length);
    return endpoints.map((ep, i) => (i >= taken ? Promise.reject(refusal!)
      : this.publisher.add(this.subject(ep), { ...q, share: copyTag(tag, i) }).then(() => { share.stored(tag); }, (err: unknown) => { share.refund(tag); throw err; })));
  }

  async consume(endpoint: string, concurrency: number, handle: (j: LeasedJob) => Promise<void>): Promise<QueueConsumer> {
    const durable = this.durable(endpoint);
    const ackWaitMs = this.o.timeoutMs + 5000;
    const cfg = {
      durable_name: durable, ack_policy: AckPolicy.Explicit, deliver_policy: DeliverPolicy.All, filter_subject: this.subject(endpoint),
      ack_wait: ns(ackWaitMs), max_deliver: -1, max_ack_pending: MAX_ACK_PENDING,
    };
    try {
      await this.jsm.consumers.add(this.stream, cfg);
    } catch {
      await this.jsm.consumers.update(this.stream, durable, { ack_wait: cfg.ack_wait, max_ack_pending: cfg.max_ack_pending });
    }
    const consumer = await this.js.consumers.get(this.stream, durable);
    const subject = this.subject(endpoint);
    const c = await consumeJobs({
      consumer, endpoint, concurrency, ackWaitMs, handle, log: this.o.log,
      requeue: (job) => this.publisher.publish(subject, [job]),
      // Stored before the job leaves the queue: a crash in between re-delivers it (and it dies again), never loses it.
      bury: (letter, tag) => this.bury(endpoint, letter, tag),
      ack: (m) => this.ackSoon(m),
      settled: (tags) => this.notices.settled(tags),
    });
    const entry: QueueConsumer = { stop: async () => { this.consumers.delete(entry); await c.stop(); } };
    this.consumers.add(entry);
    return entry;
  }

  /** Stores a dead letter charged to its job's key (when the job carried a charge); false: over the share, dropped. */
  private async bury(endpoint: string, letter: DeadLetter, tag: ShareTag | undefined): Promise<boolean> {
    let charge: ShareTag | undefined;
    if (this.deadShare && tag !== undefined) {
      const c = this.deadShare.chargeKey(tag.key, tag.bytes);
      if (c.taken === 0) return false;
      charge = c.tag;
    }
    const stored = charge === undefined ? letter : { ...letter, share: formatShareTag(charge), shareId: charge.id };
    try {
      await this.js.publish(this.deadSubject(endpoint), enc.encode(JSON.stringify(stored)));
      if (charge !== undefined) this.deadShare!.stored(charge);
    } catch (err) {
      if (charge !== undefined) this.deadShare!.refund(charge);
      throw err;
    }
    return true;
  }

  /**
   * Acks go out together at the end of the event-loop turn: the client writes
   * each ack on its own (one socket write per delivery, the dispatcher's
   * largest cost after the HTTP request), while the answers of one turn's
   * receivers now share one write. An ack was fire-and-forget before as well;
   * one lost with a dying router only brings the job back after its lease
   * (at-least-once, same webhook-id).
   */
  private ackSoon(m: JsMsg): void {
    this.acksDue.push(m);
    this.acksTimer ??= setImmediate(() => this.flushAcks());
  }

  private flushAcks(): void {
    if (this.acksTimer) clearImmediate(this.acksTimer);
    this.acksTimer = undefined;
    const due = this.acksDue;
    this.acksDue = [];
    for (const m of due) m.ack();
  }

  async depth(endpoint: string): Promise<number> {
    try {
      const info = await this.jsm.consumers.info(this.stream, this.durable(endpoint));
      return info.num_pending + info.num_ack_pending;
    } catch {
      // No consumer yet (no router has started delivering): what the stream holds for the endpoint.
      const subj = this.subject(endpoint);
      const info = await this.jsm.streams.info(this.stream, { subjects_filter: subj });
      return info.state.subjects?.[subj] ?? 0;
    }
  }

  /** Test hook: the JetStream manager (to break the streams on purpose). */
  get manager(): JetStreamManager { return this.jsm; }

  async deadCount(endpoint: string): Promise<number> {
    const subj = this.deadSubject(endpoint);
    // Filtered by the stream's wildcard, not the exact subject: once the byte bound has dropped the first messages,
    // nats-server 2.9's file store answered an exact-subject filter with no subjects at all, which read as 0 dead
    // letters (nothing could be listed or replayed).
    const info = await this.jsm.streams.info(this.deadStream, { subjects_filter: `${this.o.prefix}.webhooks.dead.*` });
    return info.state.subjects?.[subj] ?? 0;
  }

  /** Reads up to `limit` dead letters with an ephemeral ordered consumer; `each` sees the stream seq too. */
  private async readDead(endpoint: string, limit: number, each: (d: DeadLetter, seq: number, charge: ShareTag | undefined) => Promise<void>): Promise<number> {
    const want = Math.min(limit, await this.deadCount(endpoint));
    if (want <= 0) return 0;
    const oc = await this.js.consumers.get(this.deadStream, { filter_subjects: this.deadSubject(endpoint) });
    const iter = await oc.fetch({ max_messages: want, expires: 2000 });
    let n = 0;
    for await (const m of iter) {
      try {
        const { share, shareId, ...d } = JSON.parse(dec.decode(m.data)) as DeadLetter & { share?: unknown; shareId?: unknown };
        if (d && typeof d === 'object' && d.job && typeof d.job.id === 'string') { await each(d, m.seq, parseShareTag(share, shareId)); n++; }
      } catch { /* a malformed dead letter is skipped */ }
      if (n >= want) break;
    }
    await oc.delete().catch(() => undefined);
    return n;
  }

  async listDead(endpoint: string, limit: number): Promise<DeadLetter[]> {
    const out: DeadLetter[] = [];
    await this.readDead(endpoint, limit, async (d) => { out.push(d); });
    return out;
  }

  async replayDead(endpoint: string, limit: number): Promise<number> {
    return this.readDead(endpoint, limit, async (d, seq, charge) => {
      // Same webhook-id, a fresh horizon; a new Nats-Msg-Id so the duplicate window does not swallow it.
      const job: WebhookJob = { ...d.job, createdAt: Date.now() };
      const fresh = { id: job.id, type: job.type, createdAt: job.createdAt, body: job.body, attempts: 0, notBefore: 0 };
      await this.js.publish(this.subject(endpoint), this.o.layout === 'single' ? encodeJobJson(fresh, endpoint) : encodeJobs([fresh]), { msgID: `${job.id}.${endpoint}.r${seq}` });
      await this.jsm.streams.deleteMessage(this.deadStream, seq);
      if (charge !== undefined) this.deadNotices.settled([charge]);
    });
  }

  async close(): Promise<void> {
    await Promise.all([...this.consumers].map((c) => c.stop().catch(() => undefined)));
    this.flushAcks();
    // The publisher before the shares: a message sent and not yet answered may be stored. Failed by close(), its jobs
    // were refunded (announced, released at every router) and released again when it settled. Its answer is waited for
    // (a stored turn is confirmed as the share closes); one still unanswered after CLOSE_DRAIN_MS fails with no refund
    // announced (the share is closed): its turn is never confirmed, and the other routers release it after their
    // confirmation window, as for a router that died before the answer.
    await this.publisher.drain(CLOSE_DRAIN_MS);
    this.notices.flush();
    this.deadNotices.flush();
    this.share?.close();
    this.deadShare?.close();
    this.publisher.close();
  }
}
