/**
 * The messages gateways, routers and backends exchange over the bus (JSON).
 * One definition for every service: gateway and router both import from here.
 */

/** One push as stored and routed: `data` is already-serialised JSON. */
export interface PushRecord {
  seq: number;
  id: string;
  /** Router accept time, epoch ms. */
  ts: number;
  data: string;
  /**
   * The user's sequence epoch `seq` belongs to (Inbox: a new one starts
   * whenever the store lost the user's seq counter). The stores always set
   * it; a gateway takes a record without it (an older router) as being of
   * the connection's current epoch.
   */
  epoch?: number;
}

/** Pushes of an old sequence the store lost: every seq after `afterSeq` of `epoch` (docs/protocol.md §7). */
export interface LostRange {
  epoch: number;
  afterSeq: number;
}

/**
 * Session start on a gateway. It also registers the connection in the
 * presence directory: the router applies that before it reads the inbox, so
 * no push can slip between the replay and live routing.
 */
export interface ResumeRequest {
  user: string;
  device: string;
  gateway: string;
  conn: string;
  session: string | undefined;
  lastSeq: number | undefined;
  /** The epoch `lastSeq` belongs to (the client's `epoch` parameter), when the client sent one. */
  lastEpoch?: number;
  /**
   * How long the gateway waits for the reply (ms). A router that could not
   * start on the request within most of it drops it unanswered: the gateway
   * has closed the connection by then, and registering it online would only
   * leave a ghost entry.
   */
  timeoutMs?: number;
  /**
   * When the gateway sent the request (ms on its clock `clock`: its start
   * time plus monotonic time, so it never steps) and that clock's id (one
   * per gateway process). The router estimates the clocks' offset from the
   * stamps (core/request-age.ts) to tell how long the request sat before it
   * read it, and does not start one whose gateway stopped waiting. Absent
   * from older gateways; a malformed stamp is ignored, never refused.
   */
  sentAt?: number;
  clock?: string;
}

export interface ResumeReply {
  /** The session id to use: the given one when resumed, otherwise a new one. */
  session: string;
  resumed: boolean;
  /** Highest seq assigned to the user so far. */
  latestSeq: number;
  /** The epoch of latestSeq and of the pushes (0: the user has no sequence yet). Absent from older routers. */
  epoch?: number;
  /**
   * Set when the request's lastEpoch is not the user's epoch: the store lost
   * that sequence, so its pushes after lastSeq cannot be replayed. The
   * replay then starts from the beginning of the current epoch.
   */
  lost?: LostRange;
  /** What the client missed, in seq order: one page, bounded in count and bytes. */
  pushes: PushRecord[];
  /** The inbox may hold more after this page: fetch the rest (FetchRequest) after its last seq. */
  more?: boolean;
}

/**
 * Pushes after `afterSeq` for a connection whose session already started:
 * the next page of a replay, or the seqs missing from an in-order delivery
 * gap. A read only: no session check, no presence change.
 */
export interface FetchRequest {
  user: string;
  device: string;
  afterSeq: number;
  /** The epoch afterSeq belongs to; when it is not the user's epoch, the page starts from the current epoch's beginning. */
  epoch?: number;
  /** As in ResumeRequest: how long the gateway waits for the reply (ms). */
  timeoutMs?: number;
  /** As in ResumeRequest: the send time and its clock's id. */
  sentAt?: number;
  clock?: string;
}

export interface FetchReply {
  /** Highest seq assigned to the user so far. */
  latestSeq: number;
  /** The epoch of latestSeq and of the pushes. Absent from older routers. */
  epoch?: number;
  /** In seq order, one page bounded like a resume's. */
  pushes: PushRecord[];
  /** The inbox may hold more after this page. */
  more?: boolean;
}

export interface PresenceEvent {
  type: 'online' | 'offline';
  user: string;
  device: string;
  conn: string;
  session: string;
  gateway: string;
  /** Epoch ms. */
  at: number;
  /**
   * Only on re-announced onlines (SyncRequest, or the gateway's own NATS
   * reconnect): the highest seq written to this connection. A connection
   * still starting is announced only once its start succeeds (gateway
   * bus-link.ts reannounce: unstamped, it would displace any entry). Pushes stored
   * while the directory did not list the connection are then sent to it
   * from the inbox (read after the entry is back, as a resume does), so none
   * waits for the next reconnect.
   */
  seq?: number;
  /** With `seq`: the epoch it belongs to. A different epoch than the user's sends the catch-up from the epoch's beginning. */
  epoch?: number;
  /**
   * Session-start onlines only (set by the router, never by a gateway): when
   * the router received the start, its wall clock, epoch ms. Of two starts of
   * one user and device the later-received wins: an online whose `start` is
   * before that of the device's entry in the directory is stale (a start the
   * gateway gave up on, finished late) and is refused (OnlineResult.stale)
   * instead of displacing the newer connection. Entries without it (re-announced)
   * neither block nor are protected.
   */
  start?: number;
  /** Offline events only: the WebSocket close code (protocol/close-codes.ts) and its label, for connection.closed webhooks. */
  code?: number;
  reason?: string;
}

export interface UpstreamMessage {
  user: string;
  device: string;
  conn: string;
  gateway: string;
  topic: string;
  id: string;
  data: unknown;
}


/** Router/backends → gateway. */
export interface Delivery {
  user: string;
  /** Only this device's connections, if set. */
  device?: string;
  pushes: PushRecord[];
  /** Set for pushes sent with await_ms: publish a receipt here once written to a live connection. */
  receipt?: string;
}

/** Gateway → router: these pushes were written to at least one live connection of the user. */
export interface DeliveryReceipt {
  user: string;
  seqs: number[];
  gateway: string;
}

/**
 * Router → backends (and every router), on `<prefix>.acked`: a device of
 * the user acked this push (docs/api.md, "Ack receipts"). One message per
 * push an ack newly covered; cumulative acks of several pushes give several.
 * No session or connection ids: those are resume credentials.
 */
export interface AckEvent {
  user: string;
  device: string;
  seq: number;
  /** The push's message id. */
  id: string;
  /** When the router applied the ack, epoch ms. */
  ts: number;
}

/**
 * Router → every router, on `<prefix>.ackwant`, only with
 * LONGLINK_ACK_RECEIPTS=await: this router awaits ack receipts for the next
 * `ms` milliseconds (renewed while it does), so whichever router applies an
 * ack publishes them until then.
 */
export interface AckInterest {
  router: string;
  ms: number;
}

export type ControlCommand =
  | { type: 'kick' | 'logout'; user: string; device?: string }
  /** Subscribes (or unsubscribes) this user's (device's) live connections to channels. */
  | { type: 'subscribe' | 'unsubscribe'; user: string; device?: string; channels: string[] }
  /**
   * Cluster-wide one-session rule: `conns` are the displaced connections of
   * this user+device on the receiving gateway; only those are closed. The
   * command can arrive after the client already came back to this gateway on
   * a newer connection (its displaced attempt ended 1011 meanwhile), so it
   * must never close by (user, device). Without `conns` (a router of an
   * older version): every connection of the device except `keepConn`.
   */
  | { type: 'replace'; user: string; device: string; keepConn: string; conns?: string[] };

/** Periodic liveness beacon of a gateway; `boot` is new on every process start. */
export interface GatewayBeacon {
  gateway: string;
  boot: string;
  connections: number;
  draining: boolean;
  /** Epoch ms. */
  at: number;
  /** The gateway's software version (package.json); absent from older gateways. Shown by the operator console. */
  version?: string;
}

/**
 * Asks gateways to announce every connection again (online events). Empty
 * body: all gateways (a router reconnected to NATS and may have missed
 * announcements). `gateway` set: only that one (its lease had expired in the
 * directory, dropping its entries, while it was alive).
 */
export interface SyncRequest {
  gateway?: string;
}

/** One channel message as stored and fanned out: `data` is already-serialised JSON. */
export interface ChannelRecord {
  offset: number;
  id: string;
  /** Router accept time, epoch ms. */
  ts: number;
  data: string;
}

/** Router → every gateway with local subscribers, on P.ch.<channel>: published once per message. */
export interface ChannelMessage extends ChannelRecord {
  channel: string;
  epoch: string;
}

/**
 * Gateway → a router: the channel's position, and with `afterOffset` what
 * came after it (resume recovery, gap repair). Creates the channel's epoch
 * on first use, so every subscriber starts from a real position.
 */
export interface ChannelHistoryRequest {
  channel: string;
  afterOffset?: number;
  timeoutMs?: number;
}

export interface ChannelHistoryReply {
  channel: string;
  epoch: string;
  /** Latest offset assigned in this epoch (0: nothing published yet). */
  offset: number;
  /**
   * After `afterOffset`, in offset order: all of them when `covered`; when not, the prefix that fit the reply's
   * byte bound (the rest follows in later reads), or none (the history no longer holds afterOffset + 1).
   */
  pubs: ChannelRecord[];
  /** Every offset in (afterOffset, offset] is in `pubs` (true without afterOffset). */
  covered: boolean;
}

/**
 * Gateway → backends, on P.chpresence.<channel>, only with
 * LONGLINK_CHANNEL_PRESENCE_EVENTS: a connection started or stopped receiving
 * the channel (the broadcast channel excepted).
 */
export interface ChannelPresenceEvent {
  type: 'join' | 'leave';
  channel: string;
  user: string;
  device: string;
  conn: string;
  gateway: string;
  /** Epoch ms. */
  at: number;
}

/**
 * Gateway → routers (queue group), on P.choccupancy: this gateway's first
 * local connection joined `channel` (`occupied: true`, after its join
 * succeeded) or its last one left (`false`). One message per transition per
 * gateway, never per join: routers derive the cluster-wide
 * channel.occupied / channel.vacated webhooks from them (docs/webhooks.md).
 * The broadcast channel is never reported.
 */
export interface ChannelOccupancyEvent {
  channel: string;
  gateway: string;
  occupied: boolean;
  /** Epoch ms, gateway wall clock. */
  at: number;
  /**
   * The user whose connection's join or leave made the transition: the routers charge the webhook it becomes to
   * that user's share of the queue (never in its body). Absent from older gateways: not charged.
   */
  user?: string;
  /** The gateway process's boot id (as in its beacons) and a number that grows with each report: the routers apply one gateway's reports in this order. Set by the gateway's bus link. */
  boot?: string;
  seq?: number;
}

/** Router → every gateway: how many local connections receive `channel`; answered on `reply`. */
export interface ChannelCountRequest {
  channel: string;
  reply: string;
}

export interface ChannelCountReply {
  gateway: string;
  channel: string;
  count: number;
}
