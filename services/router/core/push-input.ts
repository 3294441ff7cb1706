/**
 * The push API's input, validated once at the edge (HTTP body, bus push
 * request, or a PushRequest built in code) into a ValidPush: the only shape
 * the router core's push entry accepts, so nothing downstream checks again.
 *
 * Hand-written rather than a schema library: this runs once per push on the
 * router's hottest path. Messages name the field (`messages[1].users[0]: …`),
 * at most five per request, because a caller fixing a request needs nothing
 * else.
 *
 * A push is refused (400) if a conforming client would have to reject it:
 * `data` nesting deeper than the protocol's MAX_DATA_DEPTH. Stored, such a
 * push would be replayed to every device of the user on every resume.
 */
import { MAX_DATA_DEPTH, withinDepth } from '../../../protocol/codec.js';
import { checkMessageId, checkUserId } from '../../../protocol/identifiers.js';
import { Errors, type ErrorSpec } from '../../shared/errors.js';
import type { AwaitFor, PushRequest, RouterCoreOptions } from './router-types.js';

/** Longest a caller may wait for delivery receipts. */
export const MAX_AWAIT_MS = 30_000;

/** The limits a push is checked against (the core's options). */
export type PushLimits = Pick<RouterCoreOptions, 'maxUsersPerPush' | 'maxBatch' | 'maxPushBytes' | 'ackReceipts'>;

declare const validated: unique symbol;

/** A push that passed validation: distinct users, `data` serialised and within the size and depth limits. */
export interface ValidPush {
  readonly users: readonly string[];
  /** Serialised JSON. */
  readonly data: string;
  readonly id: string | undefined;
  readonly idempotencyKey: string | undefined;
  readonly awaitMs: number | undefined;
  /** With awaitMs: what to wait for (`delivered`: written to a socket; `acked`: a device acked it). */
  readonly awaitFor: AwaitFor | undefined;
  readonly [validated]: true;
}

export type PushInput = { kind: 'single'; push: ValidPush } | { kind: 'batch'; pushes: ValidPush[] };

export type InputResult<T> = { ok: true; value: T } | { ok: false; error: ErrorSpec; message: string };

const MAX_ISSUES = 5;

/** Collects `path: message` issues; the first error kind decides the status (413 only if every issue is a size issue). */
class Issues {
  readonly list: string[] = [];
  /** Every issue found, also those past MAX_ISSUES. */
  count = 0;
  tooLarge = true;
  add(path: string, message: string, size = false): void {
    this.count++;
    if (!size) this.tooLarge = false;
    if (this.list.length < MAX_ISSUES) this.list.push(`${path === '' ? 'body' : path}: ${message}`);
  }
  get full(): boolean { return this.list.length >= MAX_ISSUES; }
  result<T>(value: () => T): InputResult<T> {
    if (this.list.length === 0) return { ok: true, value: value() };
    return { ok: false, error: this.tooLarge ? Errors.API_TOO_LARGE : Errors.API_VALIDATION, message: this.list.join('; ') };
  }
}

const isObject = (v: unknown): v is Record<string, unknown> => typeof v === 'object' && v !== null && !Array.isArray(v);
const join = (base: string, key: string): string => (base === '' ? key : `${base}.${key}`);

/** Identifier rules from protocol/identifiers.ts: user ids, message ids and idempotency keys. */
function checkId(v: unknown, path: string, what: 'user id' | 'message id' | 'idempotency key', issues: Issues): v is string {
  const bad = what === 'user id' ? checkUserId(v) : checkMessageId(v);
  if (bad === undefined) return true;
  issues.add(path, `${bad} (${what})`);
  return false;
}

const KNOWN = new Set(['user', 'users', 'data', 'id', 'await_ms', 'await', 'idempotency_key']);
const AWAIT_FOR: readonly string[] = ['delivered', 'acked'] satisfies AwaitFor[];

/** One message in wire form (snake_case), or undefined with issues recorded. */
function message(m: unknown, at: string, limits: PushLimits, issues: Issues): ValidPush | undefined {
  if (!isObject(m)) { issues.add(at, 'must be a JSON object'); return undefined; }
  const before = issues.count;
  let unknown: string[] | undefined;
  // Own keys only, as Object.keys; the array is made only for a key that is not known.
  for (const k in m) if (!KNOWN.has(k) && Object.hasOwn(m, k)) (unknown ??= []).push(k);
  if (unknown !== undefined) issues.add(at, `Unrecognized key${unknown.length > 1 ? 's' : ''}: ${unknown.map((k) => JSON.stringify(k)).join(', ')}`);
  let users: string[] | undefined;
  if (m.user !== undefined) {
    if (checkId(m.user, join(at, 'user'), 'user id', issues)) users = [m.user];
  }
  if (m.users !== undefined) {
    const p = join(at, 'users');
    if (!Array.isArray(m.users)) issues.add(p, 'must be an array of user ids');
    else if (m.users.length < 1) issues.add(p, 'must list at least one user');
    else if (m.users.length > limits.maxUsersPerPush) issues.add(p, `must list at most ${limits.maxUsersPerPush} users`);
    else {
      let ok = true;
      // The path is built only for a bad id: a maximum batch checks 100,000 ids.
      for (let i = 0; i < m.users.length && !issues.full; i++) {
        const bad = checkUserId(m.users[i]);
        if (bad !== undefined) { issues.add(`${p}[${i}]`, `${bad} (user id)`); ok = false; }
      }
      if (ok) users = m.users as string[];
    }
  }
  if ((m.user === undefined) === (m.users === undefined)) issues.add(join(at, 'users'), 'give exactly one of "user" or "users"');
  if (m.id !== undefined) checkId(m.id, join(at, 'id'), 'message id', issues);
  if (m.idempotency_key !== undefined) checkId(m.idempotency_key, join(at, 'idempotency_key'), 'idempotency key', issues);
  const w = m.await_ms;
  if (w !== undefined) {
    const p = join(at, 'await_ms');
    if (typeof w !== 'number' || !Number.isFinite(w)) issues.add(p, 'must be a number of milliseconds');
    else if (!Number.isInteger(w)) issues.add(p, 'must be an integer (ms)');
    else if (w < 1) issues.add(p, 'must be at least 1 (ms)');
    else if (w > MAX_AWAIT_MS) issues.add(p, `must be at most ${MAX_AWAIT_MS} (ms)`);
  }
  const a = m.await;
  if (a !== undefined) {
    const p = join(at, 'await');
    if (typeof a !== 'string' || !AWAIT_FOR.includes(a)) issues.add(p, 'must be "delivered" or "acked"');
    else if (w === undefined) issues.add(p, 'needs "await_ms" (how long to wait, 1-30000 ms)');
    else if (a === 'acked' && !limits.ackReceipts) issues.add(p, '"acked" needs ack receipts, which are off on this router (LONGLINK_ACK_RECEIPTS)');
  }
  const data = serialiseData(m, join(at, 'data'), limits, issues);
  if (issues.count !== before || users === undefined || data === undefined) return undefined;
  return {
    users: users.length === 1 ? users : [...new Set(users)], data,
    id: m.id as string | undefined, idempotencyKey: m.idempotency_key as string | undefined, awaitMs: w as number | undefined,
    awaitFor: w === undefined ? undefined : (a as AwaitFor | undefined) ?? 'delivered',
  } as unknown as ValidPush;
}

/** The shortest JSON text of a value nesting deeper than MAX_DATA_DEPTH (withinDepth): MAX_DATA_DEPTH + 1 levels of `[]`. */
const DEEP_CHARS = 2 * (MAX_DATA_DEPTH + 1);

/** `data`: present, a JSON value, within MAX_DATA_DEPTH, serialised within maxPushBytes. */
function serialiseData(m: Record<string, unknown>, path: string, limits: PushLimits, issues: Issues): string | undefined {
  if (!('data' in m) || m.data === undefined) { issues.add(path, 'is required (any JSON value; null is allowed)'); return undefined; }
  let s: string | undefined;
  try {
    s = JSON.stringify(m.data);
  } catch {
    s = undefined;
  }
  // The depth walk only where it can fail: nesting past MAX_DATA_DEPTH takes an opening and a closing bracket per
  // level, so its text is at least DEEP_CHARS long (a value that did not serialise is walked too, as before).
  if ((typeof s !== 'string' || s.length >= DEEP_CHARS) && !withinDepth(m.data, MAX_DATA_DEPTH)) {
    issues.add(path, `nests deeper than ${MAX_DATA_DEPTH} levels (clients must reject such a push: docs/protocol.md)`);
    return undefined;
  }
  if (typeof s !== 'string') { issues.add(path, 'must be a JSON value'); return undefined; }
  // UTF-8 size is at most 3 bytes per UTF-16 unit: count exactly only when it could matter.
  const bytes = s.length * 3 <= limits.maxPushBytes ? s.length : Buffer.byteLength(s);
  if (bytes > limits.maxPushBytes) { issues.add(path, `serialised size ${bytes} bytes exceeds the ${limits.maxPushBytes}-byte limit`, true); return undefined; }
  return s;
}

/**
 * The one validation of a push body: checks a batch's messages one by one,
 * yielding after each, and returns the answer. parsePushBody drains it at
 * once; parsePushBodyPaced drains it under a turn budget.
 */
function* pushBodySteps(body: unknown, limits: PushLimits): Generator<void, InputResult<PushInput>> {
  const issues = new Issues();
  const head = bodyHead(body, limits, issues);
  if (head.kind !== 'batch') return head.result;
  const pushes: ValidPush[] = [];
  for (let i = 0; i < head.list.length && !issues.full; i++) {
    const p = message(head.list[i], `messages[${i}]`, limits, issues);
    if (p) pushes.push(p);
    yield;
  }
  return issues.result(() => ({ kind: 'batch', pushes }));
}

/** A push body: one message, or `{messages: [...]}` for a batch (the HTTP API's and the bus's wire form). */
export function parsePushBody(body: unknown, limits: PushLimits): InputResult<PushInput> {
  // One message (the usual push) or a body refused outright: bodyHead decides it, without the generator.
  if (!isObject(body) || !('messages' in body)) {
    const head = bodyHead(body, limits, new Issues());
    if (head.kind === 'done') return head.result;
  }
  const steps = pushBodySteps(body, limits);
  for (;;) {
    const r = steps.next();
    if (r.done === true) return r.value;
  }
}

/** What pacing needs of a TurnBudget (turn-budget.ts). */
export interface Pacer { spent(): boolean; pace(): Promise<void> }

/**
 * parsePushBody for big batches: the same checks and answer, a batch's
 * messages validated as `budget` allows (a maximum batch lists 100,000 user
 * ids), yielding the event loop in between.
 */
export async function parsePushBodyPaced(body: unknown, limits: PushLimits, budget: Pacer): Promise<InputResult<PushInput>> {
  const steps = pushBodySteps(body, limits);
  for (;;) {
    const r = steps.next();
    if (r.done === true) return r.value;
    if (budget.spent()) await budget.pace();
  }
}

/** A single push (checked), a refused body, or a batch's message list to check. */
function bodyHead(body: unknown, limits: PushLimits, issues: Issues): { kind: 'done'; result: InputResult<PushInput> } | { kind: 'batch'; list: unknown[] } {
  if (!isObject(body)) { issues.add('', 'must be a JSON object'); return { kind: 'done', result: issues.result(() => undefined as never) }; }
  if (!('messages' in body)) {
    const push = message(body, '', limits, issues);
    return { kind: 'done', result: issues.result(() => ({ kind: 'single', push: push! })) };
  }
  const extra = Object.keys(body).filter((k) => k !== 'messages');
  if (extra.length > 0) issues.add('', `Unrecognized key${extra.length > 1 ? 's' : ''}: ${extra.map((k) => JSON.stringify(k)).join(', ')}`);
  const list = body.messages;
  if (!Array.isArray(list)) issues.add('messages', 'must be an array of push messages');
  else if (list.length < 1) issues.add('messages', 'must hold at least one message');
  else if (list.length > limits.maxBatch) issues.add('messages', `must hold at most ${limits.maxBatch} messages`);
  else return { kind: 'batch', list };
  return { kind: 'done', result: issues.result(() => undefined as never) };
}

/** PushRequests built in code: the same rules as the wire form, messages prefixed `messages[i].` for more than one. */
export function validatePushRequests(reqs: readonly PushRequest[], limits: PushLimits): InputResult<ValidPush[]> {
  const issues = new Issues();
  const out: ValidPush[] = [];
  reqs.forEach((r, i) => {
    const { idempotencyKey, awaitMs, awaitFor, ...rest } = r;
    const wire = {
      ...rest, ...(idempotencyKey !== undefined ? { idempotency_key: idempotencyKey } : {}), ...(awaitMs !== undefined ? { await_ms: awaitMs } : {}),
      ...(awaitFor !== undefined ? { await: awaitFor } : {}),
    };
    const p = message(wire, reqs.length > 1 ? `messages[${i}]` : '', limits, issues);
    if (p) out.push(p);
  });
  return issues.result(() => out);
}
