/**
 * Input generators for the protocol fuzzer (see fuzz-engine.ts). Everything
 * here is a pure function of a seeded PRNG, so a case index and a seed
 * reproduce the exact same bytes on any machine.
 *
 * The generators aim at the decoders' edges rather than at uniform noise:
 * valid frames (so the success paths and round trips get exercised), small
 * mutations of valid frames (so the failures are near-misses), frame-shaped
 * JSON with wrong types and hostile numbers, deep nesting around the
 * MAX_DATA_DEPTH bound, and raw bytes including invalid UTF-8.
 */
import {
  CLOSE_CODES, LIMITS, MAX_DATA_DEPTH, checkMessageId,
  encodeAck, encodeHeartbeat, encodeHeartbeatAck, encodeJson, encodePushRaw,
  type ClientFrame, type ServerFrame,
} from '../../protocol/index.js';
import { Rand } from '../lib/rand.js';

/** Seed for case `index` of a run: an avalanche hash, so neighbouring cases are unrelated. */
export function caseSeed(seed: number, index: number): number {
  let h = (seed ^ Math.imul(index, 0x9e3779b9)) >>> 0;
  h = Math.imul(h ^ (h >>> 16), 0x85ebca6b);
  h = Math.imul(h ^ (h >>> 13), 0xc2b2ae35);
  return (h ^ (h >>> 16)) >>> 0;
}

/** One input: what a WebSocket library hands the decoder (payload + opcode). */
export interface FuzzCase {
  gen: string;
  isBinary: boolean;
  data: Uint8Array | string;
}

const enc = new TextEncoder();
const lossy = new TextDecoder('utf-8'); // non-fatal: invalid bytes become U+FFFD

// ---- values ------------------------------------------------------------------

const CHAR_POOLS: readonly (readonly string[])[] = [
  'abcxyzABCXYZ0189._-', ' "\\/{}[]:,', '\u0000\u0001\u001f\u007f', 'éßñ€中文字',
  '\u{1F600}\u{1F680}', '\ud800', '\udfff', '\ufeff\u2028\u2029', '\ufffd',
].map((p) => Array.from(p));

/** A string drawn from awkward pools: quotes, controls, astral chars, lone surrogates, BOM. */
export function randString(r: Rand, maxLen: number): string {
  const n = r.int(maxLen + 1);
  let s = '';
  for (let i = 0; i < n; i++) {
    s += r.pick(r.chance(0.7) ? CHAR_POOLS[0]! : r.pick(CHAR_POOLS));
  }
  return s;
}

function randId(r: Rand): string {
  const n = r.chance(0.1) ? LIMITS.maxIdLength : r.range(1, 12);
  let s = '';
  for (let i = 0; i < n; i++) s += r.chance(0.9) ? String.fromCharCode(r.range(0x21, 0x7e)) : randString(r, 1) || 'x';
  s = s.slice(0, LIMITS.maxIdLength);
  // Valid frames carry valid ids (protocol/identifiers.ts); the mutators make the invalid ones.
  return checkMessageId(s) === undefined ? s : s.replace(/[^\x21-\x7e]/g, 'x') || 'x';
}

/** Words of A-Z a-z 0-9 _ - joined by single dots (protocol/identifiers.ts). */
function randTopic(r: Rand): string {
  const alphabet = 'abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_-';
  const n = r.chance(0.05) ? LIMITS.maxTopicLength : r.range(1, 20);
  let s = '';
  for (let i = 0; i < n; i++) s += i > 0 && i < n - 1 && s.at(-1) !== '.' && r.chance(0.15) ? '.' : alphabet[r.int(alphabet.length)];
  return s;
}

/** Interesting unsigned integers: varint byte boundaries and the safe-integer edge. */
export function randSeq(r: Rand): number {
  switch (r.int(4)) {
    case 0: return r.pick([0, 1, 127, 128, 16383, 16384, 2 ** 21 - 1, 2 ** 21, 2 ** 49, Number.MAX_SAFE_INTEGER]);
    case 1: return Math.floor(r.next() * Number.MAX_SAFE_INTEGER);
    default: return r.int(100_000);
  }
}

const NUMBERS: readonly number[] = [0, -1, 1.5, -0.25, 1e308, -1e308, 5e-324, 2 ** 53, 2 ** 53 + 2, 1e21, 42];

/** A random JSON value nested at most `depth` levels. */
export function randJson(r: Rand, depth: number): unknown {
  const kind = depth > 0 ? r.int(8) : r.int(5);
  switch (kind) {
    case 0: return null;
    case 1: return r.chance(0.5);
    case 2: return r.chance(0.5) ? r.pick(NUMBERS) : r.int(1000);
    case 3: case 4: return randString(r, 12);
    case 5: {
      const n = r.int(4);
      return Array.from({ length: n }, () => randJson(r, depth - 1));
    }
    default: {
      const o: Record<string, unknown> = {};
      const n = r.int(4);
      for (let i = 0; i < n; i++) {
        const key = r.chance(0.1) ? r.pick(['__proto__', 'constructor', 'op', '0', '']) : randString(r, 6);
        // defineProperty, not assignment: `o.__proto__ = x` would set the prototype, not a key.
        Object.defineProperty(o, key, { value: randJson(r, depth - 1), enumerable: true, writable: true, configurable: true });
      }
      return o;
    }
  }
}

/** `[[[…0…]]]` or `{"a":{"a":…}}` nested exactly `depth` levels. */
export function nested(depth: number, objects: boolean): string {
  return objects ? '{"a":'.repeat(depth) + '0' + '}'.repeat(depth) : '['.repeat(depth) + '0' + ']'.repeat(depth);
}

// ---- valid frames ------------------------------------------------------------

export function randClientFrame(r: Rand): ClientFrame {
  switch (r.int(4)) {
    case 0: return r.chance(0.5) ? { op: 'heartbeat' } : { op: 'heartbeat', intervalMs: r.range(LIMITS.minIntervalMs, LIMITS.maxIntervalMs) };
    case 1: return { op: 'ack', seq: randSeq(r) };
    case 2: return { op: 'refresh', token: randString(r, 300) || 'x' };
    default: {
      const f: ClientFrame = { op: 'send', id: randId(r), topic: randTopic(r), data: randJson(r, 3) };
      if (r.chance(0.3)) {
        f.reply = true;
        if (r.chance(0.5)) f.timeoutMs = r.range(LIMITS.minReplyTimeoutMs, LIMITS.maxReplyTimeoutMs);
      }
      return f;
    }
  }
}

export function randServerFrame(r: Rand): ServerFrame {
  switch (r.int(8)) {
    case 6: return r.chance(0.5) ? { op: 'reply', id: randId(r), data: randJson(r, 3) } : { op: 'reply', id: randId(r), error: randString(r, 24), ...(r.chance(0.5) ? { message: randString(r, 30) } : {}) };
    case 0: {
      const minMs = r.range(100, 10_000);
      return {
        op: 'hello', v: 1, session: randId(r), conn: randId(r), gateway: randString(r, 8), resumed: r.chance(0.5), seq: randSeq(r),
        hb: { minMs, maxMs: minMs * r.range(1, 100), intervalMs: minMs * 2, graceMs: r.int(10_000) },
        limits: { maxPayload: r.range(64, 1 << 24), ratePerSec: r.chance(0.8) ? r.range(1, 1000) : r.next() * 10, burst: r.range(1, 1000) },
        ...(r.chance(0.5) ? { tokenExpiresInMs: r.int(2 ** 31) } : {}),
        ...(r.chance(0.5) ? { epoch: randSeq(r) } : {}),
        ...(r.chance(0.2) ? { lost: { epoch: randSeq(r), afterSeq: randSeq(r) } } : {}),
      };
    }
    case 5: return r.chance(0.5) ? { op: 'refreshed', expiresInMs: r.int(2 ** 31) } : { op: 'refreshed', error: randString(r, 24) };
    case 1: {
      const f: ServerFrame = { op: 'heartbeat_ack' };
      if (r.chance(0.5)) f.seq = randSeq(r);
      if (r.chance(0.5)) f.intervalMs = r.range(LIMITS.minIntervalMs, LIMITS.maxIntervalMs);
      if (r.chance(0.5)) f.unread = randSeq(r);
      return f;
    }
    case 2: return { op: 'push', seq: randSeq(r), id: randId(r), ts: r.range(0, 2 ** 42), data: randJson(r, 4), ...(r.chance(0.5) ? { epoch: randSeq(r) } : {}) };
    case 3: return { op: 'reconnect', delayMs: r.int(60_000), reason: randString(r, 16) };
    case 4: {
      const c = r.pick(CLOSE_CODES);
      return { op: 'error', code: c.code, name: c.name, message: randString(r, 40) };
    }
    default: return r.chance(0.5) ? { op: 'sent', id: randId(r) } : { op: 'sent', id: randId(r), error: randString(r, 20) };
  }
}

/** The wire form a real peer would produce for a frame. */
export function wireOf(f: ClientFrame | ServerFrame, r: Rand): { isBinary: boolean; data: Uint8Array | string } {
  switch (f.op) {
    case 'heartbeat': return { isBinary: true, data: encodeHeartbeat(f.intervalMs) };
    case 'ack': return { isBinary: true, data: encodeAck(f.seq) };
    case 'heartbeat_ack': { const { op: _op, ...fields } = f; return { isBinary: true, data: encodeHeartbeatAck(fields) }; }
    case 'push':
      if (r.chance(0.5)) return { isBinary: false, data: encodePushRaw(f.seq, f.id, f.ts, JSON.stringify(f.data), f.epoch) };
      return { isBinary: false, data: encodeJson(f) };
    default: return { isBinary: false, data: encodeJson(f) };
  }
}

function validFrame(r: Rand): { isBinary: boolean; data: Uint8Array | string } {
  return wireOf(r.chance(0.4) ? randClientFrame(r) : randServerFrame(r), r);
}

function bytesOf(data: Uint8Array | string): Uint8Array {
  return typeof data === 'string' ? enc.encode(data) : data;
}

// ---- generators --------------------------------------------------------------

const BOM = Uint8Array.of(0xef, 0xbb, 0xbf);
const INTERESTING_BYTES: readonly number[] = [0x00, 0x01, 0x02, 0x03, 0x7f, 0x80, 0xff, 0x22, 0x5c, 0x7b, 0x7d, 0xc0, 0xed, 0xef, 0xf4];

function randomBytes(r: Rand, n: number): Uint8Array {
  const b = new Uint8Array(n);
  for (let i = 0; i < n; i++) b[i] = r.chance(0.3) ? r.pick(INTERESTING_BYTES) : r.int(256);
  return b;
}

/** Byte-level mutations of a valid frame: each round applies one operator. */
function mutate(r: Rand, input: Uint8Array): Uint8Array {
  let b: Uint8Array = input.slice();
  for (let rounds = r.range(1, 4); rounds > 0; rounds--) {
    const at = r.int(b.length + 1);
    switch (r.int(8)) {
      case 0: if (b.length > 0) { const i = r.int(b.length); b[i] = b[i]! ^ (1 << r.int(8)); } break; // bit flip
      case 1: b = b.subarray(0, r.int(b.length + 1)); break; // truncate
      case 2: { const e = randomBytes(r, r.range(1, 8)); const n = new Uint8Array(b.length + e.length); n.set(b); n.set(e, b.length); b = n; break; } // extend
      case 3: { const n = new Uint8Array(b.length + 1); n.set(b.subarray(0, at)); n[at] = r.pick(INTERESTING_BYTES); n.set(b.subarray(at), at + 1); b = n; break; } // insert
      case 4: if (at < b.length) { const n = new Uint8Array(b.length - 1); n.set(b.subarray(0, at)); n.set(b.subarray(at + 1), at); b = n; } break; // delete
      case 5: if (b.length > 0) b[r.int(b.length)] = r.pick(INTERESTING_BYTES); break; // overwrite
      case 6: { const n = new Uint8Array(b.length + 3); n.set(BOM); n.set(b, 3); b = n; break; } // UTF-8 byte order mark
      default: { // splice: our prefix + another valid frame's suffix
        const other = bytesOf(validFrame(r).data);
        const cut = r.int(other.length + 1);
        const n = new Uint8Array(at + other.length - cut);
        n.set(b.subarray(0, at)); n.set(other.subarray(cut), at); b = n;
      }
    }
  }
  return b;
}

const OPS: readonly string[] = ['hello', 'push', 'reconnect', 'error', 'sent', 'reply', 'heartbeat_ack', 'send', 'heartbeat', 'ack', 'Hello', 'push ', '', 'toString', '__proto__'];
/** Raw JSON tokens that JSON.stringify never produces: overflow, -0, precision loss, non-JSON. */
const RAW_TOKENS: readonly string[] = ['1e400', '-1e400', '-0', '0.0', '1E2', '9007199254740993', '1e-400', '01', '.5', 'NaN', 'Infinity', '"\\ud800"', '"\\u0000"', '[]', '{}', 'true', 'null', '"1"', '1.5'];

/** A valid frame object with one or more fields broken: removed, retyped, or replaced by a raw token. */
function wrongTypes(r: Rand): string {
  const frame = (r.chance(0.3) ? randClientFrame(r) : randServerFrame(r)) as unknown as Record<string, unknown>;
  const raws: string[] = [];
  const nested = frame.op === 'hello' ? ['hb', 'limits', ...(frame.lost !== undefined ? ['lost'] : [])] : [];
  const target = nested.length > 0 && r.chance(0.5) ? (frame[r.pick(nested)] as Record<string, unknown>) : frame;
  for (let n = r.range(1, 3); n > 0; n--) {
    const keys = Object.keys(target);
    const key = r.chance(0.85) && keys.length > 0 ? r.pick(keys) : randString(r, 4);
    switch (r.int(5)) {
      case 0: delete target[key]; break;
      case 1: target[key] = randJson(r, 2); break;
      case 2: target[key] = key === 'op' ? (r.chance(0.5) ? r.pick(OPS) : randString(r, 40)) : r.pick([null, true, '7', [], {}, -1, 0.5, 2 ** 53]); break;
      default: raws.push(r.pick(RAW_TOKENS)); target[key] = `\u0000RAW${raws.length - 1}`; break;
    }
  }
  let text = JSON.stringify(frame);
  raws.forEach((tok, i) => { text = text.replace(JSON.stringify(`\u0000RAW${i}`), tok); });
  return text;
}

/** send/push whose data nests around MAX_DATA_DEPTH, occasionally far beyond (JSON.stringify's stack limit). */
function deepNesting(r: Rand): string {
  const depth = r.chance(0.01) ? r.pick([5_000, 20_000]) : r.range(MAX_DATA_DEPTH - 3, MAX_DATA_DEPTH + 3);
  const data = nested(depth, r.chance(0.5));
  switch (r.int(3)) {
    case 0: return `{"op":"send","id":"d","topic":"t","data":${data}}`;
    case 1: return encodePushRaw(1, 'd', 1, data);
    default: return `{"op":"hello","v":1,"x":${data}}`;
  }
}

/** Loose JSON-like text: unbalanced brackets, duplicate keys, stray commas. */
function jsonish(r: Rand): string {
  const parts: string[] = ['{"op":' + JSON.stringify(r.pick(OPS))];
  for (let n = r.int(6); n > 0; n--) {
    parts.push(r.pick([',', ',,', ':', '"op":"push"', '"seq":' + r.pick(RAW_TOKENS), '"data":' + r.pick(RAW_TOKENS), '"id":"x"', '[', ']', '{', '}', ' ', '"\\x"']));
  }
  if (r.chance(0.7)) parts.push('}');
  return parts.join('');
}

/** Each generator, by name, with its relative weight. Names appear in the bench table. */
export const GENERATORS: ReadonlyArray<{ name: string; weight: number; make: (r: Rand) => FuzzCase }> = [
  { name: 'valid', weight: 12, make: (r) => ({ gen: 'valid', ...validFrame(r) }) },
  {
    name: 'mutated', weight: 30, make: (r) => {
      const v = validFrame(r);
      const b = mutate(r, bytesOf(v.data));
      const isBinary = r.chance(0.05) ? !v.isBinary : v.isBinary;
      // Text frames reach the decoder as bytes (gateway) or as a string (browser SDK).
      return { gen: 'mutated', isBinary, data: !isBinary && r.chance(0.3) ? lossy.decode(b) : b };
    },
  },
  { name: 'random-binary', weight: 10, make: (r) => ({ gen: 'random-binary', isBinary: true, data: randomBytes(r, r.chance(0.5) ? r.int(4) : r.int(40)) }) },
  { name: 'random-text', weight: 6, make: (r) => ({ gen: 'random-text', isBinary: false, data: r.chance(0.5) ? randomBytes(r, r.int(40)) : randString(r, 30) }) },
  { name: 'wrong-types', weight: 25, make: (r) => ({ gen: 'wrong-types', isBinary: r.chance(0.03), data: r.chance(0.5) ? wrongTypes(r) : enc.encode(wrongTypes(r)) }) },
  { name: 'jsonish', weight: 8, make: (r) => ({ gen: 'jsonish', isBinary: false, data: jsonish(r) }) },
  { name: 'deep', weight: 3, make: (r) => ({ gen: 'deep', isBinary: false, data: r.chance(0.5) ? deepNesting(r) : enc.encode(deepNesting(r)) }) },
  { name: 'random-json', weight: 6, make: (r) => ({ gen: 'random-json', isBinary: false, data: JSON.stringify(randJson(r, 4)) }) },
];

const TOTAL_WEIGHT = GENERATORS.reduce((s, g) => s + g.weight, 0);

/** Case `index` of the run seeded with `seed`: deterministic and independent of every other case. */
export function generateCase(seed: number, index: number): FuzzCase {
  const r = new Rand(caseSeed(seed, index));
  let w = r.int(TOTAL_WEIGHT);
  for (const g of GENERATORS) {
    if (w < g.weight) return g.make(r);
    w -= g.weight;
  }
  return GENERATORS[0]!.make(r);
}
