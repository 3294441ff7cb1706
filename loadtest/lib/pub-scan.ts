/**
 * A lean reader of channel message frames for load generators: finds a pub
 * frame's channel and offset in the received bytes without decoding the
 * frame (no UTF-8 string, no JSON.parse, no objects), which is most of what
 * a bench client spends per receipt otherwise.
 *
 * The frame's shape comes from the protocol module, not from a copy here:
 * HEAD and MID are cut out of what `encodePubRaw` (the gateways' encoder)
 * produces, so if the encoder changes, so does this. A frame that does not
 * have exactly that shape (another op, a field order or escape this scanner
 * does not expect) is not a match, and the caller hands it to the real
 * decoder (`decodeServerFrame`): the lean path is an optimisation, never a
 * second definition of the protocol. Channel names are ASCII without quotes
 * or backslashes (identifiers.ts), so their JSON form is their bytes.
 * tests/loadtest/lean-client.test.ts checks the scanner against the decoder.
 */
import { encodePubRaw } from '../../protocol/index.js';

const SAMPLE = encodePubRaw('C', 7, 'E', 'I', 1, '0');
/** `{"op":"pub","channel":"`: everything before the channel name. */
export const PUB_HEAD = Buffer.from(SAMPLE.slice(0, SAMPLE.indexOf('C')), 'latin1');
/** `","offset":`: from the channel's closing quote to the offset's digits. */
export const PUB_MID = Buffer.from(SAMPLE.slice(SAMPLE.indexOf('C') + 1, SAMPLE.indexOf('7')), 'latin1');
/** What follows the offset's digits. */
const AFTER_OFFSET = SAMPLE.charCodeAt(SAMPLE.indexOf('7') + 1);
const QUOTE = 0x22, BACKSLASH = 0x5c, CLOSE_BRACE = 0x7d;

/** Where a matched frame's channel name is (`buf[channelStart, channelEnd)`) and its offset. Reused by the caller. */
export interface PubScan { channelStart: number; channelEnd: number; offset: number }

/**
 * True, with `out` filled, when `buf[start, end)` is a pub frame in the
 * encoder's shape; false for anything else (then decode it properly).
 */
export function scanPub(buf: Uint8Array, start: number, end: number, out: PubScan): boolean {
  const head = PUB_HEAD.length, mid = PUB_MID.length;
  if (end - start < head + mid + 4 || buf[end - 1] !== CLOSE_BRACE) return false;
  for (let i = 0; i < head; i++) if (buf[start + i] !== PUB_HEAD[i]) return false;
  let p = start + head;
  const channelStart = p;
  for (;; p++) {
    if (p >= end) return false;
    const c = buf[p]!;
    if (c === QUOTE) break;
    if (c === BACKSLASH) return false;
  }
  if (p === channelStart) return false;
  const channelEnd = p;
  // PUB_MID starts with the closing quote.
  for (let i = 0; i < mid; i++) if (buf[p + i] !== PUB_MID[i]) return false;
  p += mid;
  let offset = 0, digits = 0;
  for (; p < end; p++, digits++) {
    const c = buf[p]! - 0x30;
    if (c < 0 || c > 9) break;
    offset = offset * 10 + c;
  }
  if (digits === 0 || digits > 16 || offset > Number.MAX_SAFE_INTEGER || buf[p] !== AFTER_OFFSET) return false;
  out.channelStart = channelStart;
  out.channelEnd = channelEnd;
  out.offset = offset;
  return true;
}

/** Whether `buf[start, end)` holds exactly the bytes of `name` (ASCII). */
export function bytesEqual(buf: Uint8Array, start: number, end: number, name: Uint8Array): boolean {
  if (end - start !== name.length) return false;
  for (let i = 0; i < name.length; i++) if (buf[start + i] !== name[i]) return false;
  return true;
}
