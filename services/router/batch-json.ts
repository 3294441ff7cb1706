/**
 * The answer to a batch push, `{"messages":[…]}`, serialised a slice at a
 * time. A maximum batch (100 messages × 1,000 users) answers with 100,000
 * per-recipient results, about 9 MB of JSON: one JSON.stringify and one
 * socket write of that blocked the router's event loop for hundreds of
 * milliseconds. Here each slice of about RESULTS_PER_SLICE results is
 * serialised in its own event-loop turn; the text is the same as
 * JSON.stringify({ messages }) would give.
 */
import type { PushOutcome } from './core/router-types.js';

const RESULTS_PER_SLICE = 2000;
const yieldTurn = (): Promise<void> => new Promise((r) => { setImmediate(r); });

/** `{"messages":[…]}` in pieces; yields the event loop between them. */
export async function* batchJsonChunks(messages: readonly PushOutcome[]): AsyncGenerator<string> {
  let buf = '{"messages":[';
  let n = 0;
  for (let i = 0; i < messages.length; i++) {
    const m = messages[i]!;
    buf += (i > 0 ? ',' : '') + JSON.stringify(m);
    n += m.results.length;
    if (n >= RESULTS_PER_SLICE && i < messages.length - 1) {
      yield buf;
      buf = '';
      n = 0;
      await yieldTurn();
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
