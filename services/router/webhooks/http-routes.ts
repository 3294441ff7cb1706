/**
 * The webhook API on the router (docs/webhooks.md#api), behind the push API
 * key: endpoint status with queue depth and dead-letter counts, the dead
 * letters themselves, and their replay. Secrets are never shown.
 */
import { Errors, LonglinkError } from '../../shared/errors.js';
import type { ApiRoute } from '../http-api.js';
import type { WebhookQueue } from './core/queue.js';
import type { WebhookStats } from './core/stats.js';
import type { WebhookSettings } from './core/types.js';

const DEAD = /^\/v1\/webhooks\/([A-Za-z0-9_-]{1,32})\/dead-letters$/;
const REPLAY = /^\/v1\/webhooks\/([A-Za-z0-9_-]{1,32})\/dead-letters\/replay$/;
const MAX_LIST = 1000;
const MAX_REPLAY = 10_000;

/** A query value: digits only, as the inbox API's since and limit (Number() also took '0x10', '1e2' and ' 1'). */
const DIGITS = /^[1-9][0-9]{0,15}$/;

function limitOf(raw: unknown, def: number, max: number, where: string): number {
  if (raw === undefined || raw === null) return def;
  const n = typeof raw === 'string' ? (DIGITS.test(raw) ? Number(raw) : NaN) : raw;
  if (typeof n !== 'number' || !Number.isInteger(n) || n < 1 || n > max) throw new LonglinkError(Errors.API_VALIDATION, `${where}: must be an integer from 1 to ${max}`);
  return n;
}

/** The list's query: `limit` at most once, nothing else (as the inbox API). */
function listLimit(query: URLSearchParams): number {
  for (const k of query.keys()) if (k !== 'limit') throw new LonglinkError(Errors.API_VALIDATION, `${k.slice(0, 64)}: unknown query parameter (use limit)`);
  const all = query.getAll('limit');
  if (all.length > 1) throw new LonglinkError(Errors.API_VALIDATION, 'limit: given more than once');
  return limitOf(all[0], 100, MAX_LIST, 'limit');
}

/**
 * An endpoint's URL as the API shows it: query values hidden (receivers often take a token there, and any push key
 * holder may read this route), origin, path and parameter names kept for operators.
 */
export function shownUrl(url: string): string {
  const u = new URL(url);
  if (u.search === '') return u.origin + u.pathname;
  const names = [...u.searchParams.keys()].map((k) => `${encodeURIComponent(k)}=***`);
  return `${u.origin}${u.pathname}?${names.join('&')}`;
}

export function webhookRoutes(settings: WebhookSettings, queue: WebhookQueue, stats: WebhookStats): ApiRoute[] {
  const known = (name: string): void => {
    if (!settings.endpoints.some((e) => e.name === name)) throw new LonglinkError(Errors.NOT_FOUND, `no webhook endpoint "${name}"`);
  };
  return [
    {
      method: 'GET', template: '/v1/webhooks', match: (p) => (p === '/v1/webhooks' ? '' : undefined),
      handle: async () => ({
        status: 200,
        body: {
          endpoints: await Promise.all(settings.endpoints.map(async (e) => ({
            name: e.name, url: shownUrl(e.url), events: [...e.events], secrets: e.secrets.length,
            depth: await queue.depth(e.name), dead: await queue.deadCount(e.name), stats: { ...stats.of(e.name) },
          }))),
        },
      }),
    },
    {
      method: 'GET', template: '/v1/webhooks/:endpoint/dead-letters', match: (p) => DEAD.exec(p)?.[1],
      handle: async (name, query) => {
        known(name);
        const limit = listLimit(query);
        const [count, dead] = await Promise.all([queue.deadCount(name), queue.listDead(name, limit)]);
        return {
          status: 200,
          body: { endpoint: name, count, dead: dead.map((d) => ({ id: d.job.id, type: d.job.type, attempts: d.attempts, reason: d.reason, deadAt: d.deadAt, body: d.job.body })) },
        };
      },
    },
    {
      method: 'POST', template: '/v1/webhooks/:endpoint/dead-letters/replay', match: (p) => REPLAY.exec(p)?.[1],
      handle: async (name, _q, body) => {
        known(name);
        if (body === null || typeof body !== 'object' || Array.isArray(body)) throw new LonglinkError(Errors.API_VALIDATION, 'body: must be an object ({} or {"limit":N})');
        const extra = Object.keys(body).filter((k) => k !== 'limit');
        if (extra.length > 0) throw new LonglinkError(Errors.API_VALIDATION, `${extra[0]}: unknown field`);
        const limit = limitOf((body as { limit?: unknown }).limit, 1000, MAX_REPLAY, 'limit');
        const replayed = await queue.replayDead(name, limit);
        stats.of(name).replayed += replayed;
        return { status: 200, body: { endpoint: name, replayed } };
      },
    },
  ];
}
