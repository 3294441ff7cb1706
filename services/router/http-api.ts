/**
 * The router's HTTP API (docs/api.md): push, presence, inbox, kick, cluster, plus
 * unauthenticated /healthz, /readyz and /metrics for orchestrators.
 *
 * Plain node:http rather than uWS: this is a low-rate backend API where
 * request/response ergonomics matter more than socket count.
 *
 * Checks run cheapest-first and reject before any body is read: path (404),
 * method (405), API key (401), content type (415), declared length (413).
 * Bodies are read up to `maxBodyBytes` and no further. Client input never
 * yields a 500; store failures yield 503. API keys and bodies are never logged.
 */
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { bearerOf, keyMatcher } from '../shared/bearer.js';
import { Errors, LonglinkError } from '../shared/errors.js';
import { expectsContinue, fail, json, readBody, wasInvited, type Reply } from './http-body.js';
import { batchJsonChunks } from './batch-json.js';
import { NO_TRACING, type TraceHooks } from '../shared/trace-hooks.js';
import type { Logger } from '../shared/log.js';
import type { RouterCore } from './core/router-core.js';
import { parseKickBody, userId } from './schemas.js';
import { parsePublishBody, parseSubscribeBody } from './channel-schemas.js';
import type { ChannelService } from './core/channels.js';
import { checkPublishChannel } from '../../protocol/index.js';
import { inboxJson, parseInboxQuery } from './core/inbox-history.js';
import { consoleRoute, type ConsoleHttp } from './console/http.js';
import { serveConsoleNode } from './console/node-http.js';

/** The part of RouterCore the API uses (tests may substitute it). */
export type RouterApi = Pick<RouterCore, 'parsePushPaced' | 'pushValidated' | 'presenceOf' | 'control' | 'cluster' | 'inboxOf'>;

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

type Handler = (req: IncomingMessage, res: ServerResponse, param: string) => Promise<Reply>;

interface Route {
  method: 'GET' | 'POST';
  /** Needs an API key. */
  auth: boolean;
  handler: Handler;
}

const JSON_TYPE = 'application/json; charset=utf-8';

/** Channel routes (docs/api.md "Channels"): the caller's API key is the unit of the publish rate. */
function channelRoutes(channels: NonNullable<RouterHttpOptions['channels']>, jsonBody: (req: IncomingMessage, res: ServerResponse) => Promise<{ ok: true; value: unknown } | { ok: false; reply: Reply }>): Record<string, Route> {
  const publish = (broadcast: boolean): Handler => async (req, res) => {
    const body = await jsonBody(req, res);
    if (!body.ok) return body.reply;
    const parsed = parsePublishBody(body.value, broadcast);
    if (!parsed.ok) return fail(Errors.API_VALIDATION, parsed.message);
    return json(200, await channels.publish(parsed.value, bearerOf(req.headers.authorization) ?? ''));
  };
  const subscribe = (type: 'subscribe' | 'unsubscribe'): Handler => async (req, res) => {
    const body = await jsonBody(req, res);
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
      handler: async (_req, _res, param) => {
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

const queryOf = (url: string | undefined): string => { const i = (url ?? '').indexOf('?'); return i < 0 ? '' : url!.slice(i + 1); };

export async function startRouterHttp(opts: RouterHttpOptions): Promise<RouterHttp> {
  const { core, limits, log } = opts;
  if (opts.apiKeys.length === 0) throw new RangeError('startRouterHttp: at least one API key is required');
  const keyOk = keyMatcher(opts.apiKeys);

  /** Parses a JSON request body; the union's failure arm is the reply to send. */
  async function jsonBody(req: IncomingMessage, res: ServerResponse): Promise<{ ok: true; value: unknown } | { ok: false; reply: Reply }> {
    const b = await readBody(req, res, limits.maxBodyBytes);
    if (!b.ok) return b;
    try {
      return { ok: true, value: JSON.parse(b.text) as unknown };
    } catch (err) {
      return { ok: false, reply: fail(Errors.API_BAD_JSON, err instanceof Error ? err.message : undefined) };
    }
  }

  const routes: Record<string, Route> = {
    '/v1/push': {
      method: 'POST', auth: true,
      handler: async (req, res) => {
        const body = await jsonBody(req, res);
        if (!body.ok) return body.reply;
        const parsed = await core.parsePushPaced(body.value);
        if (!parsed.ok) return fail(parsed.error, parsed.message);
        const v = parsed.value;
        if (v.kind === 'single') return json(200, (await core.pushValidated([v.push]))[0]);
        // A batch's answer can be ~9 MB (100,000 results): written in slices, one per turn (batch-json.ts).
        return { status: 200, body: '', chunks: batchJsonChunks(await core.pushValidated(v.pushes)) };
      },
    },
    '/v1/presence/:user': {
      method: 'GET', auth: true,
      handler: async (_req, _res, param) => {
        const u = pathUser(param);
        return u.ok ? json(200, await core.presenceOf(u.user)) : u.reply;
      },
    },
    '/v1/users/:user/inbox': {
      method: 'GET', auth: true,
      handler: async (req, _res, param) => {
        const u = pathUser(param);
        if (!u.ok) return u.reply;
        const q = parseInboxQuery(u.user, queryOf(req.url));
        if (!q.ok) return fail(q.error, q.message);
        return { status: 200, body: inboxJson(await core.inboxOf(q.value)) };
      },
    },
    '/v1/kick': {
      method: 'POST', auth: true,
      handler: async (req, res) => {
        const body = await jsonBody(req, res);
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
      handler: async (req, res, param) => {
        let value: unknown;
        if (x.method === 'POST') {
          const body = await jsonBody(req, res);
          if (!body.ok) return body.reply;
          value = body.value;
        }
        const r = await x.handle(param, new URLSearchParams((req.url ?? '').split('?')[1] ?? ''), value);
        return json(r.status, r.body);
      },
    },
  }));

  function match(url: string | undefined): { route: Route; param: string; template: string } | undefined {
    const path = (url ?? '/').split('?', 1)[0]!;
    const exact = path.includes(':') ? undefined : routes[path];
    if (exact) return { route: exact, param: '', template: path };
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

  async function handle(req: IncomingMessage, res: ServerResponse): Promise<Reply> {
    const m = match(req.url);
    if (!m) return fail(Errors.NOT_FOUND);
    const { route, param } = m;
    const method = req.method === 'HEAD' && route.method === 'GET' ? 'GET' : req.method;
    if (method !== route.method) return fail(Errors.API_METHOD, `use ${route.method}`, { allow: route.method === 'GET' ? 'GET, HEAD' : route.method });
    if (route.auth) {
      const key = bearerOf(req.headers.authorization);
      if (key === undefined || !keyOk(key)) {
        return fail(Errors.API_UNAUTHORIZED, undefined, { 'www-authenticate': 'Bearer' });
      }
    }
    if (route.method === 'POST') {
      const type = (req.headers['content-type'] ?? '').split(';', 1)[0]!.trim().toLowerCase();
      if (type !== 'application/json') return fail(Errors.API_UNSUPPORTED_MEDIA);
    }
    return route.handler(req, res, param);
  }

  /** The route, not the URL: paths can hold user ids. */
  function routeOf(url: string | undefined): string {
    return match(url)?.template ?? 'unknown';
  }

  async function send(req: IncomingMessage, res: ServerResponse, r: Reply, t0: number): Promise<void> {
    if (res.headersSent || res.destroyed) return;
    res.writeHead(r.status, {
      'content-type': r.contentType ?? JSON_TYPE,
      'cache-control': 'no-store',
      ...(r.chunks === undefined ? { 'content-length': Buffer.byteLength(r.body) } : {}),
      // Refused before its body was invited: the client may or may not send it now, so this connection cannot carry another request.
      ...(expectsContinue(req) && !wasInvited(res) ? { connection: 'close' } : {}),
      ...r.headers,
    });
    if (r.chunks === undefined) res.end(r.body);
    else {
      for await (const chunk of r.chunks) {
        if (res.destroyed) return;
        if (!res.write(chunk)) await new Promise<void>((resolve) => { res.once('drain', resolve); res.once('close', resolve); });
      }
      res.end();
    }
    // Never headers or bodies.
    const route = routeOf(req.url);
    const seconds = (performance.now() - t0) / 1000;
    log.debug({ method: req.method, route, status: r.status, ms: Math.round(seconds * 1000) }, 'http request');
    opts.observe?.(route, req.method ?? 'GET', r.status, seconds);
  }

  const trace = opts.trace ?? NO_TRACING;
  /** Handles and answers one request; resolves with the status sent. */
  const answer = (req: IncomingMessage, res: ServerResponse, t0: number): Promise<number> => handle(req, res).then(
    async (r) => { await send(req, res, r, t0); return r.status; },
    (err: unknown) => {
      if (err instanceof LonglinkError) {
        const retry = err.retryAfterMs !== undefined ? { 'retry-after': String(Math.max(1, Math.ceil(err.retryAfterMs / 1000))) } : undefined;
        void send(req, res, { status: err.status, body: JSON.stringify(err.toJSON()), ...(retry ? { headers: retry } : {}) }, t0);
        return err.status;
      }
      log.error({ err: err instanceof Error ? err.message : String(err) }, 'http handler failed');
      void send(req, res, fail(Errors.INTERNAL), t0);
      return 500;
    },
  );

  /** The console's routes are its own (console/http.ts): only the route template reaches logs and metrics. */
  function serveConsole(c: ConsoleHttp, req: IncomingMessage, res: ServerResponse, path: string, t0: number): void {
    const route = consoleRoute(path);
    const done = (status: number): void => {
      const seconds = (performance.now() - t0) / 1000;
      log.debug({ method: req.method, route, status, ms: Math.round(seconds * 1000) }, 'http request');
      opts.observe?.(route, req.method ?? 'GET', status, seconds);
    };
    serveConsoleNode(c, req, res).then(done, () => {
      if (!res.headersSent) res.writeHead(500).end();
      done(500);
    });
  }

  const onRequest = (req: IncomingMessage, res: ServerResponse): void => {
    const t0 = performance.now();
    if (opts.console) {
      const path = (req.url ?? '/').split('?', 1)[0]!;
      // The console does its own checks and invites a body (100-continue) only after them (console/node-http.ts).
      if (opts.console.owns(path)) { serveConsole(opts.console, req, res, path, t0); return; }
    }
    const route = trace.enabled ? routeOf(req.url) : '';
    // Probes and scrapes (/healthz, /readyz, /metrics) would start a trace each: only the API is traced.
    if (!route.startsWith('/v1/')) { void answer(req, res, t0); return; }
    const method = req.method ?? 'GET';
    void trace.span(`${method} ${route}`, { kind: 'server', carrier: req.headers, attrs: { 'http.request.method': method, 'http.route': route } }, (span) =>
      answer(req, res, t0).then((status) => {
        span.setAttributes({ 'http.response.status_code': status });
        if (status >= 500) span.fail(`HTTP ${status}`);
      }));
  };
  const server = createServer(onRequest);
  // Handled, Node sends no automatic 100 Continue: readBody sends it once every check before the body has passed.
  server.on('checkContinue', onRequest);
  server.requestTimeout = 30_000;
  server.headersTimeout = 15_000;

  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(opts.port, opts.host, () => {
      server.off('error', reject);
      resolve();
    });
  });
  const port = (server.address() as AddressInfo).port;
  log.info({ host: opts.host, port }, 'router HTTP API listening');

  return {
    port,
    close: () => new Promise<void>((resolve) => {
      server.close(() => resolve());
      server.closeIdleConnections();
      // Requests still in flight get a moment to finish; after that, connections are cut.
      setTimeout(() => server.closeAllConnections(), 1000).unref();
    }),
  };
}
