/**
 * Unsigned LEB128 varints for the binary control frames (heartbeat, heartbeat
 * ack, ack). Values are JavaScript safe integers (0 … 2^53-1), so a varint is
 * at most 8 bytes. Arithmetic uses multiplication rather than bit shifts
 * because shifts truncate to 32 bits.
 */

export const MAX_VARINT_BYTES = 8;

/**
 * Encoders accept only what the decoder can read back: a safe non-negative
 * integer. Anything else used to loop forever (Infinity) or silently write a
 * byte the peer rejects (negative, fractional, > 2^53-1), so fail loudly at the
 * source instead.
 */
function checkValue(value: number): void {
  if (!Number.isSafeInteger(value) || value < 0) {
    throw new RangeError(`varint value must be a safe non-negative integer, got ${String(value)}`);
  }
}

/** Number of bytes `value` takes as a varint. Throws RangeError unless `value` is a safe non-negative integer. */
export function varintLength(value: number): number {
  checkValue(value);
  let n = 1;
  while (value >= 0x80) {
    value = Math.floor(value / 128);
    n++;
  }
  return n;
}

/**
 * Writes `value` at `offset`; returns the offset after it. Caller sizes the
 * buffer. Throws RangeError unless `value` is a safe non-negative integer.
 */
export function writeVarint(buf: Uint8Array, offset: number, value: number): number {
  checkValue(value);
  while (value >= 0x80) {
    buf[offset++] = (value % 128) | 0x80;
    value = Math.floor(value / 128);
  }
  buf[offset++] = value;
  return offset;
}

/**
 * Reads a varint at `offset`. Returns the value and the next offset, or
 * `undefined` when the bytes are truncated, longer than 8 bytes, or the value
 * is not a safe integer. Never throws.
 */
export function readVarint(buf: Uint8Array, offset: number): { value: number; next: number } | undefined {
  let value = 0;
  let scale = 1;
  for (let i = 0; i < MAX_VARINT_BYTES; i++) {
    const pos = offset + i;
    if (pos >= buf.length) return undefined;
    const byte = buf[pos]!;
    value += (byte & 0x7f) * scale;
    if ((byte & 0x80) === 0) {
      if (!Number.isSafeInteger(value)) return undefined;
      // Reject non-minimal encodings (trailing 0x00 continuation) so each value has one form.
      if (i > 0 && byte === 0) return undefined;
      return { value, next: pos + 1 };
    }
    scale *= 128;
  }
  return undefined;
}
