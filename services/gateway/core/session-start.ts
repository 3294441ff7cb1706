/**
 * Starting a session on a freshly opened connection: ask the router for the
 * session and the missed pushes, answer HELLO and hand the backlog to the
 * replayer, or map the router's refusal to a close code. The adaptive
 * session-start limit learns from each start's latency and outcome.
 */
import { Close, PROTOCOL_VERSION, encodeJson, type HelloFrame } from '../../../protocol/index.js';
import type { Clock } from '../../shared/clock.js';
import type { Logger } from '../../shared/log.js';
import { Errors, LonglinkError } from '../../shared/errors.js';
import { bump } from '../../shared/stats.js';
import type { AdmissionControl } from './admission.js';
import { returnKey } from './return-line.js';
import type { SampleOutcome } from './adaptive-limit.js';
import { reannounced, type Connection } from './connection.js';
import type { CoreOptions, CoreStats } from './options.js';
import type { GatewayLink, Handshake, ResumeReply } from './ports.js';

export interface SessionStartDeps {
  options: CoreOptions;
  clock: Clock;
  link: GatewayLink;
  log: Logger;
  stats: CoreStats;
  admission: AdmissionControl;
  /** In-band token refresh is on: hello tells the client how long its token has left. */
  refreshable: boolean;
  write(c: Connection, data: string, isBinary: boolean): void;
  closeWith(c: Connection, code: number, message: string): void;
  /** HELLO is written: replay the backlog (inside the same cork). */
  replay(c: Connection, reply: ResumeReply): void;
  /** After HELLO and the replay's start: join the connection's channels. */
  started?(c: Connection, hs: Handshake): void;
}

/**
 * Asks for the session and missed pushes; the router registers the connection
 * online before it reads the inbox (see ResumeRequest). The connection is
 * already in the local registry, so live deliveries that arrive meanwhile wait
 * in c.pending and are de-duplicated against the replay. Settles once HELLO is
 * written or the connection closed.
 */
export function startSession(d: SessionStartDeps, c: Connection, hs: Handshake): Promise<void> {
  const { options: o, admission, stats } = d;
  const startedAt = admission.startBegan(d.clock.now());
  let outcome: SampleOutcome = 'ignore';
  const timeoutMs = admission.resumeTimeoutMs();
  return d.link
    .resume({
      user: c.user, device: c.device, gateway: o.gatewayId, conn: c.id, session: hs.session, lastSeq: hs.lastSeq,
      ...(hs.lastEpoch !== undefined ? { lastEpoch: hs.lastEpoch } : {}),
    }, timeoutMs)
    .then((reply) => {
      outcome = 'ok';
      if (c.closed) return;
      c.session = reply.session;
      if (reply.epoch !== undefined) c.epoch = reply.epoch;
      bump(stats.resumeOutcomes, hs.session === undefined ? 'fresh' : reply.resumed ? 'resumed' : 'rejected');
      const hello: HelloFrame = {
        op: 'hello', v: PROTOCOL_VERSION, session: reply.session, conn: c.id, gateway: o.gatewayId,
        resumed: reply.resumed, seq: reply.latestSeq,
        ...(reply.epoch !== undefined ? { epoch: reply.epoch } : {}),
        ...(reply.lost !== undefined ? { lost: { epoch: reply.lost.epoch, afterSeq: reply.lost.afterSeq } } : {}),
        hb: { minMs: o.hb.minMs, maxMs: o.hb.maxMs, intervalMs: c.intervalMs, graceMs: o.hb.graceMs },
        limits: { maxPayload: o.limits.maxPayload, ratePerSec: o.limits.ratePerSec, burst: o.limits.burst },
        ...(d.refreshable && c.tokenExpiresAt !== Infinity ? { tokenExpiresInMs: Math.max(0, Math.round(c.tokenExpiresAt - d.clock.now())) } : {}),
      };
      c.socket.cork(() => {
        d.write(c, encodeJson(hello), false);
        // Paced by the send buffer; live pushes stay in c.pending until it ends.
        d.replay(c, reply);
      });
      // Passed over by a re-announcement while starting (bus-link.ts reannounce): announced now that it started.
      if (c.announceOnStart) {
        c.announceOnStart = false;
        d.link.presence(reannounced(c, o.gatewayId, d.clock.wallNow()));
      }
      d.started?.(c, hs);
    })
    .catch((err: unknown) => {
      // A refusal the router answered about this user (device limit, a newer start of the same device) says the
      // router is keeping up: a sample like a success. Counting it as overload let one user with a valid token
      // halve the gateway-wide limit on every attempt, refusing everyone else's connects.
      // A timeout is 'failed' too: overload (the limit halves), whatever the router was doing meanwhile.
      outcome = answeredRefusal(err) ? 'ok' : 'failed';
      bump(stats.resumeOutcomes, 'failed');
      refused(d, c, err, timeoutMs);
    })
    .finally(() => { admission.startEnded(startedAt, d.clock.now(), outcome); });
}

/** A refusal that concerns this user only, answered in time: not a sign of overload. */
function answeredRefusal(err: unknown): boolean {
  return err instanceof LonglinkError && (err.code === Errors.DEVICE_LIMIT.code || err.code === Errors.SESSION_REPLACED.code);
}

/**
 * The router refused or failed the start: say why, and when to come back if it was overload.
 * Overload is a router's shed (ROUTER_OVERLOADED, with its hint) or no answer within `timeoutMs`
 * (ROUTER_TIMEOUT): both close 1013 after a `reconnect` frame with a booked delay. Only a genuine
 * failure (no router listening, a store error, a malformed reply) closes 1011.
 */
function refused(d: SessionStartDeps, c: Connection, err: unknown, timeoutMs: number): void {
  const shed = err instanceof LonglinkError && err.code === Errors.ROUTER_OVERLOADED.code;
  const late = err instanceof LonglinkError && err.code === Errors.ROUTER_TIMEOUT.code;
  if (shed || late) {
    if (shed) d.stats.startsShedByRouter++;
    else d.stats.startsTimedOut++;
    if (c.closed) return;
    // Shed: refused at once by a router that could not start it in time; never sooner than its hint.
    // Timed out: a router took the start and did not answer within timeoutMs, so its backlog is at least
    // that long: come back no sooner than that (an immediate retry lands in the same backlog). Either way a
    // slot at or after the hint, or past the horizon the hint plus jitter (AdmissionControl.shedReturnMs);
    // the client's place is remembered like a 503's.
    const hintMs = shed ? (err.retryAfterMs ?? 1000) : timeoutMs;
    const delayMs = d.admission.shedReturnMs(d.clock.now(), hintMs, returnKey(c.user, c.device));
    d.write(c, encodeJson({ op: 'reconnect', delayMs, reason: shed ? 'routers overloaded' : 'routers too slow to answer' }), false);
    d.closeWith(c, Close.TRY_AGAIN_LATER, shed ? 'routers overloaded, retry after the delay' : 'session start timed out, retry after the delay');
    return;
  }
  if (err instanceof LonglinkError && err.code === Errors.DEVICE_LIMIT.code) {
    d.stats.startsDeviceLimit++;
    d.closeWith(c, Close.DEVICE_LIMIT, 'too many devices connected for this user');
    return;
  }
  if (err instanceof LonglinkError && err.code === Errors.SESSION_REPLACED.code) {
    // This start lost to a newer one of the same device (PresenceEvent.start): as if replaced by it.
    d.closeWith(c, Close.REPLACED, 'a newer connection for this user and device took over');
    return;
  }
  d.log.warn({ err: String(err), conn: c.id }, 'resume failed; closing so the client retries');
  d.closeWith(c, Close.INTERNAL_ERROR, 'session service unavailable, retry');
}
