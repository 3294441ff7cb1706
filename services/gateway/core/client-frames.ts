/**
 * What the gateway does with each decoded client frame: heartbeats (interval
 * renegotiation and the ack), acks, in-band token refresh and upstream sends.
 * Size, rate and liveness are checked before a frame gets here (GatewayCore.message).
 */
import { Close, LIMITS, encodeHeartbeatAck, encodeJson, heartbeatDeadlineMs, type ChannelPosition, type ClientFrame, type ReplyFrame, type SendFrame } from '../../../protocol/index.js';
import { Errors, LonglinkError } from '../../shared/errors.js';
import type { Clock } from '../../shared/clock.js';
import type { Logger } from '../../shared/log.js';
import { bump } from '../../shared/stats.js';
import { clampInterval, type Connection } from './connection.js';
import type { Deadlines } from './deadlines.js';
import type { CoreObserver, CoreOptions, CoreStats } from './options.js';
import type { GatewayLink, TokenVerifier } from './ports.js';

export interface ClientFramesDeps {
  options: CoreOptions;
  clock: Clock;
  link: GatewayLink;
  log: Logger;
  stats: CoreStats;
  deadlines: Deadlines;
  observer?: CoreObserver;
  /** In-band token refresh; without it `refresh` frames are answered with an error. */
  verifyToken?: TokenVerifier;
  write(c: Connection, data: Uint8Array | string, isBinary: boolean): void;
  closeWith(c: Connection, code: number, message: string): void;
  /** The `recover` frame (channels.ts); false when none was expected. */
  recover?(c: Connection, positions: readonly ChannelPosition[]): boolean;
}

/** Shared with GatewayCore's bare-heartbeat path. */
export const HEARTBEAT_ACK_BARE = encodeHeartbeatAck();

export class ClientFrames {
  constructor(private readonly d: ClientFramesDeps) {}

  /** A decoded frame other than the bare heartbeat (message() already counted it, checked its size and rate, and touched the deadline). */
  handle(c: Connection, f: ClientFrame): void {
    switch (f.op) {
      case 'heartbeat':
        this.heartbeat(c, f.intervalMs);
        return;
      case 'ack':
        this.d.stats.acks++;
        // Once the sequence restarted under a new epoch on this connection, an ack above what the
        // new epoch wrote was sent for the old one: passing it on would trim new pushes with those seqs.
        if (c.epochMoved && f.seq > c.sentSeq) return;
        if (f.seq > c.ackedSeq) {
          c.ackedSeq = f.seq;
          this.d.link.ack(c.user, c.device, f.seq, c.epoch >= 0 ? c.epoch : undefined);
        }
        return;
      case 'refresh':
        this.refresh(c, f.token);
        return;
      case 'recover':
        if (this.d.recover?.(c, f.channels) !== true) this.d.closeWith(c, Close.INVALID_FRAME, 'recover is sent once, after a hello on a recover=1 connection');
        return;
      case 'send':
        this.d.stats.upstream++;
        if (f.reply === true) { this.request(c, f); return; }
        this.d.link
          .upstream({ user: c.user, device: c.device, conn: c.id, gateway: this.d.options.gatewayId, topic: f.topic, id: f.id, data: f.data })
          .then(
            () => { if (!c.closed) this.d.write(c, encodeJson({ op: 'sent', id: f.id }), false); },
            (err: unknown) => { if (!c.closed) this.d.write(c, encodeJson({ op: 'sent', id: f.id, error: err instanceof Error ? err.message : 'upstream unavailable' }), false); },
          );
        return;
    }
  }

  /**
   * An upstream request: forwarded as a bus request, answered with a `reply`
   * frame holding the backend's answer or an LL_UPSTREAM_… error. At most
   * LIMITS.maxRepliesInFlight per connection wait at once, so a client cannot
   * pile up timers and pending bus requests.
   */
  private request(c: Connection, f: SendFrame): void {
    const answer = (frame: ReplyFrame): void => { if (!c.closed) this.d.write(c, encodeJson(frame), false); };
    if (c.repliesInFlight >= LIMITS.maxRepliesInFlight) {
      bump(this.d.stats.upstreamReplies, 'busy');
      answer({ op: 'reply', id: f.id, error: Errors.UPSTREAM_BUSY.code, message: `at most ${LIMITS.maxRepliesInFlight} requests in flight per connection` });
      return;
    }
    c.repliesInFlight++;
    const msg = { user: c.user, device: c.device, conn: c.id, gateway: this.d.options.gatewayId, topic: f.topic, id: f.id, data: f.data };
    this.d.link.upstreamRequest(msg, f.timeoutMs ?? LIMITS.defaultReplyTimeoutMs).then(
      (data) => {
        c.repliesInFlight--;
        bump(this.d.stats.upstreamReplies, 'ok');
        answer({ op: 'reply', id: f.id, data });
      },
      (err: unknown) => {
        c.repliesInFlight--;
        const e = err instanceof LonglinkError ? err : new LonglinkError(Errors.UPSTREAM_NO_BACKEND, 'bus unavailable');
        bump(this.d.stats.upstreamReplies, e.code);
        answer({ op: 'reply', id: f.id, error: e.code, message: e.message });
      },
    );
  }

  /**
   * In-band token refresh: a token verified for the same user (and device)
   * moves the connection's expiry, so it is never closed with 4002. A token
   * that fails verification is answered with its error code and the old
   * expiry stands; a valid token for someone else is an attack or a bug: 4001.
   */
  private refresh(c: Connection, token: string): void {
    const verify = this.d.verifyToken;
    if (verify === undefined) { this.d.write(c, encodeJson({ op: 'refreshed', error: 'LL_AUTH_INVALID_TOKEN' }), false); return; }
    let vt;
    try {
      vt = verify(token);
    } catch (err) {
      const code = (err as { code?: unknown }).code;
      bump(this.d.stats.refreshes, 'refused');
      this.d.write(c, encodeJson({ op: 'refreshed', error: typeof code === 'string' ? code : 'LL_AUTH_INVALID_TOKEN' }), false);
      return;
    }
    if (vt.user !== c.user || (vt.device !== undefined && vt.device !== c.device)) {
      bump(this.d.stats.refreshes, 'mismatch');
      this.d.closeWith(c, Close.AUTH_FAILED, 'refresh token is for another user or device');
      return;
    }
    const now = this.d.clock.now();
    c.tokenExpiresAt = Math.max(c.tokenExpiresAt, now + (vt.expiresAt - this.d.clock.wallNow()));
    bump(this.d.stats.refreshes, 'ok');
    this.d.deadlines.reschedule(c, now);
    this.d.write(c, encodeJson({ op: 'refreshed', expiresInMs: Math.max(0, Math.round(c.tokenExpiresAt - now)) }), false);
  }

  /** A heartbeat, with or without an announced interval: renegotiate if needed and answer with an ack. */
  heartbeat(c: Connection, announcedMs: number | undefined): void {
    this.d.stats.heartbeatsOther++;
    if (this.d.options.hb.log) this.d.log.debug({ conn: c.id, user: c.user, intervalMs: announcedMs }, 'heartbeat');
    let intervalMs: number | undefined;
    if (announcedMs !== undefined) {
      const clamped = clampInterval(announcedMs, this.d.options.hb.minMs, this.d.options.hb.maxMs);
      if (clamped !== c.intervalMs) {
        c.intervalMs = clamped;
        c.deadlineSpanMs = heartbeatDeadlineMs(clamped, this.d.options.hb.graceMs);
        this.d.observer?.negotiatedIntervalMs(clamped);
        // Exact, not touch(): a shorter span moves the deadline earlier than the wheel's entry.
        this.d.deadlines.reschedule(c, this.d.clock.now());
      }
      if (clamped !== announcedMs) intervalMs = clamped;
    }
    // Business data rides on the ack only when there is something to say.
    const behind = c.sentSeq > c.ackedSeq;
    if (intervalMs === undefined && !behind) this.d.write(c, HEARTBEAT_ACK_BARE, true);
    else this.d.write(c, encodeHeartbeatAck({ ...(behind ? { seq: c.sentSeq } : {}), ...(intervalMs !== undefined ? { intervalMs } : {}) }), true);
  }
}
