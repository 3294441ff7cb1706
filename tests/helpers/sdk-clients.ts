/**
 * Fleets of real SDK clients (Node `ws` transport) for cluster tests, with a
 * per-user record of what the app saw: every push, in arrival order.
 */
import { createClient, type LonglinkClient } from '../../sdk/src/node.js';
import type { Cluster } from '../../infra/local/cluster-harness.js';

export interface Recorded {
  user: string;
  client: LonglinkClient;
  seqs: number[];
  gateways: string[];
  resumed: boolean[];
}

export function fleetClient(c: Cluster, user: string, device = 'd1'): Recorded {
  const client = createClient({
    url: c.url,
    token: () => c.token(user, device),
    heartbeat: { smart: false, intervalMs: 1000, timeoutMs: 2000 },
    backoff: { baseMs: 200, capMs: 1500, healthyAfterMs: 500 },
    connectTimeoutMs: 5000,
  });
  const r: Recorded = { user, client, seqs: [], gateways: [], resumed: [] };
  client.on('push', (p) => r.seqs.push(p.seq));
  client.on('connected', (e) => { r.gateways.push(e.gateway); r.resumed.push(e.resumed); });
  client.connect();
  return r;
}

export async function waitFor(pred: () => boolean, timeoutMs: number, what: string, detail: () => string = () => ''): Promise<void> {
  const t0 = Date.now();
  while (!pred()) {
    if (Date.now() - t0 > timeoutMs) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}${detail() ? `: ${detail()}` : ''}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}
