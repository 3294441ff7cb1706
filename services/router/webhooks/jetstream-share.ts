/**
 * The per-user share of the webhook queue (core/share.ts) over JetStream.
 *
 * JetStream counts messages per subject, not jobs per user, and the queue's
 * messages carry the jobs of many users (one event-loop turn's, per
 * endpoint), so each router keeps the ledger of what it queued itself:
 *  - enqueue charges the job's key (a hash of the user id, never the id
 *    itself) in this router's ledger, and the queue message carries, in the
 *    `Longlink-Share` header, one tag per job: `<origin>/<key>/<bytes>/<gen>`
 *    (`origin` names this router's queue, random per start; `gen` the
 *    ledger generation charged) or `-`;
 *  - whichever router settles a message (every job of it delivered,
 *    dead-lettered or re-published on its own) publishes the tags of the jobs
 *    that left the queue on `<prefix>.webhooks.settled.<origin>` (core NATS,
 *    the notices of one event-loop turn per origin together), and the origin
 *    releases them. A job re-published for a retry carries its tag on, so it
 *    stays charged until it leaves; a replayed dead letter carries none.
 * Notices are not durable: one lost while the origin is disconnected would
 * keep a charge for good, so the ledger is cleared on a reconnect (a user
 * may then hold up to its share again on top of what it holds: failing open,
 * never refusing a user for a charge that is gone), as it is on a restart.
 * Reports can also never come without a reconnect here: a message removed
 * by the stream's max_age or a purge, acked by a router of an earlier
 * release, a report lost between NATS servers. So a charge lapses once no
 * message carrying it can still be in the queue (`lapseMs`: the last one is
 * published before the horizon passes and lives at most the stream's
 * max_age, horizon + 1 h, after that).
 * The share is cluster-wide without a round trip on the push path: each
 * router also announces its charges (`<prefix>.webhooks.charged.<origin>`,
 * one message per event-loop turn) and every router listens to every
 * router's charges and settle notices, so it knows what each other router's
 * queued jobs hold per key and counts that against the share before
 * charging. What it cannot see is a charge announced less than a NATS round
 * trip ago, or one made before it started (or before its last reconnect,
 * when it forgets the others' charges with its own): those fail open, a
 * user holding up to one more share, as after a restart.
 * Dead letters have a share of their own, kept the same way on their own
 * subjects (`dead_charged` / `dead_settled`; jetstream-queue.ts).
 */
import { createHash, randomBytes } from 'node:crypto';
import { headers, type MsgHdrs, type NatsConnection, type Subscription } from '@nats-io/transport-node';
import type { Logger } from '../../shared/log.js';
import { ShareLedger, type ShareLimits } from './core/share.js';

/** One job's charge, as a message header carries it; `gen`: the origin's ledger generation it was charged in. */
export interface ShareTag { readonly origin: string; readonly key: string; readonly bytes: number; readonly gen?: number }

export const SHARE_HEADER = 'Longlink-Share';

/** The header for a message of `tags` (one per job), or undefined when none is charged. */
export function shareHeaders(tags: ReadonlyArray<ShareTag | undefined>): MsgHdrs | undefined {
  if (!tags.some((t) => t !== undefined)) return undefined;
  const h = headers();
  h.set(SHARE_HEADER, tags.map((t) => (t === undefined ? '-' : `${t.origin}/${item(t)}`)).join(' '));
  return h;
}

/**
 * The one rule for a tag's `<key>/<bytes>/<gen>`, wherever it is read (a header, a dead letter, a notice item): a key
 * of the hash's alphabet, counts of decimal digits only (never negative, fractional or past a safe integer).
 */
const ITEM = '([A-Za-z0-9_-]{1,32})\\/(\\d{1,12})(?:\\/(\\d{1,15}))?';
/** A tag with its origin, as a header or a dead letter carries it. */
const TOKEN = new RegExp(`^([0-9a-f]{1,32})\\/${ITEM}$`);
/** A notice item: a tag without its origin (the subject names it), `-` before a refund. */
const NOTICE_ITEM = new RegExp(`^(-?)${ITEM}$`);
/** The tag of a TOKEN or NOTICE_ITEM match (its first group the origin or the refund mark). */
const tagOf = (origin: string, m: RegExpExecArray): ShareTag =>
  ({ origin, key: m[2]!, bytes: Number(m[3]), gen: m[4] === undefined ? undefined : Number(m[4]) });
/** A tag without its origin, as a header and a settle notice carry it: `<key>/<bytes>/<gen>`. */
const item = (t: ShareTag): string => (t.gen === undefined ? `${t.key}/${t.bytes}` : `${t.key}/${t.bytes}/${t.gen}`);
/** A settle notice's bytes at most (less when the server's max_payload is smaller). */
const NOTICE_MAX_BYTES = 32 * 1024;

/** The tags of a message of `jobs` jobs (any number without it); none when the header is missing or does not match the jobs. */
export function readShareTags(h: MsgHdrs | undefined, jobs?: number): Array<ShareTag | undefined> {
  const v = h?.get(SHARE_HEADER);
  if (v === undefined || v === '') return [];
  const parts = v.split(' ');
  if (jobs !== undefined && parts.length !== jobs) return [];
  return parts.map((p) => {
    const m = TOKEN.exec(p);
    return m ? tagOf(m[1]!, m) : undefined;
  });
}

/** A tag as a header or a dead letter carries it (`<origin>/<key>/<bytes>/<gen>`); undefined when malformed. */
export function parseShareTag(v: unknown): ShareTag | undefined {
  const m = typeof v === 'string' ? TOKEN.exec(v) : null;
  return m ? tagOf(m[1]!, m) : undefined;
}

/** A tag as a header or a dead letter carries it. */
export const formatShareTag = (t: ShareTag): string => `${t.origin}/${item(t)}`;

/** Publishes settle notices: the tags of one event-loop turn, one message per origin. */
export class ShareNotices {
  private due = new Map<string, string[]>();
  private timer: NodeJS.Immediate | undefined;
  /** `kind`: the subjects' token (`settled`, `charged`, `dead_settled`, `dead_charged`). */
  constructor(private readonly nc: NatsConnection, private readonly prefix: string, private readonly kind = 'settled') {}

  settled(tags: Iterable<ShareTag>): void {
    for (const t of tags) this.add(t.origin, item(t));
  }

  /** One item (`<key>/<bytes>/<gen>`, or `-<key>/<bytes>/<gen>` for a refund) for `origin`'s subject, sent at the end of the turn. */
  add(origin: string, text: string): void {
    const list = this.due.get(origin);
    if (list) list.push(text); else this.due.set(origin, [text]);
    this.timer ??= setImmediate(() => this.flush());
  }

  private publish(origin: string, text: string): void {
    try { this.nc.publish(`${this.prefix}.webhooks.${this.kind}.${origin}`, text); } catch { /* closed: the origin's charges lapse (or it restarted) */ }
  }

  flush(): void {
    if (this.timer) clearImmediate(this.timer);
    this.timer = undefined;
    const due = this.due;
    this.due = new Map();
    for (const [origin, list] of due) {
      // In parts: one turn may settle thousands of jobs (many endpoints, dead letters stored together), past a small max_payload.
      const limit = Math.max(256, Math.min(NOTICE_MAX_BYTES, (this.nc.info?.max_payload ?? NOTICE_MAX_BYTES) - 1024));
      let part = '';
      for (const t of list) {
        if (part.length > 0 && part.length + 1 + t.length > limit) { this.publish(origin, part); part = ''; }
        part = part.length === 0 ? t : `${part} ${t}`;
      }
      if (part.length > 0) this.publish(origin, part);
    }
  }
}

/**
 * This router's ledger: charges on enqueue, releases on the notices addressed
 * to it, cleared on a reconnect; a charge whose notice never comes lapses
 * after `lapseMs` (core/share.ts). Beside it, what every other router holds
 * (one ledger per origin, from their charge announcements and everyone's
 * settle notices), counted against the share: the share is the cluster's.
 * `kind` 'dead': the dead letters' share, on subjects of its own.
 */
export class JetStreamShare {
  readonly origin = randomBytes(6).toString('hex');
  readonly ledger: ShareLedger;
  /** Other routers' charges by origin, as announced (no limits of their own; they lapse like ours). */
  private readonly others = new Map<string, ShareLedger>();
  private readonly subs: Subscription[];
  private readonly status: { stop(): void };
  private readonly announce: ShareNotices;
  /** `hash`: the user's key (keyOf; tests count the calls). */
  constructor(nc: NatsConnection, prefix: string, limits: ShareLimits, private readonly lapseMs: number, log: Logger,
    private readonly hash: (user: string) => string = keyOf, kind: 'queue' | 'dead' = 'queue') {
    const ledger = (this.ledger = new ShareLedger(limits, { ms: lapseMs }));
    const [settled, charged] = kind === 'queue' ? ['settled', 'charged'] : ['dead_settled', 'dead_charged'];
    this.announce = new ShareNotices(nc, prefix, charged);
    const listen = (token: string, apply: (origin: string, key: string, bytes: number, gen: number | undefined, refund: boolean) => void): Subscription => {
      const subject = `${prefix}.webhooks.${token}.*`;
      return nc.subscribe(subject, {
        // An error (the subscription denied by NATS permissions) comes with no message: reading it would throw in the client's reader and wedge the connection.
        callback: (err, m) => {
          if (err) { log.error({ err: String(err), subject }, 'webhook share: notices cannot be received; charges are released only when they lapse'); return; }
          const origin = m.subject.slice(m.subject.lastIndexOf('.') + 1);
          for (const t of m.string().split(' ')) {
            // Only routers may publish here (docs/deploy.md), but a count that is negative, fractional or not a number
            // would free share it never took: an item off the tags' rule (NOTICE_ITEM) is skipped, never applied.
            const n = NOTICE_ITEM.exec(t);
            if (n) { const tag = tagOf(origin, n); apply(origin, tag.key, tag.bytes, tag.gen, n[1] === '-'); }
          }
        },
      });
    };
    this.subs = [
      listen(settled, (origin, key, bytes, gen) => {
        if (origin === this.origin) ledger.release(key, bytes, gen); else this.others.get(origin)?.release(key, bytes);
      }),
      listen(charged, (origin, key, bytes, _gen, refund) => {
        if (origin === this.origin) return;
        if (refund) { this.others.get(origin)?.release(key, bytes); return; }
        let o = this.others.get(origin);
        if (!o) this.others.set(origin, (o = new ShareLedger({ maxJobs: Infinity, maxBytes: Infinity }, { ms: this.lapseMs })));
        o.takeCopies(key, bytes, 1);
      }),
    ];
    const it = nc.status();
    this.status = it as unknown as { stop(): void };
    void (async () => { for await (const s of it) if (s.type === 'reconnect') { ledger.clear(); this.others.clear(); } })().catch(() => undefined);
  }

  /** What `key` holds at the other routers, as they announced it. */
  elsewhere(key: string): { jobs: number; bytes: number } {
    let jobs = 0, bytes = 0;
    for (const [origin, o] of this.others) {
      if (o.keys === 0) { this.others.delete(origin); continue; }
      const h = o.of(key);
      jobs += h.jobs;
      bytes += h.bytes;
    }
    return { jobs, bytes };
  }

  /**
   * Charges an event's `copies` (one job of `bytes` per endpoint) to `user`: the user hashed once, the ledger
   * updated once (ShareLedger.takeCopies). The first `taken` copies are charged, each carrying `tag` (a tag is a
   * value: each copy's settle notice releases one job); the others are refused with `refusal`.
   */
  chargeEvent(user: string, bytes: number, copies: number): { tag: ShareTag; taken: number; refusal?: Error } {
    return this.chargeKey(this.hash(user), bytes, copies);
  }

  /** chargeEvent for a key already hashed (a dead letter's, from its job's tag). */
  chargeKey(key: string, bytes: number, copies = 1): { tag: ShareTag; taken: number; refusal?: Error } {
    const elsewhere = this.others.size > 0 ? this.elsewhere(key) : undefined;
    const { gen, taken } = this.ledger.takeCopies(key, bytes, copies, elsewhere);
    const tag = { origin: this.origin, key, bytes, gen };
    if (taken > 0) {
      const text = item(tag);
      for (let i = 0; i < taken; i++) this.announce.add(this.origin, text);
    }
    return { tag, taken, ...(taken < copies ? { refusal: this.ledger.refusal(key, elsewhere) } : {}) };
  }

  /** A charge whose job was never stored. */
  refund(t: ShareTag): void {
    this.ledger.release(t.key, t.bytes, t.gen);
    this.announce.add(this.origin, `-${item(t)}`);
  }

  close(): void {
    this.announce.flush();
    for (const s of this.subs) s.unsubscribe();
    this.status.stop();
  }
}

/** The ledger's key for a user: 72 bits of SHA-256, so user ids never travel in headers. */
export const keyOf = (user: string): string => createHash('sha256').update(user).digest('base64url').slice(0, 12);
