/** ReturnLine (services/gateway/core/return-line.ts): tickets by client, kept past their time, bounded, swept in order. */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { ReturnLine, returnKey } from '../../services/gateway/core/return-line.js';

describe('ReturnLine', () => {
  it('remembers a return time until keepMs after it, and forgets a used ticket', () => {
    const l = new ReturnLine({ maxEntries: 10, keepMs: 1000 });
    assert.equal(l.book('a', 500), true);
    assert.equal(l.dueAt('a', 0), 500);
    assert.equal(l.dueAt('a', 1500), 500, 'kept up to keepMs after its time');
    assert.equal(l.dueAt('a', 1501), undefined, 'then a new arrival');
    assert.equal(l.size, 0, 'dropped on lookup');
    l.book('b', 100);
    l.forget('b');
    assert.equal(l.dueAt('b', 0), undefined);
  });

  it('is bounded: a booking past maxEntries is not remembered; re-booking moves a client to the end', () => {
    const l = new ReturnLine({ maxEntries: 2, keepMs: 1000 });
    assert.equal(l.book('a', 100), true);
    assert.equal(l.book('b', 200), true);
    assert.equal(l.book('c', 300), false);
    assert.equal(l.dueAt('c', 0), undefined);
    assert.equal(l.book('a', 400), true, 'a client already in the line is re-booked');
    assert.equal(l.dueAt('a', 0), 400);
    l.sweep(1250);
    assert.equal(l.dueAt('b', 0), undefined, 'b (expired at 1200) swept');
    assert.equal(l.dueAt('a', 0), 400, 'a (re-booked, expires at 1400) kept');
  });

  it('keys by user and device', () => {
    assert.notEqual(returnKey('u', 'd1'), returnKey('u', 'd2'));
  });
});
