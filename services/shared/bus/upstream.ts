/**
 * Upstream messages over any Bus (docs/api.md, "Receiving upstream send
 * messages" and "Answering upstream requests"): how a gateway publishes a
 * client's `send` or forwards it as a request, and how a backend in
 * TypeScript (or standalone mode's in-process handler) answers requests.
 *
 * A request is a core NATS request on the same subject and with the same
 * body and headers as a plain upstream message; the backend's reply body is
 * the JSON value the client gets. No responders (nobody subscribed), no
 * reply in time and an unusable reply become LonglinkErrors with stable
 * codes, which the gateway hands to the client in a `reply` frame.
 */
import { LIMITS, MAX_DATA_DEPTH, withinDepth } from '../../../protocol/index.js';
import { Errors, LonglinkError } from '../errors.js';
import { BusNoRespondersError, BusTimeoutError, decodeMsg, encodeMsg, headerValue, type Bus, type Headers, type Subscription } from './bus.js';
import type { UpstreamMessage } from './messages.js';
import type { Subjects } from './subjects.js';

/**
 * On a request: how long the gateway still waits for the answer (ms, decimal),
 * so whoever answers (the router's upstream.message webhook) stops working on
 * it when the client stops waiting. A relative time: no clock is shared.
 */
export const UPSTREAM_TIMEOUT_HEADER = 'longlink-timeout-ms';
/**
 * On a reply: the request was refused with this LL_UPSTREAM_ code (the body is
 * the detail text): a router over its caps on requests in flight, or a
 * backend shedding load the same way (docs/api.md). Only the codes in
 * REPLY_ERRORS are read; with any other value the reply is an ordinary one.
 */
export const UPSTREAM_ERROR_HEADER = 'longlink-error';
const REPLY_ERRORS = new Map([Errors.UPSTREAM_OVERLOADED].map((e) => [e.code, e]));

/** The timeout a request carries (UPSTREAM_TIMEOUT_HEADER), or undefined when absent or not a positive integer. */
export function upstreamTimeoutOf(headers: Headers | undefined): number | undefined {
  const v = headers?.[UPSTREAM_TIMEOUT_HEADER];
  if (v === undefined || !/^[1-9][0-9]{0,8}$/.test(v)) return undefined;
  return Number(v);
}

/** The sender's ids as headers, so a backend can route without parsing the body (percent-encoded where not plain visible ASCII). */
export function upstreamHeaders(msg: UpstreamMessage): Headers {
  return { 'longlink-user': headerValue(msg.user), 'longlink-device': headerValue(msg.device), 'longlink-conn': headerValue(msg.conn), 'longlink-gateway': headerValue(msg.gateway) };
}

export function publishUpstream(bus: Bus, subjects: Subjects, msg: UpstreamMessage): void {
  bus.publish(subjects.upstream(msg.topic), encodeMsg(msg), upstreamHeaders(msg));
}

/**
 * Sends `msg` as a request and returns the backend's reply (a JSON value).
 * Rejects with UPSTREAM_NO_BACKEND (no responders, or the bus is down),
 * UPSTREAM_TIMEOUT, UPSTREAM_BAD_REPLY (not JSON, over
 * LIMITS.maxReplyBytes, or nested deeper than the protocol allows), or
 * UPSTREAM_OVERLOADED (the router refused it: too many in flight). The
 * request carries `timeoutMs` in UPSTREAM_TIMEOUT_HEADER.
 */
export async function requestUpstream(bus: Bus, subjects: Subjects, msg: UpstreamMessage, timeoutMs: number): Promise<unknown> {
  let data: Uint8Array;
  let refusal: LonglinkError | undefined;
  try {
    const reply = await bus.request(subjects.upstream(msg.topic), encodeMsg(msg), { timeoutMs, headers: { ...upstreamHeaders(msg), [UPSTREAM_TIMEOUT_HEADER]: String(Math.max(1, Math.round(timeoutMs))) } });
    const refused = reply.headers?.[UPSTREAM_ERROR_HEADER];
    const spec = refused === undefined ? undefined : REPLY_ERRORS.get(refused);
    if (spec !== undefined) refusal = new LonglinkError(spec, new TextDecoder().decode(reply.data).slice(0, 200) || undefined);
    data = reply.data;
  } catch (err) {
    if (err instanceof BusNoRespondersError) throw new LonglinkError(Errors.UPSTREAM_NO_BACKEND, `topic ${msg.topic}`);
    if (err instanceof BusTimeoutError) throw new LonglinkError(Errors.UPSTREAM_TIMEOUT, `no reply within ${timeoutMs} ms`);
    throw new LonglinkError(Errors.UPSTREAM_NO_BACKEND, 'bus unavailable');
  }
  if (refusal !== undefined) throw refusal;
  if (data.byteLength > LIMITS.maxReplyBytes) throw new LonglinkError(Errors.UPSTREAM_BAD_REPLY, `${data.byteLength} bytes, over ${LIMITS.maxReplyBytes}`);
  const value = data.byteLength === 0 ? undefined : decodeMsg<unknown>(data);
  if (value === undefined) throw new LonglinkError(Errors.UPSTREAM_BAD_REPLY, 'not a JSON value');
  if (!withinDepth(value, MAX_DATA_DEPTH)) throw new LonglinkError(Errors.UPSTREAM_BAD_REPLY, `nests deeper than ${MAX_DATA_DEPTH} levels`);
  return value;
}

/** Answers one upstream request: its return value (undefined → null) is the reply. */
export type UpstreamHandler = (msg: UpstreamMessage) => unknown;

/**
 * Serves upstream requests on `topic` (a NATS pattern under the upstream
 * prefix: `chat.history`, `chat.*`, `>`) with an in-process handler, over any
 * Bus: standalone mode's memory bus or NATS. A handler that throws or
 * rejects sends no reply (the client gets LL_UPSTREAM_TIMEOUT); `onError`
 * hears about it. Plain sends (no reply expected) are ignored. With a
 * `queue`, several servers share the topic.
 */
export function serveUpstream(bus: Bus, subjects: Subjects, topic: string, handler: UpstreamHandler, opts: { queue?: string; onError?: (err: unknown) => void } = {}): Subscription {
  return bus.subscribe(subjects.upstream(topic), (m) => {
    if (m.reply === undefined) return;
    const msg = decodeMsg<UpstreamMessage>(m.data);
    if (msg === undefined) return;
    Promise.resolve()
      .then(() => handler(msg))
      .then((value) => bus.respond(m, encodeMsg(value === undefined ? null : value)))
      .catch((err: unknown) => opts.onError?.(err));
  }, opts.queue !== undefined ? { queue: opts.queue } : undefined);
}
