/**
 * The node:http adapter's chunked answer writer (services/router/http-node.ts):
 * it waits for 'drain' whenever the socket is full, and each wait leaves no
 * listener behind (a maximum batch's answer waits hundreds of times).
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { EventEmitter } from 'node:events';
import { writeChunks } from '../../services/router/http-node.js';

/** A response whose socket is always full: every write asks to wait, and drains on the next turn. */
class AlwaysFullResponse extends EventEmitter {
  destroyed = false;
  written: string[] = [];
  maxClose = 0;
  write(chunk: string | Uint8Array): boolean {
    this.written.push(String(chunk));
    setImmediate(() => {
      this.maxClose = Math.max(this.maxClose, this.listenerCount('close'));
      this.emit('drain');
    });
    return false;
  }
}

test('writes every chunk in order, waiting for drain, with no listener left behind', async () => {
  const res = new AlwaysFullResponse();
  const chunks = Array.from({ length: 200 }, (_, i) => `c${i},`);
  assert.equal(await writeChunks(res as never, chunks), true);
  assert.deepEqual(res.written, chunks);
  assert.ok(res.maxClose <= 1, `at most one 'close' listener while waiting, saw ${res.maxClose}`);
  assert.equal(res.listenerCount('close'), 0);
  assert.equal(res.listenerCount('drain'), 0);
});

test('stops when the client goes away mid-answer', async () => {
  const res = new AlwaysFullResponse();
  res.write = function (chunk) {
    this.written.push(String(chunk));
    setImmediate(() => { this.destroyed = true; this.emit('close'); });
    return false;
  };
  assert.equal(await writeChunks(res as never, ['a', 'b', 'c']), false);
  assert.deepEqual(res.written, ['a']);
  assert.equal(res.listenerCount('drain'), 0);
});
