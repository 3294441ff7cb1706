/**
 * What the scenarios share: a push loop that remembers every push the API
 * accepted (and when), loss accounting against what the clients' SDKs handed
 * to the app, percentiles, and a Prometheus text scrape.
 */
import type { ClientHost } from '../clients.js';
import type { NetnsCluster } from '../cluster.js';
import { percentileOf } from '../../../loadtest/lib/histogram.js';

export const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

/** Nearest-rank percentile, `p` in percent (the load tools' percentileOf). */
export function percentile(xs: number[], p: number): number {
  return percentileOf([...xs].sort((a, b) => a - b), p / 100);
}

export const round = (x: number, digits = 1): number => Math.round(x * 10 ** digits) / 10 ** digits;

export interface PushData { n: number; sentAt: number }

/** Where each user's client runs. */
export type Recipients = Map<string, { host: ClientHost; id: string }>;

/**
 * Pushes `{n, sentAt}` to every user in `users` (one API call per round)
 * every `everyMs` until stop(). A push counts as accepted when the API
 * answered 200 with a seq for that user: from then on, losing it is a bug.
 */
export class PushLoop {
  readonly accepted = new Map<string, Map<number, number>>();
  sent = 0;
  refused = 0;
  private n = 0;
  private running = true;
  private wake: (() => void) | undefined;
  private readonly done: Promise<void>;

  /** everyMs = 0: one round only. */
  constructor(private readonly c: NetnsCluster, private readonly users: string[], everyMs: number) {
    for (const u of users) this.accepted.set(u, new Map());
    this.done = (async () => {
      do {
        await this.once();
        if (everyMs > 0 && this.running) await new Promise<void>((r) => { this.wake = r; setTimeout(r, everyMs); });
      } while (everyMs > 0 && this.running);
    })();
  }

  private async once(): Promise<void> {
    for (let i = 0; i < this.users.length; i += 1000) {
      const batch = this.users.slice(i, i + 1000);
      const n = ++this.n;
      const sentAt = Date.now();
      this.sent += batch.length;
      try {
        const r = await this.c.push(batch, { n, sentAt } satisfies PushData);
        const results = (r.body as { results?: Array<{ user: string; seq?: number }> }).results ?? [];
        for (const res of results) {
          if (r.status === 200 && typeof res.seq === 'number') this.accepted.get(res.user)?.set(n, sentAt);
          else this.refused++;
        }
        if (r.status !== 200) this.refused += batch.length - results.length;
      } catch {
        this.refused += batch.length;
      }
    }
  }

  async stop(): Promise<void> {
    this.running = false;
    this.wake?.();
    await this.done;
  }

  get acceptedCount(): number { let k = 0; for (const m of this.accepted.values()) k += m.size; return k; }

  /** Accepted pushes not (yet) received, per user. */
  missing(recipients: Recipients): number {
    let lost = 0;
    for (const [user, acc] of this.accepted) {
      const r = recipients.get(user);
      if (r === undefined) { lost += acc.size; continue; }
      const got = new Set(r.host.pushes(r.id).map((d) => (d as PushData).n));
      for (const n of acc.keys()) if (!got.has(n)) lost++;
    }
    return lost;
  }

  /** Waits (up to timeoutMs) until every accepted push has reached its client; returns how many never did. */
  async settle(recipients: Recipients, timeoutMs: number): Promise<number> {
    const end = Date.now() + timeoutMs;
    let lost = this.missing(recipients);
    while (lost > 0 && Date.now() < end) {
      await sleep(200);
      lost = this.missing(recipients);
    }
    return lost;
  }

  /** Delivery latencies (ms): client receive time − API call time, for the given recipients. */
  latencies(recipients: Recipients, users: string[]): number[] {
    const out: number[] = [];
    for (const u of users) {
      const r = recipients.get(u)!;
      for (const e of r.host.of(r.id, 'push')) {
        const d = e.data as PushData;
        out.push(e.t - d.sentAt);
      }
    }
    return out;
  }
}

/** One sample of a Prometheus text exposition: sum of the series named `name` whose labels contain `labelPart`. */
export async function scrape(url: string, name: string, labelPart = ''): Promise<number> {
  const res = await fetch(`${url}/metrics`, { signal: AbortSignal.timeout(5000) });
  const text = await res.text();
  let sum = 0;
  for (const line of text.split('\n')) {
    if (!line.startsWith(name)) continue;
    const rest = line.slice(name.length);
    if (!(rest.startsWith(' ') || rest.startsWith('{'))) continue;
    if (labelPart !== '' && !rest.includes(labelPart)) continue;
    sum += Number(line.trim().split(/\s+/).pop());
  }
  return sum;
}

/** Every labelled series of `name`, as label-string → value. */
export async function scrapeLabels(url: string, name: string): Promise<Record<string, number>> {
  const res = await fetch(`${url}/metrics`, { signal: AbortSignal.timeout(5000) });
  const out: Record<string, number> = {};
  for (const line of (await res.text()).split('\n')) {
    if (!line.startsWith(name + '{')) continue;
    const labels = line.slice(name.length + 1, line.indexOf('}'));
    out[labels] = Number(line.trim().split(/\s+/).pop());
  }
  return out;
}
