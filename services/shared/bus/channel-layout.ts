/**
 * The two layouts of a channel message on P.ch.<channel> (docs/protocol.md
 * §13.6), and the gateway's reading of either.
 *
 * - `record` (every router before this layout, and the default): the JSON
 *   of a ChannelMessage, `{"channel":…,"offset":…,"epoch":…,"id":…,"ts":…,
 *   "data":"<data as a JSON string>"}`. A gateway decodes it (UTF-8 and
 *   JSON.parse of the whole message, data included) and encodes the client's
 *   pub frame from it once per message.
 * - `frame`: one marker byte (`#`, FRAME_MARKER), then the bytes of the
 *   client's pub frame itself, exactly as `encodePubRaw` writes it. A gateway
 *   reads the channel, offset and epoch from the frame's fixed prefix and
 *   hands the frame's bytes to the native topic publish: no decode, no
 *   encode, no string (the marker is left out of the copy it keeps anyway).
 *
 * Gateways read both (a message starting with the pub frame's prefix is a
 * frame, anything else a record); routers write `record` unless configured
 * (LONGLINK_CHANNEL_BUS_LAYOUT=frame), so a fleet upgrades gateways first and
 * switches routers after. The marker makes a `frame` message invalid JSON,
 * so a gateway from before this layout drops it as malformed (counted, not
 * delivered) whatever its data: without it, a frame whose data is a JSON
 * string passed the old gateway's record check, and the old gateway copied
 * that string unquoted into the client frame (broken JSON that ends SDK
 * sessions, or publisher text read as extra keys). Dropping is still a loss
 * for that gateway's subscribers, which is why the switch comes second.
 */
import { encodePubRaw, isEpoch, LIMITS } from '../../../protocol/index.js';
import { decodeMsg, encodeMsg } from './bus.js';
import type { ChannelMessage } from './messages.js';

export type ChannelBusLayout = 'record' | 'frame';

/** A channel message as a gateway fans it out: its place in the channel and the client frame. */
export interface ChannelArrival {
  channel: string;
  offset: number;
  epoch: string;
  /** The client's pub frame: the bus bytes (`frame` layout, a copy of its own) or encoded once (`record`). */
  frame: string | Uint8Array;
}

const enc = new TextEncoder();
/** The `frame` layout's first byte: no JSON text starts with it, so older gateways refuse the message. */
const FRAME_MARKER_CHAR = '#';
export const FRAME_MARKER = 0x23;

/** The bus payload for `msg` in `layout`. */
export function encodeChannelMessage(msg: ChannelMessage, layout: ChannelBusLayout): Uint8Array {
  if (layout === 'record') return encodeMsg(msg);
  return enc.encode(FRAME_MARKER_CHAR + encodePubRaw(msg.channel, msg.offset, msg.epoch, msg.id, msg.ts, msg.data));
}

/** The arrival for a record (record layout, history reads, the in-process path). */
export function arrivalOfRecord(m: ChannelMessage): ChannelArrival {
  return { channel: m.channel, offset: m.offset, epoch: m.epoch, frame: encodePubRaw(m.channel, m.offset, m.epoch, m.id, m.ts, m.data) };
}

// The frame's fixed parts, cut from what encodePubRaw writes (so they follow the encoder).
const SAMPLE = encodePubRaw('C', 7, 'E', 'I', 1, '0');
/** `{"op":"pub","channel":`, then the channel's JSON string. */
const HEAD = enc.encode(SAMPLE.slice(0, SAMPLE.indexOf('"C"')));
const MID_OFFSET = enc.encode(SAMPLE.slice(SAMPLE.indexOf('"C"') + 3, SAMPLE.indexOf('7')));
const MID_EPOCH = enc.encode(SAMPLE.slice(SAMPLE.indexOf('7') + 1, SAMPLE.indexOf('"E"') + 1));
const AFTER_EPOCH = enc.encode(SAMPLE.slice(SAMPLE.indexOf('"E"') + 2, SAMPLE.indexOf('"I"')));
const QUOTE = 0x22, CLOSE_BRACE = 0x7d;

function matchAt(buf: Uint8Array, at: number, part: Uint8Array): boolean {
  if (at + part.length > buf.length) return false;
  for (let i = 0; i < part.length; i++) if (buf[at + i] !== part[i]) return false;
  return true;
}

/** Whether `data` is the `frame` layout: the marker, then the start of a pub frame. */
export function isFrameLayout(data: Uint8Array): boolean {
  return data[0] === FRAME_MARKER && matchAt(data, 1, HEAD);
}

/** What readFrame compares a frame's channel with: the name as encodePubRaw writes it (a JSON string, quotes included). */
export function channelNameBytes(channel: string): Uint8Array {
  return enc.encode(JSON.stringify(channel));
}

/**
 * Reads a `frame` layout message for `channel` (`name`: channelNameBytes(channel)):
 * undefined unless the prefix is the encoder's, the channel is this one, the
 * offset a positive safe integer and the epoch valid, and the frame ends with
 * `}`. The rest (id, ts, data) is the router's JSON and goes to clients as is.
 */
export function readFrame(data: Uint8Array, channel: string, name: Uint8Array): ChannelArrival | undefined {
  if (data.length < 1 + HEAD.length + name.length + 16 || data[data.length - 1] !== CLOSE_BRACE || !isFrameLayout(data)) return undefined;
  let p = 1 + HEAD.length;
  if (!matchAt(data, p, name)) return undefined;
  p += name.length;
  if (!matchAt(data, p, MID_OFFSET)) return undefined;
  p += MID_OFFSET.length;
  let offset = 0, digits = 0;
  for (; p < data.length; p++, digits++) {
    const d = data[p]! - 0x30;
    if (d < 0 || d > 9) break;
    offset = offset * 10 + d;
  }
  if (digits === 0 || digits > 16 || !Number.isSafeInteger(offset) || offset <= 0 || !matchAt(data, p, MID_EPOCH)) return undefined;
  p += MID_EPOCH.length;
  const start = p;
  while (p < data.length && data[p] !== QUOTE && p - start <= LIMITS.maxEpochLength) p++;
  if (data[p] !== QUOTE) return undefined;
  const epoch = String.fromCharCode.apply(null, data.subarray(start, p) as unknown as number[]);
  if (!isEpoch(epoch) || !matchAt(data, p, AFTER_EPOCH)) return undefined;
  // A copy without the marker: the bus's buffer is not ours to keep (the recent-message ring holds frames).
  return { channel, offset, epoch, frame: Uint8Array.prototype.slice.call(data, 1) };
}

/**
 * A record layout message for `channel`; undefined if malformed. A pub frame without the marker (what routers
 * built before the marker wrote as `frame`) is refused by its `op` key: read as a record, a frame whose data is a
 * JSON string would pass every field check and its string would reach clients unquoted.
 */
export function readRecord(data: Uint8Array, channel: string): ChannelArrival | undefined {
  const m = decodeMsg<ChannelMessage & { op?: unknown }>(data);
  if (m === undefined || m === null || m.op !== undefined || m.channel !== channel || !Number.isSafeInteger(m.offset) || m.offset <= 0 || typeof m.epoch !== 'string'
    || typeof m.id !== 'string' || typeof m.ts !== 'number' || typeof m.data !== 'string') return undefined;
  return arrivalOfRecord(m);
}

/** Either layout, told apart by the first bytes. */
export function readChannelMessage(data: Uint8Array, channel: string, name: Uint8Array): ChannelArrival | undefined {
  return isFrameLayout(data) ? readFrame(data, channel, name) : readRecord(data, channel);
}
