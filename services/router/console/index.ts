/**
 * The operator console's composition: settings → data (over the router
 * core and the inbox contract) → server-agnostic routes. The router's HTTP
 * server mounts the result with node-http.ts (or uws-http.ts).
 */
import type { Clock } from '../../shared/clock.js';
import { VERSION } from '../../shared/version.js';
import { loadConsoleAssets } from './assets.js';
import type { ConsoleAccess } from './config.js';
import { ConsoleData, type ConsoleCore, type ConsolePanel, type ConsoleSources } from './data.js';

export type { ConsolePanel } from './data.js';
import { createConsoleHttp, type ConsoleHttp } from './http.js';

export type { ConsoleHttp } from './http.js';
export { loadConsoleAccess, consoleSpec, type ConsoleAccess } from './config.js';

/** A prom-client Registry fits: the push API's responses are read from its request counter. */
export interface HttpCounterSource {
  getSingleMetric(name: string): { get(): Promise<{ values: ReadonlyArray<{ labels: Record<string, string | number | undefined>; value: number }> }> } | undefined;
}

export interface ConsoleDeps {
  access: Extract<ConsoleAccess, { enabled: true }>;
  core: ConsoleCore;
  inbox: ConsoleSources['inbox'];
  clock: Clock;
  mode: 'standalone' | 'cluster';
  metrics?: HttpCounterSource;
  panels?: readonly ConsolePanel[];
  log: { warn(obj: object, msg: string): void; error(obj: object, msg: string): void };
}

export interface RunningConsole {
  readonly http: ConsoleHttp;
  close(): void;
}

/** Push API responses by status: /v1 routes only (the console's own calls are not push API traffic). */
function httpStatuses(m: HttpCounterSource): () => Promise<ReadonlyMap<number, number>> {
  return async () => {
    const out = new Map<number, number>();
    const metric = m.getSingleMetric('longlink_router_http_requests_total');
    for (const v of (await metric?.get())?.values ?? []) {
      if (!String(v.labels.route ?? '').startsWith('/v1/')) continue;
      const code = Number(v.labels.code);
      out.set(code, (out.get(code) ?? 0) + v.value);
    }
    return out;
  };
}

export async function startConsole(d: ConsoleDeps): Promise<RunningConsole> {
  const data = new ConsoleData({
    core: d.core, inbox: d.inbox, clock: d.clock, mode: d.mode, dev: d.access.dev, version: VERSION,
    ...(d.metrics ? { httpStatuses: httpStatuses(d.metrics) } : {}),
    ...(d.panels ? { panels: d.panels } : {}),
  });
  const assets = await loadConsoleAssets();
  if (!assets) d.log.warn({}, 'operator console enabled but its page is not built (run "npm run build"): /console answers 503');
  const http = createConsoleHttp({
    data, token: d.access.token, assets, log: d.log,
  });
  return { http, close: () => data.close() };
}
