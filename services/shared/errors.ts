/**
 * The error catalogue: every error Longlink reports to a caller (HTTP API,
 * upgrade response, config loader) has a stable code here. Codes never change
 * meaning once released; docs/errors.md documents each one and a test checks
 * that every code is unique and documented.
 */
export interface ErrorSpec {
  readonly code: string;
  readonly status: number;
  readonly message: string;
}

function spec(code: string, status: number, message: string): ErrorSpec {
  return Object.freeze({ code, status, message });
}

export const Errors = Object.freeze({
  CONFIG_INVALID: spec('LL_CONFIG_INVALID', 500, 'Configuration is invalid'),
  NATIVE_UWS_MISSING: spec('LL_NATIVE_UWS_MISSING', 500, 'The native uWebSockets.js binary did not load'),
  PORT_TAKEN: spec('LL_PORT_TAKEN', 500, 'A port to listen on is already taken'),
  AUTH_MISSING_TOKEN: spec('LL_AUTH_MISSING_TOKEN', 401, 'No token: send it as subprotocol longlink.token.<jwt> or access_token query parameter'),
  AUTH_INVALID_TOKEN: spec('LL_AUTH_INVALID_TOKEN', 401, 'Token is invalid'),
  AUTH_TOKEN_EXPIRED: spec('LL_AUTH_TOKEN_EXPIRED', 401, 'Token has expired'),
  AUTH_KEYS_UNAVAILABLE: spec('LL_AUTH_KEYS_UNAVAILABLE', 503, 'Token signing keys are not loaded yet; retry shortly'),
  UNSUPPORTED_PROTOCOL: spec('LL_UNSUPPORTED_PROTOCOL', 400, 'Offered subprotocols do not include longlink.v1'),
  BAD_HANDSHAKE: spec('LL_BAD_HANDSHAKE', 400, 'Invalid handshake parameter'),
  UNSUPPORTED_WS_VERSION: spec('LL_UNSUPPORTED_WS_VERSION', 426, 'Only WebSocket version 13 (RFC 6455) is supported'),
  ADMISSION_MAX_CONNECTIONS: spec('LL_ADMISSION_MAX_CONNECTIONS', 503, 'Gateway is at its connection limit'),
  ADMISSION_RATE: spec('LL_ADMISSION_RATE', 503, 'Gateway is over its connect rate'),
  ADMISSION_STARTING: spec('LL_ADMISSION_STARTING', 503, 'Gateway has too many sessions waiting to start'),
  ADMISSION_SOURCE_RATE: spec('LL_ADMISSION_SOURCE_RATE', 429, 'Too many connection attempts from this address'),
  DRAINING: spec('LL_DRAINING', 503, 'Gateway is draining'),
  NOT_FOUND: spec('LL_NOT_FOUND', 404, 'No such endpoint'),
  API_UNAUTHORIZED: spec('LL_API_UNAUTHORIZED', 401, 'Missing or invalid API key'),
  CONSOLE_UNAUTHORIZED: spec('LL_CONSOLE_UNAUTHORIZED', 401, 'Missing or invalid console credential'),
  API_VALIDATION: spec('LL_API_VALIDATION', 400, 'Request body failed validation'),
  API_BAD_JSON: spec('LL_API_BAD_JSON', 400, 'Request body is not valid JSON'),
  API_TOO_LARGE: spec('LL_API_TOO_LARGE', 413, 'Request body is too large'),
  API_METHOD: spec('LL_API_METHOD', 405, 'Method not allowed'),
  API_UNSUPPORTED_MEDIA: spec('LL_API_UNSUPPORTED_MEDIA', 415, 'Content-Type must be application/json'),
  STORE_UNAVAILABLE: spec('LL_STORE_UNAVAILABLE', 503, 'Storage backend is unavailable'),
  DEVICE_LIMIT: spec('LL_DEVICE_LIMIT', 429, 'The user already has the most devices connected at once (LONGLINK_MAX_DEVICES_PER_USER)'),
  CHANNEL_LIMIT: spec('LL_CHANNEL_LIMIT', 400, 'The connection already has the most channels it may subscribe (LONGLINK_MAX_CHANNELS_PER_CONNECTION)'),
  PUBLISH_TOO_LARGE: spec('LL_PUBLISH_TOO_LARGE', 413, 'Channel message data is over its limit (LONGLINK_MAX_PUBLISH_BYTES)'),
  PUBLISH_RATE: spec('LL_PUBLISH_RATE', 429, 'Too many channel publishes for this API key (LONGLINK_PUBLISH_RATE)'),
  SESSION_REPLACED: spec('LL_SESSION_REPLACED', 409, 'A newer session start for this user and device registered first'),
  ROUTER_OVERLOADED: spec('LL_ROUTER_OVERLOADED', 503, 'Router is overloaded; retry shortly'),
  ROUTER_TIMEOUT: spec('LL_ROUTER_TIMEOUT', 504, 'No router answered the session start in time'),
  UPSTREAM_NO_BACKEND: spec('LL_UPSTREAM_NO_BACKEND', 503, 'No backend is listening on this topic'),
  UPSTREAM_TIMEOUT: spec('LL_UPSTREAM_TIMEOUT', 504, 'The backend did not reply in time'),
  UPSTREAM_BAD_REPLY: spec('LL_UPSTREAM_BAD_REPLY', 502, 'The backend\'s reply is not JSON, too large or nested too deep'),
  UPSTREAM_BUSY: spec('LL_UPSTREAM_BUSY', 429, 'Too many requests awaiting a reply on this connection'),
  UPSTREAM_OVERLOADED: spec('LL_UPSTREAM_OVERLOADED', 503, 'Too many upstream requests in flight at the router, for this user or in all; retry shortly'),
  INTERNAL: spec('LL_INTERNAL', 500, 'Internal error'),
});

/** Reason phrases (RFC 9110) for every status Longlink answers with: one table for every HTTP server. */
const REASONS: Readonly<Record<number, string>> = Object.freeze({
  200: 'OK', 204: 'No Content', 302: 'Found', 304: 'Not Modified', 400: 'Bad Request', 401: 'Unauthorized', 403: 'Forbidden', 404: 'Not Found', 405: 'Method Not Allowed',
  409: 'Conflict', 413: 'Content Too Large', 415: 'Unsupported Media Type', 426: 'Upgrade Required', 429: 'Too Many Requests',
  500: 'Internal Server Error', 502: 'Bad Gateway', 503: 'Service Unavailable', 504: 'Gateway Timeout',
});

/** The HTTP status line for a status code, e.g. `413 Content Too Large` (uWS's writeStatus takes the whole line). */
export function statusLine(status: number): string {
  const reason = REASONS[status];
  return `${status} ${reason ?? ''}`;
}

/** A typed error carrying its catalogue entry and an optional detail for the caller. */
export class LonglinkError extends Error {
  /** The catalogue entry (Errors.*): callers need not look the code up again. */
  readonly spec: ErrorSpec;
  readonly code: string;
  readonly status: number;
  readonly detail: string | undefined;
  /** When to try again (ms), for errors that are about load (ROUTER_OVERLOADED). */
  readonly retryAfterMs: number | undefined;
  constructor(which: ErrorSpec, detail?: string, retryAfterMs?: number) {
    super(detail ? `${which.message}: ${detail}` : which.message);
    this.name = 'LonglinkError';
    this.spec = which;
    this.code = which.code;
    this.status = which.status;
    this.detail = detail;
    this.retryAfterMs = retryAfterMs;
  }
  toJSON(): { error: { code: string; message: string; retryAfterMs?: number } } {
    return { error: { code: this.code, message: this.message, ...(this.retryAfterMs !== undefined ? { retryAfterMs: this.retryAfterMs } : {}) } };
  }
}

/**
 * LL_PORT_TAKEN for a listener (`what`, e.g. "router HTTP API listener") that could not bind host:port, whatever
 * server library it runs on. `why`: the cause when the library reports one (node:http's errno); uSockets reports none.
 */
export function portTaken(host: string, port: number, what: string,
  why = 'another process holds the port (which one is unknown), or the address is not this machine\'s'): LonglinkError {
  return new LonglinkError(Errors.PORT_TAKEN, `could not listen on ${host}:${port} (${what}): ${why}`);
}

const plainBodies = new WeakMap<ErrorSpec, string>();

/**
 * JSON body for an error response: `{"error":{"code","message"}}`, the same
 * as a LonglinkError's toJSON() but without building an Error (a stack trace
 * per refusal: ~1.5 % of a gateway's CPU while it refuses a reconnect storm
 * with 503s). Bodies without a detail are built once per catalogue entry.
 */
export function errorBody(which: ErrorSpec, detail?: string): string {
  if (detail) return JSON.stringify({ error: { code: which.code, message: `${which.message}: ${detail}` } });
  let body = plainBodies.get(which);
  if (body === undefined) plainBodies.set(which, (body = JSON.stringify({ error: { code: which.code, message: which.message } })));
  return body;
}
