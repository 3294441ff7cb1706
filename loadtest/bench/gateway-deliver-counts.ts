/**
 * What one gateway says it did with deliver messages, for
 * bench:gateway-deliver: the pushes it wrote to sockets (its own
 * longlink_gateway_pushes_delivered_total, on /metrics) and the bus messages
 * NATS sent it on its deliver subject (the server's monitoring endpoint,
 * connz with subscription details: the msgs count of that subscription).
 * Both are read from the processes that did the work, not from what the
 * bench published, so a bench that timed the wrong process or lost messages
 * on the way shows it. Older builds have the same counter (compare builds
 * from before it existed with a different bench).
 */
import type { Cluster } from '../../infra/local/cluster-harness.js';
import { subjects } from '../../services/shared/bus/subjects.js';
import { SHARED_SCRAPE_MAX_MS } from '../../services/shared/metrics.js';

/**
 * When each gateway's /metrics was last read. A gateway serves a collection's text again to requests within up to
 * SHARED_SCRAPE_MAX_MS of it (sharedScrape), so a count read sooner after the previous one can be that one: a
 * window's start read right after a warm-up's end read the count from before the warm-up's pushes (2,400 delivered
 * for 2,000 published). Each read here waits until the previous one's text has expired.
 */
const lastRead = new Map<string, number>();

export interface DeliverCounts { pushes: number; msgs: number }

interface Connz { connections?: Array<{ subscriptions_list_detail?: Array<{ subject: string; msgs: number }> }> }

/** Value of the unlabelled sample `name` in a Prometheus text page; throws when it is missing (the bench would divide by nothing). */
export function counterValue(text: string, name: string): number {
  const m = new RegExp(`^${name} ([0-9.e+-]+)$`, 'm').exec(text);
  if (!m) throw new Error(`no ${name} sample in /metrics`);
  return Number(m[1]);
}

/** Messages NATS sent on `subject`, summed over every subscription to it (one: the gateway's). */
export function subjectMsgs(connz: Connz, subject: string): number {
  let n = 0;
  for (const c of connz.connections ?? []) for (const s of c.subscriptions_list_detail ?? []) if (s.subject === subject) n += s.msgs;
  return n;
}

export async function gatewayDeliverCounts(c: Cluster, gatewayId: string): Promise<DeliverCounts> {
  const g = c.gateways.find((x) => x.id === gatewayId);
  if (!g) throw new Error(`no gateway ${gatewayId}`);
  const since = performance.now() - (lastRead.get(g.httpUrl) ?? -Infinity);
  if (since <= SHARED_SCRAPE_MAX_MS) await new Promise((r) => setTimeout(r, SHARED_SCRAPE_MAX_MS + 50 - since));
  const res = await fetch(`${g.httpUrl}/metrics`, { signal: AbortSignal.timeout(5000) });
  const text = await res.text();
  lastRead.set(g.httpUrl, performance.now());
  const pushes = counterValue(text, 'longlink_gateway_pushes_delivered_total');
  const msgs = subjectMsgs(await c.nats.monitor<Connz>(0, 'connz?subs=detail&limit=1024'), subjects().deliver(gatewayId));
  return { pushes, msgs };
}
