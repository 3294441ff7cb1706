/**
 * Deterministic fuzzer for the wire-protocol decoders, shared by the unit test
 * (tests/unit/protocol-fuzz.test.ts, ~100k cases) and the benchmark
 * (loadtest/bench/fuzz.ts, `npm run bench:fuzz`, millions of cases).
 *
 * Every case is one input (payload + WebSocket opcode) fed to BOTH decoders,
 * decodeClientFrame (what the gateway runs on client bytes) and
 * decodeServerFrame (what the SDK runs on gateway bytes). A "crash" is any
 * broken contract:
 *  - the decoder threw (the contract is: never throw, whatever the input);
 *  - the result is not `{ok:true, frame}` or `{ok:false, code, reason}` with
 *    `code` a defined close code and `reason` a non-empty string that fits a
 *    WebSocket close reason (≤ 123 UTF-8 bytes);
 *  - an accepted frame does not survive a round trip: re-encoding must not
 *    throw, must decode again, and must re-encode to the same wire form; a
 *    binary input must re-encode to exactly the input bytes (the binary
 *    encoding is canonical: minimal varints, exact flags, no trailing bytes);
 *    a push must encode identically through encodePushRaw and encodeJson;
 *  - a text frame decodes differently as bytes (gateway) and as a string
 *    (browser SDK).
 */
import {
  closeCodeInfo, decodeClientFrame, decodeServerFrame,
  encodeAck, encodeHeartbeat, encodeHeartbeatAck, encodeJson, encodePushRaw,
  type ClientFrame, type Decoded, type ServerFrame,
} from '../../protocol/index.js';
import { GENERATORS, generateCase, type FuzzCase } from './fuzz-gen.js';

export { caseSeed, generateCase, type FuzzCase } from './fuzz-gen.js';
export { Rand } from '../lib/rand.js';

export type Decoder<T> = (data: ArrayBuffer | Uint8Array | string, isBinary: boolean) => Decoded<T>;

export interface FuzzOptions {
  seed: number;
  cases: number;
  /** Case index to start at (to replay one case: `{ start: i, cases: 1 }`). */
  start?: number;
  /** Crashes to keep as samples; the count covers all of them. */
  maxSamples?: number;
  /** Swappable for the engine's own tests (a decoder that throws must be caught). */
  decoders?: { client?: Decoder<ClientFrame>; server?: Decoder<ServerFrame> };
}

export interface CrashSample {
  index: number;
  gen: string;
  side: 'client' | 'server';
  isBinary: boolean;
  /** The input as hex (binary payloads) or JSON-quoted text, cut to 200 characters. */
  input: string;
  problem: string;
}

export interface GenStats { cases: number; accepted: number; rejected: number; crashes: number }

export interface FuzzReport {
  seed: number;
  cases: number;
  crashes: number;
  elapsedMs: number;
  casesPerSec: number;
  /** Per generator. accepted + rejected = 2 × cases (both decoders run on each case). */
  byGen: Record<string, GenStats>;
  /** How often each op was accepted, per side, e.g. `client:send`. */
  accepted: Record<string, number>;
  /** How often each close code was returned on rejection. */
  rejected: Record<number, number>;
  samples: CrashSample[];
}

type Wire = { isBinary: true; data: Uint8Array } | { isBinary: false; data: string };

function sameWire(a: Wire, b: Wire): boolean {
  if (a.isBinary !== b.isBinary) return false;
  if (!a.isBinary || !b.isBinary) return a.data === b.data;
  return a.data.length === b.data.length && a.data.every((x, i) => x === b.data[i]);
}

function encodeClient(f: ClientFrame): Wire {
  switch (f.op) {
    case 'heartbeat': return { isBinary: true, data: encodeHeartbeat(f.intervalMs) };
    case 'ack': return { isBinary: true, data: encodeAck(f.seq) };
    case 'send':
    case 'refresh':
    case 'recover': return { isBinary: false, data: encodeJson(f) };
  }
}

function encodeServer(f: ServerFrame): Wire {
  if (f.op === 'heartbeat_ack') {
    const { op: _op, ...fields } = f;
    return { isBinary: true, data: encodeHeartbeatAck(fields) };
  }
  const json = encodeJson(f);
  if (f.op === 'push' && encodePushRaw(f.seq, f.id, f.ts, JSON.stringify(f.data), f.epoch) !== json) {
    throw new Error('encodePushRaw differs from encodeJson');
  }
  return { isBinary: false, data: json };
}

const utf8 = new TextEncoder();
const strictUtf8 = new TextDecoder('utf-8', { fatal: true, ignoreBOM: true });

/** Checks the result's shape; returns a problem description or undefined. */
function shapeProblem(r: unknown): string | undefined {
  if (typeof r !== 'object' || r === null) return 'result is not an object';
  const o = r as Record<string, unknown>;
  if (o.ok === true) {
    const f = o.frame as Record<string, unknown> | null | undefined;
    return typeof f === 'object' && f !== null && typeof f.op === 'string' ? undefined : 'ok result without a frame';
  }
  if (o.ok !== false) return 'result.ok is not boolean';
  if (typeof o.code !== 'number' || closeCodeInfo(o.code) === undefined) return `undefined close code ${String(o.code)}`;
  if (typeof o.reason !== 'string' || o.reason.length === 0) return 'empty reason';
  if (utf8.encode(o.reason).length > 123) return `reason longer than 123 UTF-8 bytes: ${o.reason.slice(0, 60)}`;
  return undefined;
}

/**
 * Runs one decoder on one input and checks every contract. Returns the
 * decoded result (for stats) and a problem, if any.
 */
function checkSide<T extends { op: string }>(
  decode: Decoder<T>, encode: (f: T) => Wire, data: Uint8Array | string, isBinary: boolean,
): { result?: Decoded<T>; problem?: string } {
  let result: Decoded<T>;
  try {
    result = decode(data, isBinary);
  } catch (e) {
    return { problem: `threw ${e instanceof Error ? `${e.name}: ${e.message}` : String(e)}` };
  }
  const shape = shapeProblem(result);
  if (shape) return { problem: shape };

  // The same text must decode the same way as bytes and as a string.
  if (!isBinary && typeof data !== 'string') {
    let text: string | undefined;
    try { text = strictUtf8.decode(data); } catch { text = undefined; }
    if (text !== undefined) {
      const again = safeDecode(decode, text, false);
      if (typeof again === 'string') return { result, problem: `string form ${again}` };
      if (again.ok !== result.ok || (!again.ok && !result.ok && again.code !== result.code)) {
        return { result, problem: 'bytes and string forms of the same text decode differently' };
      }
    }
  }
  if (!result.ok) return { result };

  try {
    const w1 = encode(result.frame);
    if (isBinary && typeof data !== 'string' && !sameWire(w1, { isBinary: true, data })) {
      return { result, problem: 'binary frame did not re-encode to its input bytes' };
    }
    const again = safeDecode(decode, w1.data, w1.isBinary);
    if (typeof again === 'string') return { result, problem: `re-decode ${again}` };
    if (!again.ok) return { result, problem: `re-encoded frame rejected: ${again.reason}` };
    if (again.frame.op !== result.frame.op) return { result, problem: 'op changed in round trip' };
    if (!sameWire(encode(again.frame), w1)) return { result, problem: 'round trip is not a fixed point' };
  } catch (e) {
    return { result, problem: `round trip threw ${e instanceof Error ? e.message : String(e)}` };
  }
  return { result };
}

function safeDecode<T>(decode: Decoder<T>, data: Uint8Array | string, isBinary: boolean): Decoded<T> | string {
  try {
    const r = decode(data, isBinary);
    return shapeProblem(r) ?? r;
  } catch (e) {
    return `threw ${e instanceof Error ? e.message : String(e)}`;
  }
}

function preview(c: FuzzCase): string {
  if (typeof c.data === 'string') return JSON.stringify(c.data.slice(0, 200));
  return Buffer.from(c.data.subarray(0, 100)).toString('hex');
}

/** Runs `cases` cases from `start` and reports. Deterministic for a given seed, except for timings. */
export function runFuzz(opts: FuzzOptions): FuzzReport {
  const client = opts.decoders?.client ?? decodeClientFrame;
  const server = opts.decoders?.server ?? decodeServerFrame;
  const maxSamples = opts.maxSamples ?? 10;
  const start = opts.start ?? 0;
  const byGen: Record<string, GenStats> = {};
  for (const g of GENERATORS) byGen[g.name] = { cases: 0, accepted: 0, rejected: 0, crashes: 0 };
  const accepted: Record<string, number> = {};
  const rejected: Record<number, number> = {};
  const samples: CrashSample[] = [];
  let crashes = 0;

  const t0 = performance.now();
  for (let i = start; i < start + opts.cases; i++) {
    const c = generateCase(opts.seed, i);
    const stats = byGen[c.gen] ?? (byGen[c.gen] = { cases: 0, accepted: 0, rejected: 0, crashes: 0 });
    stats.cases++;
    const sides = [
      ['client', checkSide(client, encodeClient, c.data, c.isBinary)],
      ['server', checkSide(server, encodeServer, c.data, c.isBinary)],
    ] as const;
    for (const [side, { result, problem }] of sides) {
      if (result?.ok) {
        stats.accepted++;
        const key = `${side}:${result.frame.op}`;
        accepted[key] = (accepted[key] ?? 0) + 1;
      } else if (result) {
        stats.rejected++;
        rejected[result.code] = (rejected[result.code] ?? 0) + 1;
      }
      if (problem !== undefined) {
        crashes++;
        stats.crashes++;
        if (samples.length < maxSamples) samples.push({ index: i, gen: c.gen, side, isBinary: c.isBinary, input: preview(c), problem });
      }
    }
  }
  const elapsedMs = performance.now() - t0;
  return {
    seed: opts.seed, cases: opts.cases, crashes, elapsedMs,
    casesPerSec: opts.cases / Math.max(elapsedMs / 1000, 1e-9),
    byGen, accepted, rejected, samples,
  };
}
