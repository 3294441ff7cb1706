/**
 * One gateway and one router as real processes, for the tests that hold
 * session starts at the gateway by stopping the router (SIGSTOP, as a
 * CPU-starved router whose event loop does not run): the session-start
 * timeout and the return line of refused starts. Each test keeps only its
 * gateway settings and what it does with the stall.
 */
import { after } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { startCluster, type Cluster } from '../../infra/local/cluster-harness.js';
import { connect, type Refused, type TestClient, type Upgraded } from './client.js';

/** The wait a refusal tells (Retry-After-Ms), in ms. */
export const waitOf = (r: Refused): number => Number(r.headers['retry-after-ms']);

/** An attempt's outcome as an assertion message shows it (a client does not serialise). */
export const outcome = (r: Upgraded | Refused): string => (r.ok ? 'admitted' : JSON.stringify(r));

/** The session-start limit pinned at 4 (floor = ceiling), a start held by the stall timing out only after 30 s; `targetMs`: the start-time target. */
export const pinnedLimitEnv = (targetMs: number): Record<string, string> => ({
  LONGLINK_MAX_STARTING_SESSIONS: '4', LONGLINK_SESSION_START_TARGET_MS: String(targetMs), LONGLINK_RESUME_TIMEOUT_MS: '30000',
});

export interface StalledRouter {
  /** Every client admitted by `attempt`, closed when the suite ends. */
  readonly clients: TestClient[];
  /** Starts the cluster: `gatewayEnv` on top of no per-source connect limit (every client comes from 127.0.0.1). */
  start(gatewayEnv: Record<string, string>): Promise<Cluster>;
  /** The started cluster's gateway URL. */
  readonly url: string;
  token(user: string, device?: string): Promise<string>;
  /** One upgrade at the gateway: the client (kept in `clients`) or the refusal. */
  attempt(token: string, query?: Record<string, string>): Promise<Upgraded | Refused>;
  /**
   * A refused client's return, as the SDK does it: waits `delayMs`, then
   * tries up to 10 times (each refusal's Retry-After-Ms apart, 1 s without
   * one) until its session starts (a `hello`). True once it has.
   */
  comeBack(token: string, delayMs: number): Promise<boolean>;
  /** Stops the router (SIGSTOP); `resume` continues it (SIGCONT, also done when the suite ends). */
  stall(): void;
  resume(): void;
}

/** Call in a describe: registers the teardown (clients closed, the router continued, the cluster stopped). */
export function stalledRouter(): StalledRouter {
  let c: Cluster | undefined;
  const clients: TestClient[] = [];
  const started = (): Cluster => {
    if (c === undefined) throw new Error('stalledRouter: start() first');
    return c;
  };
  const signal = (s: NodeJS.Signals): void => { for (const r of c?.routers ?? []) r.proc.kill(s); };
  after(async () => {
    for (const x of clients) x.close();
    signal('SIGCONT');
    await c?.stop();
  });
  const attempt = async (token: string, query?: Record<string, string>): Promise<Upgraded | Refused> => {
    const r = await connect(started().gateways[0]!.url, { token, ...(query ? { query } : {}) });
    if (r.ok) clients.push(r.client);
    return r;
  };
  return {
    clients,
    async start(gatewayEnv) {
      c = await startCluster({ gateways: 1, routers: 1, gatewayEnv: { LONGLINK_SOURCE_CONNECT_RATE: '0', ...gatewayEnv } });
      return c;
    },
    get url() { return started().gateways[0]!.url; },
    token: (user, device) => started().token(user, device),
    attempt,
    async comeBack(token, delayMs) {
      await sleep(delayMs);
      for (let n = 0; n < 10; n++) {
        const r = await attempt(token);
        if (r.ok) { await r.client.frame('hello', 0, 10_000); return true; }
        await sleep(Number(r.headers['retry-after-ms'] ?? 1000));
      }
      return false;
    },
    stall: () => signal('SIGSTOP'),
    resume: () => signal('SIGCONT'),
  };
}
