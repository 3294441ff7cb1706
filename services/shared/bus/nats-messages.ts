/**
 * Translation between the Bus contract (bus.ts) and the NATS client's types,
 * for nats-bus.ts: headers (one string per key; a key a foreign publisher
 * sent twice reads back as its first value), received messages, and the
 * request errors the Bus names (timeout, no responders, permission denied).
 */
import { headers as natsHeaders, NoRespondersError, PermissionViolationError, RequestError, TimeoutError, type Msg, type MsgHdrs } from '@nats-io/transport-node';
import { BusNoRespondersError, BusPermissionError, BusTimeoutError, type BusMessage, type Headers } from './bus.js';

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
 * A received message as the Bus names it, read from the NATS message on
 * access: the client decodes subject and reply from bytes (a TextDecoder
 * call each) only when asked, and most handlers read just `data` (a
 * gateway's deliveries, a router's acks), so building all four fields up
 * front cost two decodes per message for nothing. Headers are converted
 * once, on first read.
 *
 * `data` is a view into the socket read chunk (no copy): handlers that keep
 * a payload for long should copy it, or the whole chunk stays alive.
 */
class NatsBusMessage implements BusMessage {
  private hdrs: Headers | undefined | null = null;
  constructor(private readonly m: Msg) {}
  get subject(): string { return this.m.subject; }
  get data(): Uint8Array { return this.m.data; }
  get headers(): Headers | undefined {
    if (this.hdrs === null) this.hdrs = fromNatsHeaders(this.m.headers);
    return this.hdrs;
  }
  get reply(): string | undefined { return this.m.reply ? this.m.reply : undefined; }
}

export function toBusMessage(m: Msg): BusMessage {
  return new NatsBusMessage(m);
}

export function mapRequestError(err: unknown, subject: string, timeoutMs: number): unknown {
  let mapped: Error | undefined;
  if (err instanceof TimeoutError) mapped = new BusTimeoutError(subject, timeoutMs);
  else if (err instanceof NoRespondersError || (err instanceof RequestError && err.isNoResponders())) mapped = new BusNoRespondersError(subject);
  else if (err instanceof PermissionViolationError) mapped = new BusPermissionError(subject, err.operation, err.message);
  else if (err instanceof RequestError && err.cause instanceof PermissionViolationError) mapped = new BusPermissionError(subject, err.cause.operation, err.cause.message);
  if (!mapped) return err;
  mapped.cause = err;
  return mapped;
}
