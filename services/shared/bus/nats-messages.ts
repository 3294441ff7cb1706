/**
 * Translation between the Bus contract (bus.ts) and the NATS client's types,
 * for nats-bus.ts: headers (one string per key; a key a foreign publisher
 * sent twice reads back as its first value), received messages, and the
 * request errors the Bus names (timeout, no responders).
 */
import { headers as natsHeaders, NoRespondersError, RequestError, TimeoutError, type Msg, type MsgHdrs } from '@nats-io/transport-node';
import { BusNoRespondersError, BusTimeoutError, type BusMessage, type Headers } from './bus.js';

export function toNatsHeaders(h: Headers): MsgHdrs {
  const out = natsHeaders();
  for (const [k, v] of Object.entries(h)) out.set(k, v);
  return out;
}

function fromNatsHeaders(h: MsgHdrs | undefined): Headers | undefined {
  if (!h) return undefined;
  const out: Headers = {};
  for (const [k, [first]] of h) if (first !== undefined) out[k] = first;
  return out;
}

/**
 * `data` is a view into the socket read chunk (no copy): handlers that keep
 * a payload for long should copy it, or the whole chunk stays alive.
 */
export function toBusMessage(m: Msg): BusMessage {
  return { subject: m.subject, data: m.data, headers: fromNatsHeaders(m.headers), reply: m.reply ? m.reply : undefined };
}

export function mapRequestError(err: unknown, subject: string, timeoutMs: number): unknown {
  let mapped: Error | undefined;
  if (err instanceof TimeoutError) mapped = new BusTimeoutError(subject, timeoutMs);
  else if (err instanceof NoRespondersError || (err instanceof RequestError && err.isNoResponders())) mapped = new BusNoRespondersError(subject);
  if (!mapped) return err;
  mapped.cause = err;
  return mapped;
}
