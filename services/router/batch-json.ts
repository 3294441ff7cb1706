/**
 * The answer to a batch push, `{"messages":[…]}`, serialised a slice at a
 * time. A maximum batch (100 messages × 1,000 users) answers with 100,000
 * per-recipient results, about 9 MB of JSON: one JSON.stringify and one
 * socket write of that blocked the router's event loop for hundreds of
 * milliseconds. Here messages are serialised as the process's per-turn
 * budget for bulk work allows (core/turn-budget.ts), and what one turn
 * serialised is one chunk; the text is the same as JSON.stringify({ messages })
 * would give.
 */
import type { PushOutcome } from './core/router-types.js';
import { bulkBudget } from './core/turn-budget.js';

/** `{"messages":[…]}` in pieces; yields the event loop between them. */
export async function* batchJsonChunks(messages: readonly PushOutcome[]): AsyncGenerator<string> {
  let buf = '{"messages":[';
  for (let i = 0; i < messages.length; i++) {
    buf += (i > 0 ? ',' : '') + JSON.stringify(messages[i]!);
    if (i < messages.length - 1 && bulkBudget.spent()) {
      yield buf;
      buf = '';
      await bulkBudget.pace();
    }
  }
  yield buf + ']}';
}

/** The whole text (for the bus, which sends one message), built over several turns. */
export async function batchJson(messages: readonly PushOutcome[]): Promise<string> {
  let out = '';
  for await (const chunk of batchJsonChunks(messages)) out += chunk;
  return out;
}

/**
 * One push's answer, `{"id":…,"results":[{"user","seq","id","status","connections"}…]}`:
 * the same text as JSON.stringify(outcome) (the order routeOne builds), without walking
 * the objects' keys. The receipts' internal promises are never written.
 */
export function pushOutcomeJson(o: PushOutcome): string {
  let s = '{"id":' + JSON.stringify(o.id) + ',"results":[';
  const rs = o.results;
  for (let i = 0; i < rs.length; i++) {
    const r = rs[i]!;
    s += (i > 0 ? ',{"user":' : '{"user":') + JSON.stringify(r.user) + ',"seq":' + r.seq + ',"id":' + JSON.stringify(r.id)
      + ',"status":"' + r.status + '","connections":' + r.connections + '}';
  }
  return s + ']}';
}
