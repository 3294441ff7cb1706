/**
 * The message-bus contract between gateways, routers and backends. Its
 * semantics are NATS core semantics, so the NATS adapter is a thin mapping
 * and the in-memory adapter (standalone mode) behaves the same:
 *  - subjects are dot-separated tokens; `*` matches one token, `>` the rest;
 *  - a subscription with a queue group shares messages with the other
 *    members of that group (each message goes to one member);
 *  - delivery is asynchronous and at-most-once; publish never throws on a
 *    missing subscriber;
 *  - request() resolves with the first reply, or rejects with BusTimeoutError
 *    or BusNoRespondersError (NATS also: BusPermissionError).
 * The same contract suite (tests/contract/bus.contract.ts) runs against every adapter.
 */

export type Headers = Record<string, string>;

/** Header-safe characters: visible ASCII except `%`. */
const HEADER_SAFE = /^[\x21-\x24\x26-\x7e]*$/;
const HEADER_SAFE_CHAR = /^[\x21-\x24\x26-\x7e]$/;
let utf8: TextEncoder | undefined;

/**
 * A header value built from client-controlled text (user, device ids):
 * visible ASCII other than `%` passes as is, every other character is
 * percent-encoded as its UTF-8 bytes (decodeURIComponent reverses it). So a
 * control character, a space or CR/LF never reaches a NATS header raw, and
 * plain ids read the same as before.
 */
export function headerValue(s: string): string {
  if (HEADER_SAFE.test(s)) return s;
  let out = '';
  for (const ch of s) {
    if (HEADER_SAFE_CHAR.test(ch)) { out += ch; continue; }
    for (const b of (utf8 ??= new TextEncoder()).encode(ch)) out += '%' + b.toString(16).toUpperCase().padStart(2, '0');
  }
  return out;
}

export interface BusMessage {
  readonly subject: string;
  readonly data: Uint8Array;
  readonly headers: Headers | undefined;
  /** Set on requests: pass the message to `respond`. */
  readonly reply: string | undefined;
}

export interface Subscription {
  unsubscribe(): void;
}

export interface Bus {
  publish(subject: string, data: Uint8Array, headers?: Headers): void;
  /**
   * False when a message published on `subject` now would reach no one, so
   * the publisher may skip building it. Only an in-process bus can know (a
   * standalone router publishes an offline notice per offline recipient,
   * 100,000 for a maximum batch, usually to no subscriber); a network bus
   * leaves it out, which means "maybe".
   */
  interested?(subject: string): boolean;
  subscribe(subject: string, handler: (msg: BusMessage) => void, opts?: { queue?: string }): Subscription;
  request(subject: string, data: Uint8Array, opts: { timeoutMs: number; headers?: Headers }): Promise<BusMessage>;
  respond(to: BusMessage, data: Uint8Array, headers?: Headers): void;
  /**
   * A bus that sends what a turn published together at the end of the turn
   * (nats-bus.ts) hands it to its connection now instead, synchronously.
   * For a publisher whose own end-of-turn batch just went out (the router's
   * coalesced deliveries): without it that batch would wait for the next
   * loop iteration, one more wake-up and a later write. Order is kept (the
   * queue is handed over in publish order). Absent: the bus sends at once.
   */
  handOver?(): void;
  /** Resolves when everything published so far has been handed to the server (or subscribers). */
  flush(): Promise<void>;
  close(): Promise<void>;
}

export class BusTimeoutError extends Error {
  constructor(subject: string, ms: number) {
    super(`no reply on ${subject} within ${ms} ms`);
    this.name = 'BusTimeoutError';
  }
}

export class BusNoRespondersError extends Error {
  constructor(subject: string) {
    super(`no responders on ${subject}`);
    this.name = 'BusNoRespondersError';
  }
}

/**
 * The server refused the request: its publish to `subject`, or the reply
 * subscription (operation "subscription"), is denied by the connection's
 * permissions (NATS only; the in-memory bus has none). Reported at once,
 * not as a timeout.
 */
export class BusPermissionError extends Error {
  constructor(readonly subject: string, readonly operation: 'publish' | 'subscription', detail: string) {
    super(`request on ${subject} refused: ${detail}`);
    this.name = 'BusPermissionError';
  }
}

const enc = new TextEncoder();
const dec = new TextDecoder();

/** Bus payloads between Longlink services are JSON. */
export function encodeMsg(value: unknown): Uint8Array {
  return enc.encode(JSON.stringify(value));
}

/** Decodes a JSON payload; returns undefined for malformed input (callers count and drop it). */
export function decodeMsg<T>(data: Uint8Array): T | undefined {
  try {
    return JSON.parse(dec.decode(data)) as T;
  } catch {
    return undefined;
  }
}

/** NATS subject matching: `*` one token, `>` one or more trailing tokens. */
export function subjectMatches(pattern: string, subject: string): boolean {
  if (pattern === subject) return true;
  const p = pattern.split('.');
  const s = subject.split('.');
  for (let i = 0; i < p.length; i++) {
    const t = p[i];
    if (t === '>') return s.length > i;
    if (i >= s.length) return false;
    if (t !== '*' && t !== s[i]) return false;
  }
  return p.length === s.length;
}
