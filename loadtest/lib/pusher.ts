/**
 * Open-loop pusher for the load tools: POST /v1/push at a fixed rate (at
 * most `concurrency` requests in flight, keep-alive), one user per push,
 * `data: {t}` stamped with the send time (epoch ms) so clients can measure
 * end-to-end latency. Records what the router accepted, per user, so a run
 * can check later that every accepted push arrived.
 */
import http from 'node:http';

export interface PushStats {
  requests: number; sent: number; offline: number; errors: number;
  /** Sum of `connections` over `sent` results: deliveries to expect. */
  expectedDeliveries: number;
  errorSamples: Record<string, number>;
}

export interface PushResult { user: string; seq: number; status: string; connections: number }

export class Pusher {
  readonly stats: PushStats = { requests: 0, sent: 0, offline: 0, errors: 0, expectedDeliveries: 0, errorSamples: {} };
  /** Accepted pushes (sent or stored offline) per user: their seqs. */
  readonly accepted = new Map<string, number[]>();
  /** With `record`: how the router answered each accepted push ("user#seq" → "sent/1@<ms since start>"), for loss reports. */
  readonly outcomes = new Map<string, string>();
  private readonly startedAt = performance.now();
  private readonly agent: http.Agent;
  private readonly api: URL;
  private inFlight = 0;
  private timer: NodeJS.Timeout | undefined;

  constructor(apiUrl: string, private readonly apiKey: string, private readonly concurrency = 64, private readonly record = false) {
    this.api = new URL(apiUrl);
    this.agent = new http.Agent({ keepAlive: true, maxSockets: concurrency });
  }

  /** One push to `user`; resolves when the router answered (never rejects). */
  push(user: string): Promise<PushResult | undefined> {
    this.stats.requests++;
    this.inFlight++;
    const body = JSON.stringify({ users: [user], data: { t: performance.timeOrigin + performance.now() } });
    return new Promise((resolve) => {
      const fail = (why: string): void => {
        this.stats.errors++;
        this.stats.errorSamples[why] = (this.stats.errorSamples[why] ?? 0) + 1;
        resolve(undefined);
      };
      const req = http.request({ host: this.api.hostname, port: this.api.port, path: '/v1/push', method: 'POST', agent: this.agent,
        headers: { authorization: `Bearer ${this.apiKey}`, 'content-type': 'application/json', 'content-length': Buffer.byteLength(body) } }, (res) => {
        const chunks: Buffer[] = [];
        res.on('data', (b: Buffer) => chunks.push(b));
        res.on('end', () => {
          this.inFlight--;
          const text = Buffer.concat(chunks).toString('utf8');
          if (res.statusCode !== 200) { fail(`HTTP ${res.statusCode}: ${text.slice(0, 80)}`); return; }
          const r = (JSON.parse(text) as { results: PushResult[] }).results[0];
          if (!r) { fail('no result'); return; }
          if (r.status === 'sent') { this.stats.sent++; this.stats.expectedDeliveries += r.connections; }
          else if (r.status === 'offline') this.stats.offline++;
          else { fail(`status ${r.status}`); return; }
          if (this.record) {
            let l = this.accepted.get(r.user);
            if (!l) this.accepted.set(r.user, (l = []));
            l.push(r.seq);
            this.outcomes.set(`${r.user}#${r.seq}`, `${r.status}/${r.connections}@${Math.round(performance.now() - this.startedAt)}ms`);
          }
          resolve(r);
        });
      });
      req.setTimeout(10_000, () => req.destroy(new Error('request timeout')));
      req.on('error', (e) => { this.inFlight--; fail(e.message.slice(0, 80)); });
      req.end(body);
    });
  }

  /** Pushes `ratePerS` per second to users from `pick()` until stop(). Skips a slot when `concurrency` are in flight. */
  start(ratePerS: number, pick: () => string): void {
    if (ratePerS <= 0) return;
    const t0 = performance.now();
    let issued = 0;
    this.timer = setInterval(() => {
      const due = Math.floor(((performance.now() - t0) / 1000) * ratePerS);
      while (issued < due) {
        issued++;
        if (this.inFlight >= this.concurrency) { this.stats.errorSamples['skipped: too many in flight'] = (this.stats.errorSamples['skipped: too many in flight'] ?? 0) + 1; continue; }
        void this.push(pick());
      }
    }, 10);
  }

  async stop(): Promise<void> {
    clearInterval(this.timer);
    const deadline = performance.now() + 15_000;
    while (this.inFlight > 0 && performance.now() < deadline) await new Promise((r) => setTimeout(r, 20));
    this.agent.destroy();
  }
}
