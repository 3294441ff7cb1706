/**
 * A GatewayCore on a manual clock with a fake router link and fake sockets:
 * the unit-test bench for the gateway's protocol core.
 */
import { ManualClock } from '../../services/shared/clock.js';
import { GatewayCore } from '../../services/gateway/core/gateway-core.js';
import type { CoreOptions } from '../../services/gateway/core/options.js';
import type { Admission, AdmissionOptions } from '../../services/gateway/core/admission.js';
import type { FetchReply, FetchRequest, GatewayLink, Handshake, PresenceEvent, ResumeReply, ResumeRequest, TokenVerifier, UpstreamMessage } from '../../services/gateway/core/ports.js';
import { silent } from './log.js';

/** Admission options: the given static limits, the adaptive ones at their defaults, no per-source budget. */
export function admissionOptions(o: Partial<AdmissionOptions> = {}): AdmissionOptions {
  return { maxConnections: 100, connectRate: 1000, connectBurst: 1000, maxStarting: 1000, startTargetMs: 1000, resumeTimeoutMs: 5000, sourceRate: 0, sourceBurst: 1, ...o };
}

export function coreOptions(over: Partial<CoreOptions> = {}): CoreOptions {
  return {
    gatewayId: 'gw-test',
    hb: { minMs: 1000, maxMs: 60_000, defaultMs: 10_000, graceMs: 2000, check: true, log: false },
    wheel: { tickMs: 100, size: 512 },
    limits: { maxPayload: 1024, ratePerSec: 10, burst: 20, sendBufferBound: 1000, writeTimeoutMs: 3000 },
    admission: admissionOptions(),
    drain: { windowMs: 1000, reconnectJitterMs: 500 },
    ...over,
  };
}

export class FakeLink implements GatewayLink {
  presenceEvents: PresenceEvent[] = [];
  acks: Array<[string, string, number]> = [];
  /** The epoch each ack in `acks` named. */
  ackEpochs: Array<number | undefined> = [];
  resumeReply: (req: ResumeRequest) => Promise<ResumeReply> = async (req) => ({ session: req.session ?? 's-new', resumed: req.session !== undefined, latestSeq: 0, pushes: [] });
  resumes: ResumeRequest[] = [];
  resume(req: ResumeRequest): Promise<ResumeReply> { this.resumes.push(req); return this.resumeReply(req); }
  fetchReply: (req: FetchRequest) => Promise<FetchReply> = async () => ({ latestSeq: 0, pushes: [] });
  fetches: FetchRequest[] = [];
  fetch(req: FetchRequest): Promise<FetchReply> { this.fetches.push(req); return this.fetchReply(req); }
  presence(ev: PresenceEvent): void { this.presenceEvents.push(ev); }
  ack(user: string, device: string, seq: number, epoch?: number): void { this.acks.push([user, device, seq]); this.ackEpochs.push(epoch); }
  async upstream(): Promise<void> {}
  /** Upstream requests as the core made them; the answer comes from `replyWith`. */
  requests: Array<{ msg: UpstreamMessage; timeoutMs: number }> = [];
  replyWith: (msg: UpstreamMessage) => Promise<unknown> = async () => null;
  upstreamRequest(msg: UpstreamMessage, timeoutMs: number): Promise<unknown> { this.requests.push({ msg, timeoutMs }); return this.replyWith(msg); }
}

export function gatewayBench(over: Partial<CoreOptions> = {}, extra: { verifyToken?: TokenVerifier } = {}) {
  const clock = new ManualClock(0);
  const link = new FakeLink();
  let n = 0;
  const opts = coreOptions(over);
  const core = new GatewayCore({ options: opts, clock, ids: { next: () => `c${++n}` }, link, log: silent, random: () => 0.5, ...extra });
  const hs = (user = 'alice', device = 'd1', extra: Partial<Handshake> = {}): Handshake => ({
    user, device, tokenExpiresAt: Infinity, requestedIntervalMs: undefined, session: undefined, lastSeq: undefined, ...extra,
  });
  /** Advances the clock in tick-sized steps, ticking the core like the transport does. */
  const run = (ms: number): void => {
    const step = opts.wheel.tickMs;
    for (let t = 0; t < ms; t += step) { clock.advance(Math.min(step, ms - t)); core.tick(); }
  };
  return { clock, link, core, hs, run };
}

export const flush = (): Promise<void> => new Promise<void>((r) => setImmediate(r));
export const buf = (u: Uint8Array): ArrayBuffer => u.buffer.slice(u.byteOffset, u.byteOffset + u.byteLength) as ArrayBuffer;
export const text = (s: string): ArrayBuffer => buf(new TextEncoder().encode(s));

/** The bench with roomy admission limits, so admission never gets in the way; a test sets the limits it checks. */
export const roomyGatewayBench = (over: Partial<CoreOptions> = {}): ReturnType<typeof gatewayBench> =>
  gatewayBench({ admission: admissionOptions({ maxConnections: 100, connectRate: 1000, connectBurst: 1000, maxStarting: 1000 }), ...over });

/** What the transport does for an upgrade whose token verified: precheck (source budget), then the shared budget. */
export function admit(core: GatewayCore, source = '192.0.2.1'): Admission {
  const pre = core.precheck(source);
  return pre.ok ? core.admitVerified() : pre;
}
