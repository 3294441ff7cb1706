/**
 * The router's HTTP API (docs/api.md): push, presence, inbox, kick, cluster, plus
 * unauthenticated /healthz, /readyz and /metrics for orchestrators.
 *
 * The request handling here knows no server library: it sees an ApiRequest
 * and answers through a SendReply (http-body.ts). One adapter per server
 * carries it: uWebSockets.js (http-uws.ts) or node:http (http-node.ts),
 * chosen by `server` (LONGLINK_API_SERVER).
 *
 * Checks run cheapest-first, synchronously, and reject before any body is
 * read: path (404), method (405), API key (401), content type (415),
 * declared length (413). Bodies are read up to `maxBodyBytes` and no further. Client input never
 * yields a 500; store failures yield 503. API keys and bodies are never logged.
 */
import { bearerOf, keyMatcher } from '../shared/bearer.js';
import { Errors, LonglinkError } from '../shared/errors.js';
import { fail, json, parsedBody, readJsonBody, type ApiHandler, type ApiRequest, type JsonBody, type Reply, type SendReply } from './http-body.js';
import { batchJsonChunks, pushOutcomeJson } from './batch-json.js';
import { NO_TRACING, type TraceHooks } from '../shared/trace-hooks.js';
import type { Logger } from '../shared/log.js';
import type { PushOutcome, RouterCore } from './core/router-core.js';
import type { InputResult, PushInput } from './core/push-input.js';
import { parseKickBody, userId } from './schemas.js';
import { parsePublishBody, parseSubscribeBody } from './channel-schemas.js';
import type { ChannelService } from './core/channels.js';
import { checkPublishChannel } from '../../protocol/index.js';
import { inboxJson, parseInboxQuery } from './core/inbox-history.js';
import type { ConsoleHttp } from './console/http.js';
import { listenNode } from './http-node.js';
import { listenUws } from './http-uws.js';

/** The part of RouterCore the API uses (tests may substitute it). */
export type RouterApi = Pick<RouterCore, 'parsePush' | 'parsePushPaced' | 'pushValidated' | 'pushSettled' | 'presenceOf' | 'control' | 'cluster' | 'inboxOf'>;

export interface RouterHttpOptions {
  core: RouterApi;
  /** Channels (publish, broadcast, subscribe, counts); without it those routes are 404. */
  channels?: Pick<ChannelService, 'publish' | 'subscribe' | 'count'>;
  /** /readyz: true while the router is subscribed to the bus. */
  ready: () => boolean;
  host: string;
  /** 0 picks a free port. */
  port: number;
  /** Accepted as `Authorization: Bearer <key>`. */
  apiKeys: string[];
  /** Push limits (users, batch size, payload) are the core's own: it validates bodies with them. */
  limits: { maxBodyBytes: number };
  /** A prom-client Registry fits. Without it /metrics answers 404. */
  metrics?: { contentType: string; metrics(): Promise<string> };
  /** Called once per answered request; `route` is the route template (never a user id). */
  observe?: (route: string, method: string, status: number, seconds: number) => void;
  /** /v1/* requests run in a SERVER span continuing the caller's `traceparent`; NO_TRACING by default. */
  trace?: TraceHooks;
  /** The operator console (console/): serves every /console path with its own credential. Absent: those paths are 404. */
  console?: ConsoleHttp;
  /** More authenticated /v1 routes (the webhook API), checked after the built-in ones. */
  extraRoutes?: readonly ApiRoute[];
  /** The server library carrying the API: 'uws' (uWebSockets.js; the service default, LONGLINK_API_SERVER) or 'node' (node:http; used when unset here). */
  server?: ApiServer;
  log: Logger;
}

export type ApiServer = 'uws' | 'node';

/** What an adapter needs to listen. */
export interface ListenOptions {
  host: string;
  port: number;
  maxBodyBytes: number;
  console: ConsoleHttp | undefined;
  log: Logger;
}

export interface RouterHttp {
  readonly port: number;
  close(): Promise<void>;
}

/**
 * An extra route: `match` returns the path's one parameter ('' if none) or
 * undefined; `handle` gets it, the query and (POST) the parsed JSON body, and
 * answers with a status and a JSON value (or throws a LonglinkError).
 */
export interface ApiRoute {
  method: 'GET' | 'POST';
  /** The route template for logs and metrics (never a raw path). */
  template: string;
  match(path: string): string | undefined;
  handle(param: string, query: URLSearchParams, body: unknown): Promise<{ status: number; body: unknown }>;
}

type Handler = (req: ApiRequest, param: string) => Promise<Reply>;

interface Route {
  method: 'GET' | 'POST';
  /** Needs an API key. */
  auth: boolean;
  handler: Handler;
}

/** Channel routes (docs/api.md "Channels"): the caller's API key is the unit of the publish rate. */
function channelRoutes(channels: NonNullable<RouterHttpOptions['channels']>, jsonBody: (req: ApiRequest) => Promise<JsonBody>): Record<string, Route> {
  const publish = (broadcast: boolean): Handler => async (req) => {
    const body = await jsonBody(req);
    if (!body.ok) return body.reply;
    const parsed = parsePublishBody(body.value, broadcast);
    if (!parsed.ok) return fail(Errors.API_VALIDATION, parsed.message);
    return json(200, await channels.publish(parsed.value, bearerOf(req.header('authorization')) ?? ''));
  };
  const subscribe = (type: 'subscribe' | 'unsubscribe'): Handler => async (req) => {
    const body = await jsonBody(req);
    if (!body.ok) return body.reply;
    const parsed = parseSubscribeBody(body.value, type);
    if (!parsed.ok) return fail(Errors.API_VALIDATION, parsed.message);
    return json(200, await channels.subscribe(parsed.value));
  };
  return {
    '/v1/publish': { method: 'POST', auth: true, handler: publish(false) },
    '/v1/broadcast': { method: 'POST', auth: true, handler: publish(true) },
    '/v1/subscribe': { method: 'POST', auth: true, handler: subscribe('subscribe') },
    '/v1/unsubscribe': { method: 'POST', auth: true, handler: subscribe('unsubscribe') },
    '/v1/channels/:channel': {
      method: 'GET', auth: true,
      handler: async (_req, param) => {
        let name: string;
        try { name = decodeURIComponent(param); } catch { return fail(Errors.API_VALIDATION, 'channel: bad percent-encoding in path'); }
        const bad = checkPublishChannel(name);
        if (bad !== undefined) return fail(Errors.API_VALIDATION, `channel: ${bad}`);
        return json(200, await channels.count(name));
      },
    },
  };
}

/** A user id from a path segment: percent-decoded and checked, or the 400 to send. */
function pathUser(param: string): { ok: true; user: string } | { ok: false; reply: Reply } {
  let user: string;
  try {
    user = decodeURIComponent(param);
  } catch {
    return { ok: false, reply: fail(Errors.API_VALIDATION, 'user: bad percent-encoding in path') };
  }
  const r = userId.safeParse(user);
  return r.success ? { ok: true, user: r.data } : { ok: false, reply: fail(Errors.API_VALIDATION, `user: ${r.error.issues[0]?.message ?? 'invalid'}`) };
}

/** A push body in batch form (`{"messages": …}`); anything else is validated as one message. */
const isBatch = (v: unknown): boolean => typeof v === 'object' && v !== null && 'messages' in v;

const queryOf = (url: string): string => { const i = url.indexOf('?'); return i < 0 ? '' : url.slice(i + 1); };

const singleReply = (outcomes: PushOutcome[]): Reply => ({ status: 200, body: pushOutcomeJson(outcomes[0]!) });

export async function startRouterHttp(opts: RouterHttpOptions): Promise<RouterHttp> {
  const handler = apiHandler(opts);
  const listen: ListenOptions = { host: opts.host, port: opts.port, maxBodyBytes: opts.limits.maxBodyBytes, console: opts.console, log: opts.log };
  return (opts.server ?? 'node') === 'uws' ? listenUws(handler, listen) : listenNode(handler, listen);
}

/** The request handling, independent of the server library. */
export function apiHandler(opts: RouterHttpOptions): ApiHandler {
  const { core, limits, log } = opts;
  if (opts.apiKeys.length === 0) throw new RangeError('startRouterHttp: at least one API key is required');
  const keyOk = keyMatcher(opts.apiKeys);

  const jsonBody = (req: ApiRequest): Promise<JsonBody> => readJsonBody(req, limits.maxBodyBytes);

  /**
   * POST /v1/push once its body is read. A single message stored and routed
   * in the call (RouterCore.pushSettled) is answered in the same call: no
   * promise or microtask between the body's last bytes and the answer.
   */
  function pushReply(body: JsonBody): Reply | Promise<Reply> {
    if (!body.ok) return body.reply;
    // A single message is validated in one step; only a batch's messages are paced (turn budget).
    if (isBatch(body.value)) return core.parsePushPaced(body.value).then(pushInputReply);
    return pushInputReply(core.parsePush(body.value));
  }

  function pushInputReply(parsed: InputResult<PushInput>): Reply | Promise<Reply> {
    if (!parsed.ok) return fail(parsed.error, parsed.message);
    const v = parsed.value;
    if (v.kind === 'single') {
      const out = core.pushSettled([v.push]);
      return Array.isArray(out) ? singleReply(out) : out.then(singleReply);
    }
    // A batch's answer can be ~9 MB (100,000 results): written in slices, one per turn (batch-json.ts).
    return core.pushValidated(v.pushes).then((outcomes): Reply => ({ status: 200, body: '', chunks: batchJsonChunks(outcomes) }));
  }

  const routes: Record<string, Route> = {
    '/v1/push': {
      method: 'POST', auth: true,
      handler: (req) => req.body(limits.maxBodyBytes).then((b) => {
        const body = parsedBody(b);
        return body instanceof Promise ? body.then(pushReply) : pushReply(body);
      }),
    },
    '/v1/presence/:user': {
      method: 'GET', auth: true,
      handler: async (_req, param) => {
        const u = pathUser(param);
        return u.ok ? json(200, await core.presenceOf(u.user)) : u.reply;
      },
    },
    '/v1/users/:user/inbox': {
      method: 'GET', auth: true,
      handler: async (req, param) => {
        const u = pathUser(param);
        if (!u.ok) return u.reply;
        const q = parseInboxQuery(u.user, queryOf(req.url));
        if (!q.ok) return fail(q.error, q.message);
        return { status: 200, body: inboxJson(await core.inboxOf(q.value)) };
      },
    },
    '/v1/kick': {
      method: 'POST', auth: true,
      handler: async (req) => {
        const body = await jsonBody(req);
        if (!body.ok) return body.reply;
        const parsed = parseKickBody(body.value);
        if (!parsed.ok) return fail(Errors.API_VALIDATION, parsed.message);
        return json(200, await core.control(parsed.value));
      },
    },
    ...(opts.channels ? channelRoutes(opts.channels, jsonBody) : {}),
    '/v1/cluster': { method: 'GET', auth: true, handler: async () => json(200, await core.cluster()) },
    '/healthz': { method: 'GET', auth: false, handler: async () => json(200, { status: 'ok' }) },
    '/readyz': {
      method: 'GET', auth: false,
      handler: async () => (opts.ready() ? json(200, { status: 'ready' }) : json(503, { status: 'not ready' })),
    },
    '/metrics': {
      method: 'GET', auth: false,
      handler: async () => (opts.metrics ? { status: 200, body: await opts.metrics.metrics(), contentType: opts.metrics.contentType } : fail(Errors.NOT_FOUND)),
    },
  };

  const extra = (opts.extraRoutes ?? []).map((x): { api: ApiRoute; route: Route } => ({
    api: x,
    route: {
      method: x.method, auth: true,
      handler: async (req, param) => {
        let value: unknown;
        if (x.method === 'POST') {
          const body = await jsonBody(req);
          if (!body.ok) return body.reply;
          value = body.value;
        }
        const r = await x.handle(param, new URLSearchParams(queryOf(req.url)), value);
        return json(r.status, r.body);
      },
    },
  }));

  // Fixed paths' matches, made once: one per request was garbage on the push path.
  const exactMatches = new Map<string, { route: Route; param: string; template: string }>();
  for (const [template, route] of Object.entries(routes)) if (!template.includes(':')) exactMatches.set(template, { route, param: '', template });

  function match(url: string): { route: Route; param: string; template: string } | undefined {
    const q = url.indexOf('?');
    const path = q < 0 ? url : url.slice(0, q);
    const exact = exactMatches.get(path);
    if (exact) return exact;
    for (const [prefix, template] of [['/v1/presence/', '/v1/presence/:user'], ['/v1/channels/', '/v1/channels/:channel']] as const) {
      const r = routes[template];
      if (r && path.startsWith(prefix) && path.length > prefix.length && !path.includes('/', prefix.length)) return { route: r, param: path.slice(prefix.length), template };
    }
    const users = '/v1/users/', inbox = '/inbox';
    if (path.startsWith(users) && path.endsWith(inbox) && path.length > users.length + inbox.length) {
      const param = path.slice(users.length, -inbox.length);
      if (!param.includes('/')) return { route: routes['/v1/users/:user/inbox']!, param, template: '/v1/users/:user/inbox' };
    }
    for (const x of extra) {
      const param = x.api.match(path);
      if (param !== undefined) return { route: x.route, param, template: x.api.template };
    }
    return undefined;
  }

  /** Checks (all synchronous, before any body is read), then the route's handler. */
  function handle(req: ApiRequest, m: ReturnType<typeof match>): Promise<Reply> {
    if (!m) return Promise.resolve(fail(Errors.NOT_FOUND));
    const { route, param } = m;
    const method = req.method === 'HEAD' && route.method === 'GET' ? 'GET' : req.method;
    if (method !== route.method) return Promise.resolve(fail(Errors.API_METHOD, `use ${route.method}`, { allow: route.method === 'GET' ? 'GET, HEAD' : route.method }));
    if (route.auth) {
      const key = bearerOf(req.header('authorization'));
      if (key === undefined || !keyOk(key)) {
        return Promise.resolve(fail(Errors.API_UNAUTHORIZED, undefined, { 'www-authenticate': 'Bearer' }));
      }
    }
    if (route.method === 'POST') {
      const ct = req.header('content-type');
      // The usual header as sent by clients first; anything else is parsed (parameters, case, spaces).
      if (ct !== 'application/json' && (ct ?? '').split(';', 1)[0]!.trim().toLowerCase() !== 'application/json') return Promise.resolve(fail(Errors.API_UNSUPPORTED_MEDIA));
    }
    return route.handler(req, param);
  }

  function observed(route: string, method: string, status: number, t0: number): void {
    // Never headers or bodies.
    const seconds = (performance.now() - t0) / 1000;
    log.debug({ method, route, status, ms: Math.round(seconds * 1000) }, 'http request');
    opts.observe?.(route, method, status, seconds);
  }

  /** Answers one request; resolves with the status sent. */
  const answer = (req: ApiRequest, send: SendReply, m: ReturnType<typeof match>, t0: number): Promise<number> => {
    let replied: Promise<Reply>;
    try {
      replied = handle(req, m);
    } catch (err) {
      replied = Promise.reject(err);
    }
    const done = (r: Reply): number => {
      // The route, not the URL: paths can hold user ids.
      observed(m?.template ?? 'unknown', req.method, r.status, t0);
      return r.status;
    };
    // A failed send (the client went away mid-answer): nothing left to answer.
    const notSent = (err: unknown): number => {
      log.debug({ err: err instanceof Error ? err.message : String(err) }, 'http reply not sent');
      return 0;
    };
    // A reply written in the send() call (the usual one) finishes here, without a promise of its own. Never throws
    // (nor does the failure arm below): the promise serve returns never rejects, without a catch() step of its own.
    const finish = (r: Reply): number | Promise<number> => {
      try {
        const sending = send(r);
        return sending === undefined ? done(r) : sending.then(() => done(r)).catch(notSent);
      } catch (err) {
        return notSent(err);
      }
    };
    return replied.then(finish, (err: unknown) => {
      try {
        if (err instanceof LonglinkError) {
          const retry = err.retryAfterMs !== undefined ? { 'retry-after': String(Math.max(1, Math.ceil(err.retryAfterMs / 1000))) } : undefined;
          return finish({ status: err.status, body: JSON.stringify(err.toJSON()), ...(retry ? { headers: retry } : {}) });
        }
        log.error({ err: err instanceof Error ? err.message : String(err) }, 'http handler failed');
        return finish(fail(Errors.INTERNAL));
      } catch (e) {
        return notSent(e);
      }
    });
  };

  const trace = opts.trace ?? NO_TRACING;
  return {
    observed,
    serve(req, send, t0) {
      const m = match(req.url);
      const route = m?.template ?? 'unknown';
      // Probes and scrapes (/healthz, /readyz, /metrics) would start a trace each: only the API is traced.
      if (!trace.enabled || !route.startsWith('/v1/')) return answer(req, send, m, t0);
      const method = req.method;
      let answering: Promise<number> | undefined;
      // `serve` never rejects or throws (the adapters count requests in flight on it): a tracer that throws,
      // at once or later (ending the span, setting its status), costs the trace, never the answer.
      const untraced = (err: unknown): Promise<number> => {
        log.warn({ err: err instanceof Error ? err.message : String(err) }, 'http request trace failed');
        return answering ?? answer(req, send, m, t0);
      };
      try {
        const traced = trace.span(`${method} ${route}`, { kind: 'server', carrier: req.traceCarrier(), attrs: { 'http.request.method': method, 'http.route': route } }, (span) => {
          answering = answer(req, send, m, t0);
          return answering.then((status) => {
            try {
              span.setAttributes({ 'http.response.status_code': status });
              if (status >= 500) span.fail(`HTTP ${status}`);
            } catch (err) {
              log.warn({ err: err instanceof Error ? err.message : String(err) }, 'http request trace failed');
            }
            return status;
          });
        });
        return Promise.resolve(traced).then(undefined, untraced);
      } catch (err) {
        return untraced(err);
      }
    },
  };
}
