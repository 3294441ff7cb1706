/**
 * The operator console's HTTP routes, independent of any server library:
 * a request is (method, path, header lookup, lazy body reader) and a response
 * is (status, headers, body). node-http.ts and uws-http.ts adapt it to
 * node:http and uWebSockets.js; both pass one test suite.
 *
 *   GET  /console, /console/          the page (static, no data)
 *   GET  /console/app.js, app.css     its bundled script and styles, icon.svg (same origin only)
 *   GET  /console/api/overview        connections, gateways, history, rates, counters, panels
 *   GET  /console/api/users/:user     a user's connections and inbox
 *   POST /console/api/push            {user, data}: a test push, answered with its receipt
 *   POST /console/api/control         {type: kick|logout, user, device?}
 *
 * Security: every /console/api/ call needs `Authorization: Bearer <console
 * token>` (never a push API key, never a URL parameter, no cookies, so no
 * CSRF); checked before any body is read. Every response carries a strict
 * Content-Security-Policy (same-origin script and style only, no inline
 * code, Trusted Types, no framing). Logs and metrics see route templates
 * only, never a user id.
 */
import { bearerOf, keyMatcher } from '../../shared/bearer.js';
import { Errors, LonglinkError, errorBody, type ErrorSpec } from '../../shared/errors.js';
import { deviceId, userId } from '../schemas.js';
import type { ConsoleData } from './data.js';

export interface ConsoleRequest {
  method: string;
  /** Without the query string. */
  path: string;
  /** Header by lower-case name. */
  header(name: string): string | undefined;
  /** The body as text, or undefined if it is longer than `max` bytes (reading stops there). */
  body(max: number): Promise<string | undefined>;
}

export interface ConsoleResponse {
  status: number;
  headers: Record<string, string>;
  body: string | Uint8Array;
}

export interface ConsoleAssets {
  'index.html': Uint8Array;
  'app.js': Uint8Array;
  'app.css': Uint8Array;
  'icon.svg': Uint8Array;
}

export interface ConsoleHttpOptions {
  data: Pick<ConsoleData, 'overview' | 'user' | 'testPush' | 'control'>;
  token: string;
  /** undefined: the bundle was not built; the page answers 503 saying so. */
  assets: ConsoleAssets | undefined;
  log: { error(obj: object, msg: string): void };
}

export interface ConsoleHttp {
  /** True for every path under /console. */
  owns(path: string): boolean;
  handle(req: ConsoleRequest): Promise<ConsoleResponse>;
}

export const CONSOLE_CSP = [
  "default-src 'none'", "script-src 'self'", "style-src 'self'", "img-src 'self'", "connect-src 'self'",
  "base-uri 'none'", "form-action 'none'", "frame-ancestors 'none'", "require-trusted-types-for 'script'", "trusted-types 'none'",
].join('; ');

const SECURITY_HEADERS: Readonly<Record<string, string>> = Object.freeze({
  'content-security-policy': CONSOLE_CSP,
  'x-content-type-options': 'nosniff',
  'referrer-policy': 'no-referrer',
  'x-frame-options': 'DENY',
  'cross-origin-opener-policy': 'same-origin',
  'cross-origin-resource-policy': 'same-origin',
  'cache-control': 'no-store',
});

const MAX_BODY_BYTES = 16 * 1024;
const JSON_TYPE = 'application/json; charset=utf-8';
const STATIC: Record<string, [keyof ConsoleAssets, string]> = {
  '/console': ['index.html', 'text/html; charset=utf-8'],
  '/console/': ['index.html', 'text/html; charset=utf-8'],
  '/console/app.js': ['app.js', 'text/javascript; charset=utf-8'],
  '/console/app.css': ['app.css', 'text/css; charset=utf-8'],
  '/console/icon.svg': ['icon.svg', 'image/svg+xml'],
};
const USERS = '/console/api/users/';

type Parsed<T> = { ok: true; value: T } | { ok: false; reply: ConsoleResponse };

function reply(status: number, body: string | Uint8Array, type = JSON_TYPE, extra: Record<string, string> = {}): ConsoleResponse {
  return { status, headers: { ...SECURITY_HEADERS, 'content-type': type, ...extra }, body };
}
const json = (status: number, v: unknown): ConsoleResponse => reply(status, JSON.stringify(v));
const fail = (e: ErrorSpec, detail?: string, extra?: Record<string, string>): ConsoleResponse => reply(e.status, errorBody(e, detail), JSON_TYPE, extra);

/** The route template of a console path (metrics and logs never see user ids). */
export function consoleRoute(path: string): string {
  if (path.startsWith(USERS)) return '/console/api/users/:user';
  if (path in STATIC || ['/console/api/overview', '/console/api/push', '/console/api/control'].includes(path)) return path;
  return '/console/unknown';
}

export function createConsoleHttp(o: ConsoleHttpOptions): ConsoleHttp {
  const tokenOk = keyMatcher([o.token]);

  async function jsonBody(req: ConsoleRequest): Promise<Parsed<Record<string, unknown>>> {
    const type = (req.header('content-type') ?? '').split(';', 1)[0]!.trim().toLowerCase();
    if (type !== 'application/json') return { ok: false, reply: fail(Errors.API_UNSUPPORTED_MEDIA) };
    const declared = Number(req.header('content-length'));
    if (Number.isFinite(declared) && declared > MAX_BODY_BYTES) return { ok: false, reply: fail(Errors.API_TOO_LARGE, `limit is ${MAX_BODY_BYTES} bytes`) };
    const text = await req.body(MAX_BODY_BYTES);
    if (text === undefined) return { ok: false, reply: fail(Errors.API_TOO_LARGE, `limit is ${MAX_BODY_BYTES} bytes`) };
    let v: unknown;
    try {
      v = JSON.parse(text);
    } catch {
      return { ok: false, reply: fail(Errors.API_BAD_JSON) };
    }
    if (typeof v !== 'object' || v === null || Array.isArray(v)) return { ok: false, reply: fail(Errors.API_VALIDATION, 'body: must be a JSON object') };
    return { ok: true, value: v as Record<string, unknown> };
  }

  function user(v: unknown, where: string): Parsed<string> {
    const r = userId.safeParse(v);
    return r.success ? { ok: true, value: r.data } : { ok: false, reply: fail(Errors.API_VALIDATION, `${where}: ${r.error.issues[0]?.message ?? 'invalid'}`) };
  }

  const api: Record<string, { method: 'GET' | 'POST'; run(req: ConsoleRequest): Promise<ConsoleResponse> }> = {
    '/console/api/overview': { method: 'GET', run: async () => json(200, await o.data.overview()) },
    '/console/api/users/:user': {
      method: 'GET',
      run: async (req) => {
        let raw: string;
        try {
          raw = decodeURIComponent(req.path.slice(USERS.length));
        } catch {
          return fail(Errors.API_VALIDATION, 'user: bad percent-encoding in path');
        }
        const u = user(raw, 'user');
        return u.ok ? json(200, await o.data.user(u.value)) : u.reply;
      },
    },
    '/console/api/push': {
      method: 'POST',
      run: async (req) => {
        const b = await jsonBody(req);
        if (!b.ok) return b.reply;
        const u = user(b.value.user, 'user');
        if (!u.ok) return u.reply;
        if (b.value.data === undefined) return fail(Errors.API_VALIDATION, 'data: is required (any JSON value)');
        return json(200, await o.data.testPush(u.value, b.value.data));
      },
    },
    '/console/api/control': {
      method: 'POST',
      run: async (req) => {
        const b = await jsonBody(req);
        if (!b.ok) return b.reply;
        const { type, device } = b.value;
        if (type !== 'kick' && type !== 'logout') return fail(Errors.API_VALIDATION, 'type: must be "kick" or "logout"');
        const u = user(b.value.user, 'user');
        if (!u.ok) return u.reply;
        if (device !== undefined && !deviceId.safeParse(device).success) return fail(Errors.API_VALIDATION, 'device: must be 1-64 characters of A-Z a-z 0-9 . _ -');
        return json(200, await o.data.control({ type, user: u.value, ...(typeof device === 'string' ? { device } : {}) }));
      },
    },
  };

  async function route(req: ConsoleRequest, template: string): Promise<ConsoleResponse> {
    const method = req.method.toUpperCase() === 'HEAD' ? 'GET' : req.method.toUpperCase();
    const file = STATIC[req.path];
    if (file) {
      if (method !== 'GET') return fail(Errors.API_METHOD, 'use GET', { allow: 'GET, HEAD' });
      if (!o.assets) return reply(503, 'The console was not built: run "npm run build".', 'text/plain; charset=utf-8');
      return reply(200, o.assets[file[0]], file[1]);
    }
    const r = api[template];
    if (!r) return fail(Errors.NOT_FOUND);
    if (method !== r.method) return fail(Errors.API_METHOD, `use ${r.method}`, { allow: r.method === 'GET' ? 'GET, HEAD' : r.method });
    const presented = bearerOf(req.header('authorization'));
    if (presented === undefined || !tokenOk(presented)) return fail(Errors.CONSOLE_UNAUTHORIZED, undefined, { 'www-authenticate': 'Bearer realm="longlink-console"' });
    return r.run(req);
  }

  return {
    owns: (path) => path === '/console' || path.startsWith('/console/'),
    async handle(req) {
      const template = consoleRoute(req.path);
      let res: ConsoleResponse;
      try {
        res = await route(req, template);
      } catch (err) {
        if (err instanceof LonglinkError) res = reply(err.status, JSON.stringify(err.toJSON()));
        else {
          // The route only: a message could quote a user id.
          o.log.error({ route: template }, 'console handler failed');
          res = fail(Errors.INTERNAL);
        }
      }
      return res;
    },
  };
}
