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
 *    Retries are NAKs with a delay; JetStream counts the deliveries (the
 *    attempt number).
 *  - Stream `<P>_webhooks_dead` (subjects `<prefix>.webhooks.dead.<endpoint>`,
 *    limits retention, kept `deadTtlMs`): dead letters, counted per subject
 *    and replayed by re-publishing them to the queue and deleting them.
 * Enqueues are plain publishes with a reply subject under one inbox
 * subscription of this queue: JetStream answers each with its PubAck (or an
 * error, or the server a no-responders status), which settles that enqueue.
 * The client's js.publish costs about 15 times the CPU (a request with its
 * own promise, timer and parsed reply), and the push path pays it per event.
 * Replays carry a `Nats-Msg-Id` of their own, so a replay retried within the
 * stream's duplicate window is stored once.
 */
import { AckPolicy, DeliverPolicy, DiscardPolicy, jetstream, jetstreamManager, RetentionPolicy, StorageType, type ConsumerMessages, type JetStreamClient, type JetStreamManager, type JsMsg, type StreamConfig } from '@nats-io/jetstream';
import { createInbox, type Msg, type NatsConnection, type Subscription } from '@nats-io/transport-node';
import type { Logger } from '../../shared/log.js';
import type { LeasedJob, QueueConsumer, WebhookQueue } from './core/queue.js';
import type { DeadLetter, WebhookJob } from './core/types.js';

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
  /** Bytes the queue stream may hold; past it new events are refused (counted as dropped). Default 1 GiB. */
  maxBytes?: number;
}

const ns = (ms: number): number => Math.round(ms * 1_000_000);
/** Jobs handed out and not acked per endpoint (in flight or waiting out a retry delay). */
const MAX_ACK_PENDING = 20_000;
/** An enqueue with no PubAck this long fails (JetStream unreachable). */
const ENQUEUE_TIMEOUT_MS = 5000;
const enc = new TextEncoder();
const dec = new TextDecoder();

function parseJob(m: JsMsg): WebhookJob | undefined {
  try {
    const j = JSON.parse(dec.decode(m.data)) as WebhookJob;
    return typeof j.id === 'string' && typeof j.body === 'string' && typeof j.endpoint === 'string' && typeof j.createdAt === 'number' ? j : undefined;
  } catch {
    return undefined;
  }
}

export async function openJetStreamQueue(o: JetStreamQueueOptions): Promise<JetStreamWebhookQueue> {
  // API calls (depth, dead letters, replay) fail after 3 s instead of waiting on a NATS outage.
  const jsm = await jetstreamManager(o.nc, { timeout: 3000 });
  const base = o.prefix.replace(/\./g, '_');
  const q = new JetStreamWebhookQueue(o, jsm, jetstream(o.nc, { timeout: 3000 }), `${base}_webhooks`, `${base}_webhooks_dead`);
  await q.ensureStreams();
  return q;
}

interface PendingAck { resolve(): void; reject(err: Error): void; at: number }

export class JetStreamWebhookQueue implements WebhookQueue {
  private readonly consumers = new Set<ConsumerMessages>();
  private readonly inbox = createInbox();
  private readonly acks = new Map<number, PendingAck>();
  private nextAck = 0;
  private ackSub: Subscription | undefined;
  private ackSweep: NodeJS.Timeout | undefined;
  /** Deliveries' acks waiting for the end of this event-loop turn (ackSoon). */
  private acksDue: JsMsg[] = [];
  private acksTimer: NodeJS.Immediate | undefined;

  constructor(private readonly o: JetStreamQueueOptions, private readonly jsm: JetStreamManager, private readonly js: JetStreamClient,
    readonly stream: string, readonly deadStream: string) {}

  /** PubAcks of enqueues: `<inbox>.<n>` settles enqueue n. */
  private onAck(m: Msg): void {
    const n = Number(m.subject.slice(this.inbox.length + 1));
    const p = this.acks.get(n);
    if (!p) return;
    this.acks.delete(n);
    if (m.headers?.hasError || m.data.length === 0) { p.reject(new Error(`JetStream publish failed: ${m.headers?.code ?? 'empty reply'} ${m.headers?.description ?? ''}`.trim())); return; }
    const text = dec.decode(m.data);
    if (text.includes('"error"')) p.reject(new Error(`JetStream refused the event: ${text.slice(0, 200)}`));
    else p.resolve();
  }

  private subject(endpoint: string): string { return `${this.o.prefix}.webhooks.q.${endpoint}`; }
  private deadSubject(endpoint: string): string { return `${this.o.prefix}.webhooks.dead.${endpoint}`; }
  private durable(endpoint: string): string { return `wh_${endpoint}`; }

  /** Creates both streams, or brings an existing one's limits up to date (several routers may race here). */
  async ensureStreams(): Promise<void> {
    await this.ensure({
      name: this.stream, subjects: [`${this.o.prefix}.webhooks.q.*`], retention: RetentionPolicy.Workqueue, storage: StorageType.File,
      max_age: ns(this.o.horizonMs + 3_600_000), max_bytes: this.o.maxBytes ?? 1024 ** 3, discard: DiscardPolicy.New,
    });
    await this.ensure({
      name: this.deadStream, subjects: [`${this.o.prefix}.webhooks.dead.*`], retention: RetentionPolicy.Limits, storage: StorageType.File,
      max_age: ns(this.o.deadTtlMs), discard: DiscardPolicy.Old,
    });
  }

  private async ensure(cfg: Partial<StreamConfig> & { name: string }): Promise<void> {
    try {
      await this.jsm.streams.info(cfg.name);
    } catch {
      try {
        await this.jsm.streams.add(cfg);
        return;
      } catch { /* another router created it meanwhile: update below */ }
    }
    const { name, retention: _r, storage: _s, ...update } = cfg;
    await this.jsm.streams.update(name, update);
  }

  enqueue(job: WebhookJob): Promise<void> {
    if (!this.ackSub) {
      this.ackSub = this.o.nc.subscribe(`${this.inbox}.*`, { callback: (_err, m) => this.onAck(m) });
      this.ackSweep = setInterval(() => {
        const old = performance.now() - ENQUEUE_TIMEOUT_MS;
        for (const [n, p] of this.acks) {
          if (p.at > old) break; // insertion order is time order
          this.acks.delete(n);
          p.reject(new Error('JetStream publish timed out'));
        }
      }, 1000);
      this.ackSweep.unref?.();
    }
    const n = this.nextAck++;
    return new Promise<void>((resolve, reject) => {
      this.acks.set(n, { resolve, reject, at: performance.now() });
      try {
        this.o.nc.publish(this.subject(job.endpoint), enc.encode(JSON.stringify(job)), { reply: `${this.inbox}.${n}` });
      } catch (err) {
        this.acks.delete(n);
        reject(err instanceof Error ? err : new Error(String(err)));
      }
    });
  }

  async consume(endpoint: string, concurrency: number, handle: (j: LeasedJob) => Promise<void>): Promise<QueueConsumer> {
    const durable = this.durable(endpoint);
    const cfg = {
      durable_name: durable, ack_policy: AckPolicy.Explicit, deliver_policy: DeliverPolicy.All, filter_subject: this.subject(endpoint),
      ack_wait: ns(this.o.timeoutMs + 5000), max_deliver: -1, max_ack_pending: MAX_ACK_PENDING,
    };
    try {
      await this.jsm.consumers.add(this.stream, cfg);
    } catch {
      await this.jsm.consumers.update(this.stream, durable, { ack_wait: cfg.ack_wait, max_ack_pending: cfg.max_ack_pending });
    }
    const consumer = await this.js.consumers.get(this.stream, durable);
    const msgs = await consumer.consume({ max_messages: Math.max(concurrency, 8) });
    this.consumers.add(msgs);
    let active = 0;
    let wake: (() => void) | undefined;
    const done = (async () => {
      for await (const m of msgs) {
        while (active >= concurrency) await new Promise<void>((r) => { wake = r; });
        const job = parseJob(m);
        if (!job) { m.term('malformed webhook job'); continue; }
        active++;
        void handle(this.lease(m, job)).catch(() => undefined).finally(() => { active--; const w = wake; wake = undefined; w?.(); });
      }
    })().catch((err: unknown) => this.o.log.warn({ err: String(err), endpoint }, 'webhook consumer ended'));
    return {
      stop: async () => {
        this.consumers.delete(msgs);
        await msgs.close().catch(() => undefined);
        wake?.();
        await done;
      },
    };
  }

  private lease(m: JsMsg, job: WebhookJob): LeasedJob {
    return {
      job, attempt: m.info.deliveryCount,
      ack: async () => { this.ackSoon(m); },
      retry: async (delayMs) => { m.nak(Math.max(1, Math.round(delayMs))); },
      dead: async (letter) => {
        // Stored before the job leaves the queue: a crash in between re-delivers it (and it dies again), never loses it.
        await this.js.publish(this.deadSubject(job.endpoint), enc.encode(JSON.stringify(letter)));
        m.ack();
      },
      working: () => m.working(),
    };
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
    const info = await this.jsm.streams.info(this.deadStream, { subjects_filter: subj });
    return info.state.subjects?.[subj] ?? 0;
  }

  /** Reads up to `limit` dead letters with an ephemeral ordered consumer; `each` sees the stream seq too. */
  private async readDead(endpoint: string, limit: number, each: (d: DeadLetter, seq: number) => Promise<void>): Promise<number> {
    const want = Math.min(limit, await this.deadCount(endpoint));
    if (want <= 0) return 0;
    const oc = await this.js.consumers.get(this.deadStream, { filter_subjects: this.deadSubject(endpoint) });
    const iter = await oc.fetch({ max_messages: want, expires: 2000 });
    let n = 0;
    for await (const m of iter) {
      try {
        const d = JSON.parse(dec.decode(m.data)) as DeadLetter;
        if (d && typeof d === 'object' && d.job && typeof d.job.id === 'string') { await each(d, m.seq); n++; }
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
    return this.readDead(endpoint, limit, async (d, seq) => {
      // Same webhook-id, a fresh horizon; a new Nats-Msg-Id so the duplicate window does not swallow it.
      const job: WebhookJob = { ...d.job, createdAt: Date.now() };
      await this.js.publish(this.subject(endpoint), enc.encode(JSON.stringify(job)), { msgID: `${job.id}.${endpoint}.r${seq}` });
      await this.jsm.streams.deleteMessage(this.deadStream, seq);
    });
  }

  async close(): Promise<void> {
    this.flushAcks();
    await Promise.all([...this.consumers].map((c) => c.close().catch(() => undefined)));
    this.consumers.clear();
    if (this.ackSweep) clearInterval(this.ackSweep);
    this.ackSub?.unsubscribe();
    this.ackSub = undefined;
    for (const p of this.acks.values()) p.reject(new Error('webhook queue closed'));
    this.acks.clear();
  }
}
