/**
 * The memory inbox's per-user footprint (stores/memory/inbox.ts): a user's
 * first push keeps one-slot arrays, not 17-slot ones, and no maps until an
 * ack or an idempotency key needs them; an emptied inbox goes back to the
 * shared empty arrays, which no later push to any user may write into.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { setFlagsFromString } from 'node:v8';
import { runInNewContext } from 'node:vm';
import { ManualClock } from '../../services/shared/clock.js';
import { MemoryInbox } from '../../services/router/stores/memory/inbox.js';

const entry = (n: number): { id: string; ts: number; data: string } => ({ id: `id-${n}`, ts: 1_733_600_000_000 + n, data: `{"n":${n}}` });

test('an emptied inbox takes new pushes of its own; other users never see them', async () => {
  const clock = new ManualClock(1000);
  const inbox = new MemoryInbox({ clock, maxLen: 3, ttlMs: 10_000 });
  inbox.appendNow('a', entry(1));
  inbox.appendNow('b', entry(2));
  inbox.ackNow('a', 'd', 1);                          // a: emptied by its ack
  assert.deepEqual(await inbox.since('a', 0, 10), []);
  inbox.appendNow('a', entry(3));                     // a again, after being emptied
  inbox.appendNow('c', entry(4));                     // a user that never had entries
  assert.deepEqual((await inbox.since('a', 0, 10)).map((r) => [r.seq, r.id, r.data]), [[2, 'id-3', '{"n":3}']]);
  assert.deepEqual((await inbox.since('b', 0, 10)).map((r) => [r.seq, r.id]), [[1, 'id-2']]);
  assert.deepEqual((await inbox.since('c', 0, 10)).map((r) => [r.seq, r.id]), [[1, 'id-4']]);
  // Emptied by TTL, then by the length limit's trim: each refills on its own.
  clock.advance(20_000);
  assert.deepEqual(await inbox.since('b', 0, 10), []);
  for (let n = 5; n <= 9; n++) inbox.appendNow('b', entry(n));
  assert.deepEqual((await inbox.since('b', 0, 10)).map((r) => r.id), ['id-7', 'id-8', 'id-9']);
  assert.deepEqual(await inbox.since('c', 0, 10), []);
  assert.deepEqual((await inbox.summary('c')), { latestSeq: 1, depth: 0, cursors: {} });
  assert.deepEqual((await inbox.summary('a')), { latestSeq: 2, depth: 0, cursors: { d: 1 } }); // its push expired too
  // Idempotency keys still answer duplicates once the map exists only for them.
  const first = inbox.appendNow('e', entry(10), { idempotencyKey: 'k' });
  const again = inbox.appendNow('e', entry(11), { idempotencyKey: 'k' });
  assert.equal(again.duplicate, true);
  assert.equal(again.record.seq, first.record.seq);
});

test('a first push keeps at most 800 bytes per user alive (it kept ~1,500: five 17-slot arrays and two maps)', () => {
  setFlagsFromString('--expose-gc');
  const gc = runInNewContext('gc') as () => void;
  const inbox = new MemoryInbox({ clock: new ManualClock(1000) });
  const N = 20_000;
  const users = Array.from({ length: N }, (_, i) => `user-${i}`);
  const e = entry(1);
  const used = (): number => { gc(); gc(); return process.memoryUsage().heapUsed; };
  const before = used();
  for (const u of users) inbox.appendNow(u, e);
  const perUser = (used() - before) / N;
  assert.ok(perUser < 800, `retained ${Math.round(perUser)} bytes per pushed user`);
  assert.equal(inbox.appendNow(users[0]!, e).record.seq, 2); // the inbox (and its users) stayed alive through the reading
});
