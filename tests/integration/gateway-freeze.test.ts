/**
 * A gateway frozen past its resume deadline (SIGSTOP, as a CPU-starved or
 * GC-paused process) does not fail the session starts whose router answers
 * arrived while it was frozen: the resume request's deadline follows
 * shared/deadline.ts (bus/nats-requests.ts). With the NATS client's own
 * request timer, every one of them closed 1011 although its answer sat in
 * the gateway's socket.
 *
 * Real processes: the router is stopped first so that the starts are in
 * flight (requests sent, no answer yet), then the gateway is stopped, the
 * router continues and answers into the frozen gateway's socket, and the
 * gateway continues after its resume timeout has passed.
 */
import { after, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { startCluster, type Cluster } from '../../infra/local/cluster-harness.js';
import { connect, type TestClient } from '../helpers/client.js';

const CLIENTS = 40;
const RESUME_TIMEOUT_MS = 1500;
const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

describe('gateway frozen past its resume deadline', () => {
  let c: Cluster | undefined;
  const clients: TestClient[] = [];
  after(async () => {
    for (const x of clients) x.close();
    for (const p of [...(c?.gateways ?? []).map((g) => g.proc), ...(c?.routers ?? []).map((r) => r.proc)]) p.kill('SIGCONT');
    await c?.stop();
  });

  it('session starts answered while the gateway was frozen get their hello, not 1011', async (t) => {
    c = await startCluster({
      gateways: 1, routers: 1,
      // The timeout in use is within [3 x target, LONGLINK_RESUME_TIMEOUT_MS]; the lease outlasts the freeze.
      gatewayEnv: { LONGLINK_RESUME_TIMEOUT_MS: String(RESUME_TIMEOUT_MS), LONGLINK_SESSION_START_TARGET_MS: '300', LONGLINK_MAX_STARTING_SESSIONS: '1000' },
      routerEnv: { LONGLINK_GATEWAY_LEASE_MS: '30000' },
    });
    const g = c.gateways[0]!;
    const router = c.routers[0]!;
    const warm = await connect(g.url, { token: await c.token('warm', 'd') });
    assert.ok(warm.ok);
    clients.push(warm.client);
    await warm.client.frame('hello');

    const tokens = await Promise.all(Array.from({ length: CLIENTS }, (_, i) => c!.token(`frozen-${i}`, 'd')));
    router.proc.kill('SIGSTOP');
    let gatewayStopped = false;
    try {
      const opened = await Promise.all(tokens.map((token) => connect(g.url, { token })));
      for (const o of opened) if (o.ok) clients.push(o.client);
      assert.equal(opened.filter((o) => !o.ok).length, 0, 'every upgrade accepted');
      await sleep(200); // the gateway has sent its resume requests; the router cannot answer yet
      g.proc.kill('SIGSTOP');
      gatewayStopped = true;
      router.proc.kill('SIGCONT');
      await sleep(RESUME_TIMEOUT_MS + 1500); // the router answers into the frozen gateway's socket; its deadlines pass
    } finally {
      router.proc.kill('SIGCONT');
      if (gatewayStopped) g.proc.kill('SIGCONT');
    }
    const started = clients.slice(1);
    await Promise.all(started.map((x) => x.until(() => x.frames.some((f) => f.op === 'hello') || x.closed, 15_000, 'hello or close')));
    const hellos = started.filter((x) => x.frames.some((f) => f.op === 'hello')).length;
    const closes = new Map<number, number>();
    for (const x of started) if (x.closed) closes.set(x.closed.code, (closes.get(x.closed.code) ?? 0) + 1);
    t.diagnostic(`hellos ${hellos} of ${CLIENTS}; closes by code ${JSON.stringify([...closes])}`);
    assert.equal(hellos, CLIENTS, `hellos ${hellos} of ${CLIENTS}; closes by code ${JSON.stringify([...closes])}`);
  });
});
