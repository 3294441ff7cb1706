/**
 * TurnQueue (services/shared/bus/turn-queue.ts): a turn's pushes reach the
 * sink together at the end of the turn, in order, each once; flush() hands
 * them over at once; nothing is scheduled for an empty queue.
 */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { TurnQueue } from '../../services/shared/bus/turn-queue.js';

const turnEnd = (): Promise<void> => new Promise((r) => setImmediate(r));

describe('TurnQueue', () => {
  it('hands a turn\'s pushes (from several microtask runs) to the sink in one batch, in order', async () => {
    const batches: number[][] = [];
    const q = new TurnQueue<number>((b) => batches.push(b));
    q.push(1);
    await Promise.resolve();
    q.push(2);
    await Promise.resolve().then(() => q.push(3));
    assert.deepEqual(batches, [], 'nothing before the end of the turn');
    assert.equal(q.length, 3);
    await turnEnd();
    assert.deepEqual(batches, [[1, 2, 3]]);
    assert.equal(q.length, 0);
    q.push(4);
    await turnEnd();
    assert.deepEqual(batches, [[1, 2, 3], [4]], 'the next turn is its own batch');
  });

  it('flush() hands over now; the scheduled end of turn then finds nothing', async () => {
    const batches: string[][] = [];
    const q = new TurnQueue<string>((b) => batches.push(b));
    q.push('a');
    q.flush();
    assert.deepEqual(batches, [['a']]);
    q.push('b');
    await turnEnd();
    assert.deepEqual(batches, [['a'], ['b']], 'every item exactly once');
    q.flush();
    assert.equal(batches.length, 2, 'an empty flush calls no sink');
  });

  it('flush() cancels the end-of-turn handover it made unnecessary (no loop iteration for nothing)', () => {
    const immediates = (): number => process.getActiveResourcesInfo().filter((r) => r === 'Immediate').length;
    const before = immediates();
    const q = new TurnQueue<number>(() => undefined);
    q.push(1);
    q.push(2);
    assert.equal(immediates(), before + 1, 'one end-of-turn handover scheduled');
    q.flush();
    assert.equal(immediates(), before, 'none left pending after flush()');
  });
});
