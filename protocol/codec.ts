/**
 * Encoders and decoders for every v1 frame. Pure functions over bytes and
 * strings: no sockets, no clocks. Decoders never throw; any input, however
 * malformed, yields either a frame or a failure carrying the close code to use.
 */
import { Close } from './close-codes.js';
import { checkMessageId, checkPublishChannel, checkTopic } from './identifiers.js';
import { readVarint, varintLength, writeVarint } from './varint.js';
import {
  AckFlag, BinaryOp, LIMITS,
  type ChannelPosition, type ClientFrame, type Decoded, type HeartbeatAckFrame, type SendFrame, type ServerFrame,
} from './frames.js';

// ignoreBOM keeps a leading U+FEFF in the text so JSON.parse rejects it: a
// text frame then decodes the same whether it arrives as bytes (gateway) or as
// a string (browser SDK). RFC 8259 forbids sending a BOM.
// Made on first use, not at import: k6 has no TextDecoder, and its scripts
// import this module (text frames reach them as strings, so they never need it).
let utf8: TextDecoder | undefined;

const HEARTBEAT_BARE = Uint8Array.of(BinaryOp.HEARTBEAT);
const HEARTBEAT_ACK_BARE = Uint8Array.of(BinaryOp.HEARTBEAT_ACK);

/**
 * Deepest nesting of arrays/objects allowed inside `send.data` and
 * `push.data` (a scalar is depth 0, `[]` depth 1). JSON.parse copes with any
 * depth, but JSON.stringify recurses and throws RangeError at a few thousand
 * levels, so without this bound a 10 KB frame would decode fine and then crash
 * whoever re-serialises it (the gateway publishing upstream, an app logging a
 * push). 64 also keeps whole frames within common parser limits (serde_json: 128).
 */
export const MAX_DATA_DEPTH = 64;

function fail(reason: string, code: number = Close.INVALID_FRAME): { ok: false; code: number; reason: string } {
  return { ok: false, code, reason };
}

function isSeq(v: unknown): v is number {
  return typeof v === 'number' && Number.isSafeInteger(v) && v >= 0;
}

/**
 * A rate may be fractional but must be finite: JSON.parse reads `1e400` as
 * Infinity, which JSON.stringify writes back as `null`.
 */
function isRate(v: unknown): v is number {
  return typeof v === 'number' && Number.isFinite(v) && v >= 0;
}

function isInterval(v: number): boolean {
  return v >= LIMITS.minIntervalMs && v <= LIMITS.maxIntervalMs;
}

/** True when `v` nests no deeper than `budget` levels. Recursion is bounded by `budget`. */
export function withinDepth(v: unknown, budget: number): boolean {
  if (typeof v !== 'object' || v === null) return true;
  if (budget === 0) return false;
  const children = Array.isArray(v) ? (v as unknown[]) : Object.values(v);
  for (const c of children) if (!withinDepth(c, budget - 1)) return false;
  return true;
}

// ---- binary control frames -------------------------------------------------

/** Heartbeat: 1 byte, or 1 byte + varint interval (ms) when the client announces a new interval. */
export function encodeHeartbeat(intervalMs?: number): Uint8Array {
  if (intervalMs === undefined) return HEARTBEAT_BARE;
  const out = new Uint8Array(1 + varintLength(intervalMs));
  out[0] = BinaryOp.HEARTBEAT;
  writeVarint(out, 1, intervalMs);
  return out;
}

/** Heartbeat ack: 1 byte when there is nothing to say; otherwise op, flags, then the flagged varints. */
export function encodeHeartbeatAck(fields?: Omit<HeartbeatAckFrame, 'op'>): Uint8Array {
  if (!fields || (fields.seq === undefined && fields.intervalMs === undefined && fields.unread === undefined)) {
    return HEARTBEAT_ACK_BARE;
  }
  let flags = 0;
  let len = 2;
  if (fields.seq !== undefined) { flags |= AckFlag.SEQ; len += varintLength(fields.seq); }
  if (fields.intervalMs !== undefined) { flags |= AckFlag.INTERVAL; len += varintLength(fields.intervalMs); }
  if (fields.unread !== undefined) { flags |= AckFlag.UNREAD; len += varintLength(fields.unread); }
  const out = new Uint8Array(len);
  out[0] = BinaryOp.HEARTBEAT_ACK;
  out[1] = flags;
  let off = 2;
  if (fields.seq !== undefined) off = writeVarint(out, off, fields.seq);
  if (fields.intervalMs !== undefined) off = writeVarint(out, off, fields.intervalMs);
  if (fields.unread !== undefined) writeVarint(out, off, fields.unread);
  return out;
}

/** Cumulative ack: op + varint seq. */
export function encodeAck(seq: number): Uint8Array {
  const out = new Uint8Array(1 + varintLength(seq));
  out[0] = BinaryOp.ACK;
  writeVarint(out, 1, seq);
  return out;
}

// ---- JSON frames -------------------------------------------------------------

/** Encodes any JSON frame (client or server). */
export function encodeJson(frame: ServerFrame | ClientFrame): string {
  return JSON.stringify(frame);
}

/**
 * Push frame from an already-serialised JSON payload. The router serialises
 * `data` once; the gateway splices it in without parsing it again.
 */
export function encodePushRaw(seq: number, id: string, ts: number, dataJson: string, epoch?: number): string {
  return '{"op":"push","seq":' + seq + ',"id":' + JSON.stringify(id) + ',"ts":' + ts + ',"data":' + dataJson + (epoch !== undefined ? ',"epoch":' + epoch + '}' : '}');
}

/** Channel message frame from already-serialised `data` (the gateway encodes it once per channel, not per subscriber). */
export function encodePubRaw(channel: string, offset: number, epoch: string, id: string, ts: number, dataJson: string): string {
  return '{"op":"pub","channel":' + JSON.stringify(channel) + ',"offset":' + offset + ',"epoch":' + JSON.stringify(epoch)
    + ',"id":' + JSON.stringify(id) + ',"ts":' + ts + ',"data":' + dataJson + '}';
}

const EPOCH_RE = /^[A-Za-z0-9_-]+$/;

/** An epoch as the router makes them: 1-32 characters of A-Z a-z 0-9 _ -. */
export function isEpoch(v: unknown): v is string {
  return typeof v === 'string' && v.length > 0 && v.length <= LIMITS.maxEpochLength && EPOCH_RE.test(v);
}

function decodePositions(v: unknown): ChannelPosition[] | string {
  if (!Array.isArray(v)) return 'recover.channels must be an array';
  if (v.length > LIMITS.maxRecoverChannels) return `recover.channels holds at most ${LIMITS.maxRecoverChannels} entries`;
  const out: ChannelPosition[] = [];
  for (const [i, e] of v.entries()) {
    if (typeof e !== 'object' || e === null) return `recover.channels[${i}] must be an object`;
    const p = e as Record<string, unknown>;
    const bad = checkPublishChannel(p.channel);
    if (bad !== undefined) return `recover.channels[${i}].channel ${bad}`;
    if (!isSeq(p.offset)) return `recover.channels[${i}].offset must be a non-negative integer`;
    if (!isEpoch(p.epoch)) return `recover.channels[${i}].epoch must be 1-${LIMITS.maxEpochLength} characters of A-Z a-z 0-9 _ -`;
    out.push({ channel: p.channel as string, offset: p.offset, epoch: p.epoch });
  }
  return out;
}

function toBytes(data: ArrayBuffer | Uint8Array): Uint8Array {
  return data instanceof Uint8Array ? data : new Uint8Array(data);
}

function parseJsonObject(data: ArrayBuffer | Uint8Array | string): Decoded<Record<string, unknown>> {
  let text: string;
  if (typeof data === 'string') text = data;
  else {
    try { text = (utf8 ??= new TextDecoder('utf-8', { fatal: true, ignoreBOM: true })).decode(toBytes(data)); } catch { return fail('text frame is not valid UTF-8'); }
  }
  let value: unknown;
  try { value = JSON.parse(text); } catch { return fail('text frame is not valid JSON'); }
  if (typeof value !== 'object' || value === null || Array.isArray(value)) return fail('text frame must be a JSON object');
  return { ok: true, frame: value as Record<string, unknown> };
}

// ---- client → server decoding (gateway side) --------------------------------

/**
 * Decodes one frame received from a client. `isBinary` is the WebSocket
 * opcode: binary frames hold control ops, text frames hold JSON.
 */
export function decodeClientFrame(data: ArrayBuffer | Uint8Array | string, isBinary: boolean): Decoded<ClientFrame> {
  if (isBinary && typeof data !== 'string') return decodeClientBinary(toBytes(data));
  const parsed = parseJsonObject(data);
  if (!parsed.ok) return parsed;
  const o = parsed.frame;
  switch (o.op) {
    case 'send': {
      const badId = checkMessageId(o.id);
      if (badId !== undefined) return fail(`send.id ${badId}`);
      const badTopic = checkTopic(o.topic);
      if (badTopic !== undefined) return fail(`send.topic ${badTopic}`);
      if (!('data' in o)) return fail('send.data is required');
      if (!withinDepth(o.data, MAX_DATA_DEPTH)) return fail(`send.data nests deeper than ${MAX_DATA_DEPTH} levels`);
      if (o.reply !== undefined && o.reply !== true) return fail('send.reply must be true when present');
      if (o.timeoutMs !== undefined) {
        if (o.reply !== true) return fail('send.timeoutMs needs reply: true');
        if (!isSeq(o.timeoutMs) || o.timeoutMs < LIMITS.minReplyTimeoutMs || o.timeoutMs > LIMITS.maxReplyTimeoutMs) return fail(`send.timeoutMs must be an integer of ${LIMITS.minReplyTimeoutMs}-${LIMITS.maxReplyTimeoutMs} ms`);
      }
      const frame: SendFrame = { op: 'send', id: o.id as string, topic: o.topic as string, data: o.data };
      if (o.reply === true) frame.reply = true;
      if (o.timeoutMs !== undefined) frame.timeoutMs = o.timeoutMs as number;
      return { ok: true, frame };
    }
    case 'refresh':
      if (typeof o.token !== 'string' || o.token.length === 0 || o.token.length > LIMITS.maxTokenLength) return fail(`refresh.token must be a string of 1-${LIMITS.maxTokenLength} characters`);
      return { ok: true, frame: { op: 'refresh', token: o.token } };
    case 'recover': {
      const channels = decodePositions(o.channels);
      if (typeof channels === 'string') return fail(channels);
      return { ok: true, frame: { op: 'recover', channels } };
    }
    case 'heartbeat':
    case 'ack':
      return fail(`${o.op} must be sent as a binary frame`);
    default:
      return fail(typeof o.op === 'string' ? `unknown op "${o.op.slice(0, 32)}"` : 'missing op');
  }
}

function decodeClientBinary(b: Uint8Array): Decoded<ClientFrame> {
  if (b.length === 0) return fail('empty binary frame');
  switch (b[0]) {
    case BinaryOp.HEARTBEAT: {
      if (b.length === 1) return { ok: true, frame: { op: 'heartbeat' } };
      const v = readVarint(b, 1);
      if (!v || v.next !== b.length) return fail('heartbeat: malformed interval');
      if (!isInterval(v.value)) return fail(`heartbeat: interval must be ${LIMITS.minIntervalMs}-${LIMITS.maxIntervalMs} ms`);
      return { ok: true, frame: { op: 'heartbeat', intervalMs: v.value } };
    }
    case BinaryOp.ACK: {
      const v = readVarint(b, 1);
      if (!v || v.next !== b.length) return fail('ack: malformed seq');
      return { ok: true, frame: { op: 'ack', seq: v.value } };
    }
    default:
      return fail(`unknown binary op 0x${b[0]!.toString(16).padStart(2, '0')}`);
  }
}

// ---- server → client decoding (SDK side) -------------------------------------

/** Decodes one frame received from the gateway. Strict on v1 fields it uses; ignores extra JSON fields. */
export function decodeServerFrame(data: ArrayBuffer | Uint8Array | string, isBinary: boolean): Decoded<ServerFrame> {
  if (isBinary && typeof data !== 'string') return decodeServerBinary(toBytes(data));
  const parsed = parseJsonObject(data);
  if (!parsed.ok) return parsed;
  const o = parsed.frame;
  switch (o.op) {
    case 'hello': {
      const hb = o.hb as Record<string, unknown> | undefined;
      const limits = o.limits as Record<string, unknown> | undefined;
      if (o.v !== 1) return fail('hello: unsupported protocol version', Close.UNSUPPORTED_PROTOCOL);
      if (typeof o.session !== 'string' || typeof o.conn !== 'string' || typeof o.gateway !== 'string') return fail('hello: session, conn and gateway must be strings');
      if (typeof o.resumed !== 'boolean' || !isSeq(o.seq)) return fail('hello: resumed must be boolean and seq a non-negative integer');
      if (!hb || typeof hb !== 'object' || !isSeq(hb.minMs) || !isSeq(hb.maxMs) || !isSeq(hb.intervalMs) || !isSeq(hb.graceMs)) return fail('hello: malformed hb');
      if (!limits || typeof limits !== 'object' || !isSeq(limits.maxPayload) || !isRate(limits.ratePerSec) || !isSeq(limits.burst)) return fail('hello: malformed limits');
      if (o.tokenExpiresInMs !== undefined && !isSeq(o.tokenExpiresInMs)) return fail('hello: tokenExpiresInMs must be a non-negative integer');
      if (o.epoch !== undefined && !isSeq(o.epoch)) return fail('hello: epoch must be a non-negative integer');
      const lost = o.lost as Record<string, unknown> | undefined;
      if (lost !== undefined && (typeof lost !== 'object' || lost === null || !isSeq(lost.epoch) || !isSeq(lost.afterSeq))) return fail('hello: malformed lost');
      return {
        ok: true,
        frame: {
          op: 'hello', v: 1, session: o.session, conn: o.conn, gateway: o.gateway, resumed: o.resumed, seq: o.seq,
          hb: { minMs: hb.minMs, maxMs: hb.maxMs, intervalMs: hb.intervalMs, graceMs: hb.graceMs },
          limits: { maxPayload: limits.maxPayload, ratePerSec: limits.ratePerSec, burst: limits.burst },
          ...(o.tokenExpiresInMs !== undefined ? { tokenExpiresInMs: o.tokenExpiresInMs } : {}),
          ...(o.epoch !== undefined ? { epoch: o.epoch } : {}),
          ...(lost !== undefined ? { lost: { epoch: lost.epoch as number, afterSeq: lost.afterSeq as number } } : {}),
        },
      };
    }
    case 'push': {
      if (!isSeq(o.seq) || typeof o.id !== 'string' || !isSeq(o.ts) || !('data' in o)) return fail('push: malformed');
      if (o.epoch !== undefined && !isSeq(o.epoch)) return fail('push: epoch must be a non-negative integer');
      const epoch = o.epoch !== undefined ? { epoch: o.epoch } : {};
      if (!withinDepth(o.data, MAX_DATA_DEPTH)) return { ...fail(`push.data nests deeper than ${MAX_DATA_DEPTH} levels`), push: { seq: o.seq, id: o.id, ...epoch } };
      return { ok: true, frame: { op: 'push', seq: o.seq, id: o.id, ts: o.ts, data: o.data, ...epoch } };
    }
    case 'pub':
      if (checkPublishChannel(o.channel) !== undefined || !isSeq(o.offset) || !isEpoch(o.epoch) || typeof o.id !== 'string' || !isSeq(o.ts) || !('data' in o)) return fail('pub: malformed');
      if (!withinDepth(o.data, MAX_DATA_DEPTH)) return fail(`pub.data nests deeper than ${MAX_DATA_DEPTH} levels`);
      return { ok: true, frame: { op: 'pub', channel: o.channel as string, offset: o.offset, epoch: o.epoch, id: o.id, ts: o.ts, data: o.data } };
    case 'subscribed':
      if (checkPublishChannel(o.channel) !== undefined || !isSeq(o.offset) || !isEpoch(o.epoch)) return fail('subscribed: malformed');
      if (o.recovered !== undefined && typeof o.recovered !== 'boolean') return fail('subscribed: malformed recovered');
      return { ok: true, frame: { op: 'subscribed', channel: o.channel as string, offset: o.offset, epoch: o.epoch, ...(o.recovered !== undefined ? { recovered: o.recovered } : {}) } };
    case 'unsubscribed':
      if (checkPublishChannel(o.channel) !== undefined || (o.error !== undefined && typeof o.error !== 'string')) return fail('unsubscribed: malformed');
      return { ok: true, frame: o.error === undefined ? { op: 'unsubscribed', channel: o.channel as string } : { op: 'unsubscribed', channel: o.channel as string, error: o.error as string } };
    case 'reconnect':
      if (!isSeq(o.delayMs) || typeof o.reason !== 'string') return fail('reconnect: malformed');
      return { ok: true, frame: { op: 'reconnect', delayMs: o.delayMs, reason: o.reason } };
    case 'error':
      if (!isSeq(o.code) || typeof o.name !== 'string' || typeof o.message !== 'string') return fail('error: malformed');
      return { ok: true, frame: { op: 'error', code: o.code, name: o.name, message: o.message } };
    case 'refreshed':
      if ((o.expiresInMs === undefined) === (o.error === undefined)) return fail('refreshed: exactly one of expiresInMs and error');
      if (o.expiresInMs !== undefined && !isSeq(o.expiresInMs)) return fail('refreshed: malformed expiresInMs');
      if (o.error !== undefined && typeof o.error !== 'string') return fail('refreshed: malformed error');
      return { ok: true, frame: o.error === undefined ? { op: 'refreshed', expiresInMs: o.expiresInMs as number } : { op: 'refreshed', error: o.error as string } };
    case 'sent':
      if (typeof o.id !== 'string' || (o.error !== undefined && typeof o.error !== 'string')) return fail('sent: malformed');
      return { ok: true, frame: o.error === undefined ? { op: 'sent', id: o.id } : { op: 'sent', id: o.id, error: o.error } };
    case 'reply':
      if (typeof o.id !== 'string') return fail('reply: malformed id');
      if (('data' in o) === (o.error !== undefined)) return fail('reply: exactly one of data and error');
      if (o.error !== undefined) {
        if (typeof o.error !== 'string' || (o.message !== undefined && typeof o.message !== 'string')) return fail('reply: malformed error');
        return { ok: true, frame: { op: 'reply', id: o.id, error: o.error, ...(o.message !== undefined ? { message: o.message as string } : {}) } };
      }
      if (!withinDepth(o.data, MAX_DATA_DEPTH)) return fail(`reply.data nests deeper than ${MAX_DATA_DEPTH} levels`);
      return { ok: true, frame: { op: 'reply', id: o.id, data: o.data } };
    default:
      return fail(typeof o.op === 'string' ? `unknown op "${o.op.slice(0, 32)}"` : 'missing op');
  }
}

function decodeServerBinary(b: Uint8Array): Decoded<ServerFrame> {
  if (b.length === 0) return fail('empty binary frame');
  if (b[0] !== BinaryOp.HEARTBEAT_ACK) return fail(`unknown binary op 0x${b[0]!.toString(16).padStart(2, '0')}`);
  if (b.length === 1) return { ok: true, frame: { op: 'heartbeat_ack' } };
  const flags = b[1]!;
  if (flags === 0 || (flags & ~(AckFlag.SEQ | AckFlag.INTERVAL | AckFlag.UNREAD)) !== 0) return fail('heartbeat_ack: bad flags');
  const frame: HeartbeatAckFrame = { op: 'heartbeat_ack' };
  let off = 2;
  for (const [flag, key] of [[AckFlag.SEQ, 'seq'], [AckFlag.INTERVAL, 'intervalMs'], [AckFlag.UNREAD, 'unread']] as const) {
    if ((flags & flag) === 0) continue;
    const v = readVarint(b, off);
    if (!v) return fail(`heartbeat_ack: malformed ${key}`);
    frame[key] = v.value;
    off = v.next;
  }
  if (off !== b.length) return fail('heartbeat_ack: trailing bytes');
  return { ok: true, frame };
}
