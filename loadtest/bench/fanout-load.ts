/**
 * bench:fanout's rate phases, on the subscribers already connected (each
 * user's token names one channel of each group, fanout-worker.ts):
 *
 *  - sustained: channels of `size` subscribers, publishes round-robin over
 *    them at an offered delivery rate (publishes/s = rate / size), open loop
 *    for `seconds`: deliveries per second the clients actually received,
 *    whether each arrived exactly once, and publish → last receipt.
 *  - latency: the 2,000 publishes/s to channels of 100 subscribers:
 *    the publish API's answer time (from each call's scheduled time, so a
 *    stalled router shows as latency, not as fewer calls) and publish → last
 *    subscriber.
 *
 * Publishes go through one keep-alive HTTP agent, at most `maxInFlight`
 * outstanding; a call that could not start on time is still timed from its
 * schedule. After the last answer the phase waits until receipts stop
 * growing (fanout.ts), so `exactly_once: false` means messages were lost or
 * duplicated, not still on their way.
 */
import http from 'node:http';
import { percentileOf } from '../lib/histogram.js';

/**
 * One publish call: `answeredMs` from its scheduled time (what the p99 is about); of that, `queuedMs`
 * waited in this client before the request was written (all `maxInFlight` calls busy, or this process's event
 * loop late), the rest is the round trip (the router reading, working, answering; the kernel; this process reading).
 */
export interface PublishOutcome { channel: string; offset: number; scheduledAt: number; answeredMs: number; queuedMs: number; status: number; error?: string }

/**
 * How long a kept-alive connection may sit idle in the pool: under the router's announced 5 s
 * (`Keep-Alive: timeout=5`, which Node's pool only applies to lower a timeout of its own) and well under the
 * 8-12 s after which uWS closes it. Without it the pool kept idle connections past that close, and after a
 * stall of this process between two phases reused some the close had already reached: those publishes failed
 * with ECONNRESET (41-56 of 10,000 in the latency phase of earlier runs).
 */
export const IDLE_SOCKET_MS = 4000;

export class Publisher {
  private readonly agent: http.Agent;
  private readonly api: URL;
  constructor(apiUrl: string, private readonly apiKey: string, readonly maxInFlight = 256) {
    this.api = new URL(apiUrl);
    this.agent = new http.Agent({ keepAlive: true, maxSockets: maxInFlight, timeout: IDLE_SOCKET_MS });
  }

  /** One publish; resolves with the answer (status 0 on a transport error), never rejects. */
  publish(channel: string, data: unknown, scheduledAt: number): Promise<PublishOutcome> {
    const body = JSON.stringify({ channel, data });
    const queuedMs = Date.now() - scheduledAt;
    return new Promise((resolve) => {
      const done = (status: number, offset: number, error?: string): void => resolve({ channel, offset, scheduledAt, answeredMs: Date.now() - scheduledAt, queuedMs, status, ...(error !== undefined ? { error } : {}) });
      const req = http.request({ host: this.api.hostname, port: this.api.port, path: '/v1/publish', method: 'POST', agent: this.agent, timeout: 10_000,
        headers: { authorization: `Bearer ${this.apiKey}`, 'content-type': 'application/json', 'content-length': Buffer.byteLength(body) } }, (res) => {
        let text = '';
        res.setEncoding('utf8');
        res.on('data', (d: string) => { text += d; });
        res.on('end', () => {
          let offset = -1;
          try { offset = (JSON.parse(text) as { offset?: number }).offset ?? -1; } catch { /* counted by status */ }
          done(res.statusCode ?? 0, offset);
        });
      });
      req.on('timeout', () => req.destroy(new Error('timeout')));
      req.on('error', (err: NodeJS.ErrnoException) => done(0, -1, err.code ?? err.message));
      req.end(body);
    });
  }

  close(): void { this.agent.destroy(); }
}

/**
 * Open loop: `rate` publishes per second for `seconds`, channel `i % channels`
 * of `prefix`, each stamped with its scheduled wall time. Resolves once every
 * call has answered.
 */
export async function openLoop(p: Publisher, prefix: string, channels: number, rate: number, seconds: number): Promise<PublishOutcome[]> {
  const total = Math.round(rate * seconds);
  const calls: Array<Promise<PublishOutcome>> = [];
  const start = Date.now();
  let inFlight = 0, next = 0;
  await new Promise<void>((resolve) => {
    const tick = (): void => {
      const due = Math.min(total, Math.floor(((Date.now() - start) * rate) / 1000) + 1);
      while (next < due && inFlight < p.maxInFlight) {
        const scheduledAt = start + Math.floor((next * 1000) / rate);
        const i = next++;
        inFlight++;
        calls.push(p.publish(`${prefix}${i % channels}`, { t: scheduledAt, i }, scheduledAt).then((o) => { inFlight--; return o; }));
      }
      if (next >= total) { clearInterval(timer); resolve(); }
    };
    const timer = setInterval(tick, 2);
    tick();
  });
  return Promise.all(calls);
}

const pct = (xs: number[], q: number): number => (xs.length === 0 ? -1 : percentileOf([...xs].sort((a, b) => a - b), q));

/** Summary of one rate phase, given what the clients received per `channel#offset`. */
export function rateSummary(out: PublishOutcome[], size: number, pubs: Map<string, [number, number]>, seconds: number) {
  const ok = out.filter((o) => o.status === 200 && o.offset > 0);
  let delivered = 0, complete = 0, firstSend = Infinity, lastReceipt = 0;
  const lastMs: number[] = [];
  for (const o of ok) {
    const r = pubs.get(`${o.channel}#${o.offset}`);
    firstSend = Math.min(firstSend, o.scheduledAt);
    if (r === undefined) continue;
    delivered += r[0];
    if (r[0] === size) complete++;
    lastReceipt = Math.max(lastReceipt, r[1]);
    lastMs.push(r[1] - o.scheduledAt);
  }
  const span = (lastReceipt - firstSend) / 1000;
  const ms = (xs: number[]) => ({ p50: pct(xs, 0.5), p99: pct(xs, 0.99), max: pct(xs, 1) });
  return {
    publishes: out.length, accepted: ok.length, refused: out.length - ok.length,
    // Refused calls by HTTP status; no answer is "0 <error>" (ECONNRESET, "timeout": the call's 10 s).
    refused_by_status: out.reduce<Record<string, number>>((m, o) => {
      if (o.status === 200 && o.offset > 0) return m;
      const k = o.status === 0 ? `0 ${o.error ?? ''}`.trim() : String(o.status);
      m[k] = (m[k] ?? 0) + 1;
      return m;
    }, {}),
    offered_publishes_per_s: Math.round(out.length / seconds),
    delivered, expected: ok.length * size, exactly_once: complete === ok.length && delivered === ok.length * size,
    deliveries_per_s: span > 0 ? Math.round(delivered / span) : -1,
    api_answer_ms: ms(out.map((o) => o.answeredMs)),
    // The answer time split: waiting in the bench's client to be sent, and the round trip after (PublishOutcome).
    api_queued_in_client_ms: ms(out.map((o) => o.queuedMs)),
    api_round_trip_ms: ms(out.map((o) => o.answeredMs - o.queuedMs)),
    publish_to_last_subscriber_ms: ms(lastMs),
  };
}
export type RateSummary = ReturnType<typeof rateSummary>;
