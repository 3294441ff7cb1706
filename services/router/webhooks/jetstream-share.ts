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
 * Every charge has an id (per origin, in `Longlink-Share-Id`, carried along
 * with its tag), a settle notice names it, and every router releases an id
 * once for as long as a copy of its job can be queued (a message settled
 * twice, its ack lost, reports twice; a job re-stored for a retry by each
 * delivery of its message leaves twice; share-views.ts). Announcements
 * name their turn and the router confirms a turn once its jobs are stored
 * or refunded; the others release a turn never confirmed (its router died
 * before the store) after a short window (share-views.ts).
 * Dead letters have a share of their own, kept the same way on their own
 * subjects (`dead_charged` / `dead_settled`; jetstream-queue.ts).
 */
import { createHash, randomBytes } from 'node:crypto';
import { headers, type MsgHdrs, type NatsConnection, type Subscription } from '@nats-io/transport-node';
import type { Logger } from '../../shared/log.js';
import { ShareLedger, type ShareLimits } from './core/share.js';
import { OtherRouters, ReleasedCharges } from './share-views.js';

/**
 * One job's charge, as a message header carries it; `gen`: the origin's ledger generation it was charged in; `id`:
 * the charge's id at its origin (every copy of the job carries it: a settle notice names it, and each router releases
 * an id once). Never in a header: `turn`, the announcement turn that charged it (the origin's).
 */
export interface ShareTag {
  readonly origin: string; readonly key: string; readonly bytes: number; readonly gen?: number;
  readonly id?: number; readonly turn?: number;
}

export const SHARE_HEADER = 'Longlink-Share';
/**
 * The charges' ids, one per job (`-`: none), beside SHARE_HEADER: routers of an earlier release read that header's
 * tags as before and pass this one over (a retry they re-store loses it: its release is then applied every time).
 */
export const SHARE_ID_HEADER = 'Longlink-Share-Id';

/** The headers for a message of `tags` (one per job), or undefined when none is charged. */
export function shareHeaders(tags: ReadonlyArray<ShareTag | undefined>): MsgHdrs | undefined {
  if (!tags.some((t) => t !== undefined)) return undefined;
  const h = headers();
  h.set(SHARE_HEADER, tags.map((t) => (t === undefined ? '-' : `${t.origin}/${item(t)}`)).join(' '));
  if (tags.some((t) => t?.id !== undefined)) h.set(SHARE_ID_HEADER, tags.map((t) => (t?.id === undefined ? '-' : String(t.id))).join(' '));
  return h;
}

/** A key's length (keyOf: 72 bits in base64url), in every release. */
const KEY_CHARS = 12;
/**
 * The one rule for a tag's `<key>/<bytes>/<gen>`, wherever it is read (a header, a dead letter, a notice item): a key
 * of the hash's alphabet and length, counts of decimal digits only (never negative, fractional or past a safe
 * integer). The length is what tells a refund (`-<key>`) from a key that starts with `-` (one key in 64): read as a
 * refund, such a user's charges were never counted at the other routers, and its settle notices released another key.
 */
const ITEM = `([A-Za-z0-9_-]{${KEY_CHARS}})\\/(\\d{1,12})(?:\\/(\\d{1,15}))?`;
/** A tag with its origin, as a header or a dead letter carries it. */
const TOKEN = new RegExp(`^([0-9a-f]{1,32})\\/${ITEM}$`);
/** A notice item: a tag without its origin (the subject names it), `-` before a refund. */
const NOTICE_ITEM = new RegExp(`^(-?)${ITEM}$`);
/** A turn marker of a charge announcement: `#<n>` (the items after it were charged in turn n) or `^<n>` (turn n stored). */
const TURN = /^[#^]\d{1,15}$/;
/** A charge id: in SHARE_ID_HEADER, and after `!` before a settle notice's item. */
const ID = /^\d{1,15}$/;
/** The tag of a TOKEN or NOTICE_ITEM match (its first group the origin or the refund mark). */
const tagOf = (origin: string, m: RegExpExecArray): ShareTag =>
  ({ origin, key: m[2]!, bytes: Number(m[3]), gen: m[4] === undefined ? undefined : Number(m[4]) });
/** A tag without its origin, as a header and a settle notice carry it: `<key>/<bytes>/<gen>`. */
const item = (t: ShareTag): string => (t.gen === undefined ? `${t.key}/${t.bytes}` : `${t.key}/${t.bytes}/${t.gen}`);
/** A settle notice's bytes at most (less when the server's max_payload is smaller). */
const NOTICE_MAX_BYTES = 32 * 1024;

/**
 * The tags of a message of `jobs` jobs (any number without it); none when the header is missing or does not match the
 * jobs. Ids from SHARE_ID_HEADER when it has one per tag (none otherwise: the releases are then applied every time).
 */
export function readShareTags(h: MsgHdrs | undefined, jobs?: number): Array<ShareTag | undefined> {
  const v = h?.get(SHARE_HEADER);
  if (v === undefined || v === '') return [];
  const parts = v.split(' ');
  if (jobs !== undefined && parts.length !== jobs) return [];
  const ids = h!.get(SHARE_ID_HEADER).split(' ');
  const withIds = ids.length === parts.length;
  return parts.map((p, i) => {
    const m = TOKEN.exec(p);
    return m ? withId(tagOf(m[1]!, m), withIds ? ids[i] : undefined) : undefined;
  });
}

/** A tag as a dead letter carries it (`<origin>/<key>/<bytes>/<gen>`, and its id apart); undefined when malformed. */
export function parseShareTag(v: unknown, id?: unknown): ShareTag | undefined {
  const m = typeof v === 'string' ? TOKEN.exec(v) : null;
  return m ? withId(tagOf(m[1]!, m), typeof id === 'number' ? String(id) : id) : undefined;
}

/** `t` with the id `v` when it is one (decimal digits, as every reader of an id checks). */
const withId = (t: ShareTag, v: unknown): ShareTag => (typeof v === 'string' && ID.test(v) ? { ...t, id: Number(v) } : t);

/** A tag as a header or a dead letter carries it. */
export const formatShareTag = (t: ShareTag): string => `${t.origin}/${item(t)}`;

/**
 * Publishes share notices (settle notices, or with `kind` charge announcements): the items of one event-loop turn per
 * origin together, in as few messages as fit the server's max_payload.
 */
export class ShareNotices {
  private due = new Map<string, string[]>();
  private timer: NodeJS.Immediate | undefined;
  /** Called as a turn's notices leave, before they are cut (it may add more). */
  beforeFlush: (() => void) | undefined;
  /** `kind`: the subjects' token (`settled`, `charged`, `dead_settled`, `dead_charged`). */
  constructor(private readonly nc: NatsConnection, private readonly prefix: string, private readonly kind = 'settled') {}

  /** Each item after its charge's id (`!<id> <item>`, one unit: never cut apart); routers of earlier releases skip `!` tokens. */
  settled(tags: Iterable<ShareTag>): void {
    for (const t of tags) this.add(t.origin, t.id === undefined ? item(t) : `!${t.id} ${item(t)}`);
  }

  /**
   * One token for `origin`'s subject, sent at the end of the turn: an item (`<key>/<bytes>/<gen>`, `-` before a refund)
   * or a marker (`!<id>`, `#<turn>`, `^<turn>`; see the listener in JetStreamShare).
   */
  add(origin: string, text: string): void {
    const list = this.due.get(origin);
    if (list) list.push(text); else this.due.set(origin, [text]);
    this.timer ??= setImmediate(() => this.flush());
  }

  private publish(origin: string, text: string): void {
    try { this.nc.publish(`${this.prefix}.webhooks.${this.kind}.${origin}`, text); } catch { /* closed: the origin's charges lapse (or it restarted) */ }
  }

  flush(): void {
    this.beforeFlush?.();
    if (this.timer) clearImmediate(this.timer);
    this.timer = undefined;
    const due = this.due;
    this.due = new Map();
    for (const [origin, list] of due) {
      // In parts: one turn may settle thousands of jobs (many endpoints, dead letters stored together), past a small max_payload.
      const limit = Math.max(256, Math.min(NOTICE_MAX_BYTES, (this.nc.info?.max_payload ?? NOTICE_MAX_BYTES) - 1024));
      // A turn's header (`#<n>`) starts every part cut after it: each part is read on its own.
      let part = '', head = '';
      for (const t of list) {
        if (part.length > 0 && part.length + 1 + t.length > limit) { this.publish(origin, part); part = head; }
        if (t.startsWith('#')) head = t;
        part = part.length === 0 ? t : `${part} ${t}`;
      }
      if (part.length > 0) this.publish(origin, part);
    }
  }
}

/** What a JetStreamShare tunes beyond its limits (tests shorten both). */
export interface ShareTiming {
  /** A turn of another router's charges not confirmed stored within this is released (default 30 s). */
  confirmMs?: number;
}

/**
 * Blocks of released charge ids (4,096 ids each, share-views.ts) a router keeps per share at most: 268 M charges of
 * the cluster's, ≤ 0.6 KB a block while one of its charges is held, ≈ 0.1 KB once all are released (≤ 40 MB).
 */
const RELEASED_MAX_BLOCKS = 65_536;

/**
 * This router's ledger: charges on enqueue, releases on the notices addressed
 * to it, cleared on a reconnect; a charge whose notice never comes lapses
 * after `lapseMs` (core/share.ts). Beside it, what every other router holds
 * (one ledger per origin, from their charge announcements and everyone's
 * settle notices, share-views.ts), counted against the share: the share is
 * the cluster's. A settle notice releases a charge (by its id) once, here
 * and at every router; another router's turn of charges never confirmed stored is
 * released after `confirmMs`. `kind` 'dead': the dead letters' share, on
 * subjects of its own.
 */
export class JetStreamShare {
  readonly origin = randomBytes(6).toString('hex');
  readonly ledger: ShareLedger;
  /** Other routers' charges by origin, as announced (no limits of their own; they lapse like ours). */
  private readonly others: OtherRouters;
  /** Charge ids whose release was applied, per origin (a job's copies and settle notices heard twice are skipped). */
  private readonly released: ReleasedCharges;
  /** The id of this router's next charge (its copies take consecutive ids). */
  private nextId = 1;
  /** Settle notices skipped as a place already released (a metric). */
  repeats = 0;
  private readonly subs: Subscription[];
  private readonly status: { stop(): void };
  private readonly announce: ShareNotices;
  /** The announcement turn being filled (0: none yet this turn), and the next one's number. */
  private turn = 0;
  private nextTurn = 1;
  /** Per turn announced: its jobs neither stored nor refunded yet. */
  private readonly unstored = new Map<number, number>();
  private closed = false;
  /** `hash`: the user's key (keyOf, KEY_CHARS characters: the notice rule reads no other length; tests count the calls). */
  constructor(nc: NatsConnection, prefix: string, limits: ShareLimits, private readonly lapseMs: number, log: Logger,
    private readonly hash: (user: string) => string = keyOf, kind: 'queue' | 'dead' = 'queue', timing: ShareTiming = {}) {
    const ledger = (this.ledger = new ShareLedger(limits, { ms: lapseMs }));
    const others = (this.others = new OtherRouters(lapseMs, timing.confirmMs ?? 30_000));
    // A charge's copies all settle before it lapses: its ids are kept as long (lapseMs), then no longer matter.
    this.released = new ReleasedCharges(lapseMs, RELEASED_MAX_BLOCKS);
    const [settled, charged] = kind === 'queue' ? ['settled', 'charged'] : ['dead_settled', 'dead_charged'];
    this.announce = new ShareNotices(nc, prefix, charged);
    // The turn closes as its announcement leaves; confirmed at once when nothing of it waits for a store.
    this.announce.beforeFlush = () => {
      if (this.turn !== 0 && !this.unstored.has(this.turn)) this.announce.add(this.origin, `^${this.turn}`);
      this.turn = 0;
    };
    type Item = (origin: string, key: string, bytes: number, gen: number | undefined, refund: boolean, ctx: { id?: number; turn?: number }) => void;
    // Each subject reads its own markers only, and skips the other's (a forged or garbled notice): a settle notice
    // `!<id>` before an item (never a refund), an announcement `#<n>` / `^<n>` (a `^` on the settle subject
    // confirmed a turn, a `!` on the announcement's would mark a charge released that never was). `@<place>` (the
    // previous release's job places, on the settle subject) is skipped on both.
    const listen = (token: string, markers: 'id' | 'turn', apply: Item): Subscription => {
      const subject = `${prefix}.webhooks.${token}.*`;
      return nc.subscribe(subject, {
        // An error (the subscription denied by NATS permissions) comes with no message: reading it would throw in the client's reader and wedge the connection.
        callback: (err, m) => {
          if (err) { log.error({ err: String(err), subject }, 'webhook share: notices cannot be received; charges are released only when they lapse'); return; }
          const origin = m.subject.slice(m.subject.lastIndexOf('.') + 1);
          const ctx: { id?: number; turn?: number } = {};
          for (const t of m.string().split(' ')) {
            // Markers: `!<id>` names the next item's charge, `#<n>` the turn of the items after it, `^<n>` confirms a turn.
            // Routers of an earlier release skip them (off the items' rule).
            if (t.startsWith('@')) continue;
            if (t.startsWith('!')) { ctx.id = markers === 'id' && ID.test(t.slice(1)) ? Number(t.slice(1)) : undefined; continue; }
            if (t.startsWith('#') || t.startsWith('^')) {
              if (markers === 'turn' && TURN.test(t)) { const n = Number(t.slice(1)); if (t[0] === '#') ctx.turn = n; else if (origin !== this.origin) others.confirm(origin, n); }
              continue;
            }
            // Only routers may publish here (docs/deploy.md), but a count that is negative, fractional or not a number
            // would free share it never took: an item off the tags' rule (NOTICE_ITEM) is skipped, never applied.
            const n = NOTICE_ITEM.exec(t);
            if (n && (markers === 'turn' || n[1] === '')) { const tag = tagOf(origin, n); apply(origin, tag.key, tag.bytes, tag.gen, n[1] === '-', ctx); }
            ctx.id = undefined;
          }
        },
      });
    };
    this.subs = [
      listen(settled, 'id', (origin, key, bytes, gen, _refund, ctx) => {
        if (ctx.id !== undefined && this.released.repeat(origin, ctx.id)) { this.repeats++; return; }
        if (origin === this.origin) ledger.release(key, bytes, gen); else others.release(origin, key, bytes);
      }),
      listen(charged, 'turn', (origin, key, bytes, _gen, refund, ctx) => {
        if (origin === this.origin) return;
        if (refund) others.release(origin, key, bytes); else others.charge(origin, key, bytes, ctx.turn);
      }),
    ];
    const it = nc.status();
    this.status = it as unknown as { stop(): void };
    void (async () => { for await (const s of it) if (s.type === 'reconnect') { ledger.clear(); others.clear(); } })().catch(() => undefined);
  }

  /** What `key` holds at the other routers, as they announced it. */
  elsewhere(key: string): { jobs: number; bytes: number } { return this.others.of(key); }

  /** Other routers' charges released because their turn was never confirmed stored (a metric: read, it expires what is due). */
  get unconfirmed(): number { this.others.expire(); return this.others.unconfirmed; }

  /**
   * Charges an event's `copies` (one job of `bytes` per endpoint) to `user`: the user hashed once, the ledger
   * updated once (ShareLedger.takeCopies). The first `taken` copies are charged, copy i carrying `tag` with the id
   * `tag.id + i` (copyTag: each copy's settle notice releases one job, once); the others are refused with `refusal`.
   * Each copy taken must end in stored(tag) or refund(tag): the announcement's turn is confirmed once all of its
   * copies have.
   */
  chargeEvent(user: string, bytes: number, copies: number): { tag: ShareTag; taken: number; refusal?: Error } {
    return this.chargeKey(this.hash(user), bytes, copies);
  }

  /** chargeEvent for a key already hashed (a dead letter's, from its job's tag). */
  chargeKey(key: string, bytes: number, copies = 1): { tag: ShareTag; taken: number; refusal?: Error } {
    const elsewhere = this.others.size > 0 ? this.elsewhere(key) : undefined;
    const { gen, taken } = this.ledger.takeCopies(key, bytes, copies, elsewhere);
    if (taken > 0 && this.turn === 0) { this.turn = this.nextTurn++; this.announce.add(this.origin, `#${this.turn}`); }
    const tag = { origin: this.origin, key, bytes, gen, id: taken > 0 ? this.nextId : undefined, turn: taken > 0 ? this.turn : undefined };
    if (taken > 0) {
      this.nextId += taken;
      this.unstored.set(this.turn, (this.unstored.get(this.turn) ?? 0) + taken);
      const text = item(tag);
      for (let i = 0; i < taken; i++) this.announce.add(this.origin, text);
    }
    return { tag, taken, ...(taken < copies ? { refusal: this.ledger.refusal(key, elsewhere) } : {}) };
  }

  /** A charged copy was stored: once every copy of its turn is, the turn is confirmed (the others keep its charges). */
  stored(t: ShareTag): void {
    const n = t.turn;
    if (n === undefined || this.closed) return;
    const left = (this.unstored.get(n) ?? 1) - 1;
    if (left > 0) { this.unstored.set(n, left); return; }
    this.unstored.delete(n);
    // A turn still filling is confirmed as it leaves (beforeFlush), after the charges it may still take.
    if (n !== this.turn) this.announce.add(this.origin, `^${n}`);
  }

  /**
   * A charge whose job was never stored. After close() nothing is announced: the queue fails at close what it could
   * not confirm, which JetStream may have stored (a refund then, and the settle notice later, released it twice).
   */
  refund(t: ShareTag): void {
    if (this.closed) return;
    this.ledger.release(t.key, t.bytes, t.gen);
    this.announce.add(this.origin, `-${item(t)}`);
    this.stored(t);
  }

  close(): void {
    this.closed = true;
    this.announce.flush();
    for (const s of this.subs) s.unsubscribe();
    this.others.close();
    this.status.stop();
  }
}

/** Copy `i`'s tag of an event charged with `tag` (chargeEvent): its own charge id. */
export const copyTag = (tag: ShareTag, i: number): ShareTag => (i === 0 || tag.id === undefined ? tag : { ...tag, id: tag.id + i });

/** The ledger's key for a user: 72 bits of SHA-256, so user ids never travel in headers. */
export const keyOf = (user: string): string => createHash('sha256').update(user).digest('base64url').slice(0, KEY_CHARS);
