/**
 * Every WebSocket close code Longlink uses, in one place: what it means and
 * what a client must do next. The SDK's reconnect state machine and the
 * gateway's metrics (closed-by-reason) both read this table, so a new code is
 * added here and nowhere else. docs/protocol.md mirrors it; a test checks the
 * two agree.
 *
 * reconnect:
 *  - 'backoff'        reconnect with exponential backoff + full jitter, then resume
 *  - 'after-delay'    reconnect after the delay the server sent in a `reconnect` frame
 *  - 'refresh-token'  get a fresh token from the app, then reconnect and resume
 *  - 'no'             terminal: do not reconnect until the app says so
 */
export type ReconnectAdvice = 'backoff' | 'after-delay' | 'refresh-token' | 'no';

export interface CloseCodeInfo {
  readonly code: number;
  readonly name: CloseCodeName;
  readonly reconnect: ReconnectAdvice;
  readonly meaning: string;
}

export type CloseCodeName =
  | 'NORMAL'
  | 'GOING_AWAY'
  | 'ABNORMAL'
  | 'MESSAGE_TOO_BIG'
  | 'INTERNAL_ERROR'
  | 'TRY_AGAIN_LATER'
  | 'DRAINING'
  | 'AUTH_FAILED'
  | 'TOKEN_EXPIRED'
  | 'REPLACED'
  | 'LOGGED_OUT'
  | 'KICKED'
  | 'HEARTBEAT_TIMEOUT'
  | 'SLOW_CONSUMER'
  | 'INVALID_FRAME'
  | 'RATE_LIMITED'
  | 'UNSUPPORTED_PROTOCOL'
  | 'DEVICE_LIMIT';

const table: readonly CloseCodeInfo[] = [
  { code: 1000, name: 'NORMAL', reconnect: 'no', meaning: 'Closed normally, by the client or by the app.' },
  { code: 1001, name: 'GOING_AWAY', reconnect: 'backoff', meaning: 'The server is shutting down without a drain window.' },
  { code: 1006, name: 'ABNORMAL', reconnect: 'backoff', meaning: 'No close frame: the TCP connection dropped (set by the receiving side, never sent).' },
  { code: 1009, name: 'MESSAGE_TOO_BIG', reconnect: 'no', meaning: 'A frame exceeded the payload limit announced in hello.limits.maxPayload.' },
  { code: 1011, name: 'INTERNAL_ERROR', reconnect: 'backoff', meaning: 'The server hit an unexpected error on this connection.' },
  { code: 1013, name: 'TRY_AGAIN_LATER', reconnect: 'after-delay', meaning: 'The session could not start: the routers are overloaded (a reconnect storm). A reconnect frame with a jittered delay came first; without one, back off.' },
  { code: 4000, name: 'DRAINING', reconnect: 'after-delay', meaning: 'The gateway is draining (deploy or scale-down); a reconnect frame with a delay came first.' },
  { code: 4001, name: 'AUTH_FAILED', reconnect: 'no', meaning: 'The credentials were rejected; reconnecting with the same token will fail again.' },
  { code: 4002, name: 'TOKEN_EXPIRED', reconnect: 'refresh-token', meaning: 'The token expired during the session; fetch a new one, then reconnect and resume.' },
  { code: 4003, name: 'REPLACED', reconnect: 'no', meaning: 'A newer connection for the same user and device took over this session.' },
  { code: 4004, name: 'LOGGED_OUT', reconnect: 'no', meaning: 'The user or device was logged out by the backend.' },
  { code: 4005, name: 'KICKED', reconnect: 'no', meaning: 'An operator or backend disconnected this user or device.' },
  { code: 4006, name: 'HEARTBEAT_TIMEOUT', reconnect: 'backoff', meaning: 'Nothing was received within interval x 1.5 + grace: the server considers the peer gone.' },
  { code: 4007, name: 'SLOW_CONSUMER', reconnect: 'backoff', meaning: 'The send buffer stayed over its bound past the write timeout, or overflowed.' },
  { code: 4008, name: 'INVALID_FRAME', reconnect: 'no', meaning: 'A frame could not be decoded or failed validation (a client bug).' },
  { code: 4009, name: 'RATE_LIMITED', reconnect: 'backoff', meaning: 'The client sent frames faster than its inbound rate limit.' },
  { code: 4010, name: 'UNSUPPORTED_PROTOCOL', reconnect: 'no', meaning: 'The client did not offer a protocol version this gateway speaks.' },
  { code: 4011, name: 'DEVICE_LIMIT', reconnect: 'no', meaning: 'The user already has the most devices connected at once (error LL_DEVICE_LIMIT); close or log out another device first. The same device reconnecting is never refused.' },
];

export const CLOSE_CODES: readonly CloseCodeInfo[] = Object.freeze(table.map((c) => Object.freeze({ ...c })));

const byName = new Map(CLOSE_CODES.map((c) => [c.name, c] as const));
const byCode = new Map(CLOSE_CODES.map((c) => [c.code, c] as const));

/** Close code number by name, e.g. `Close.HEARTBEAT_TIMEOUT === 4006`. */
export const Close: Readonly<Record<CloseCodeName, number>> = Object.freeze(
  Object.fromEntries(CLOSE_CODES.map((c) => [c.name, c.code])) as Record<CloseCodeName, number>,
);

export function closeCodeInfo(code: number): CloseCodeInfo | undefined {
  return byCode.get(code);
}

export function closeCodeByName(name: CloseCodeName): CloseCodeInfo {
  return byName.get(name)!;
}

/** Bounded label value for metrics: the code's name, or 'OTHER' for codes we do not define. */
export function closeReasonLabel(code: number): string {
  return byCode.get(code)?.name ?? 'OTHER';
}
