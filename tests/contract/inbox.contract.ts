/**
 * Behaviours every Inbox implementation must have. Time is driven through
 * the harness: the memory store advances a ManualClock, a Redis store sleeps
 * for real (the TTLs used here are short for that reason). User ids are
 * unique per test so a shared server needs no flushing between tests.
 */
import { describe, it, after } from 'node:test';
import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import type { Inbox, InboxLimits } from '../../services/router/core/inbox.js';

export interface InboxHarness {
  inbox: Inbox;
  /** Moves the store's notion of time forward by at least `ms`. */
  advance(ms: number): Promise<void>;
  /**
   * The store loses everything (a Redis wipe, a memory store's process
   * restart); resolves to the inbox to use from then on.
   */
  wipe(): Promise<Inbox>;
}

export type InboxFactory = (limits: Partial<InboxLimits>) => Promise<InboxHarness>;

const uid = (name: string): string => `${name}-${randomUUID().slice(0, 8)}`;
const entry = (id: string, data: unknown = { n: id }) => ({ id, ts: 1_700_000_000_000, data: JSON.stringify(data) });

export function inboxContract(name: string, factory: InboxFactory, cleanup?: () => Promise<void>): void {
  describe(`Inbox contract: ${name}`, () => {
    const opened: Inbox[] = [];
    const make = async (limits: Partial<InboxLimits> = {}): Promise<InboxHarness> => {
      const h = await factory(limits);
      opened.push(h.inbox);
      return h;
    };
    after(async () => {
      for (const i of opened) await i.close();
      await cleanup?.();
    });

    it('starts empty for an unknown user', async () => {
      const { inbox } = await make();
      const u = uid('nobody');
      assert.equal(await inbox.latestSeq(u), 0);
      assert.deepEqual(await inbox.position(u), { seq: 0, epoch: 0 }, 'no sequence, no epoch');
      assert.deepEqual(await inbox.since(u, 0, 10), []);
      assert.equal(await inbox.acked(u, 'phone'), 0);
      assert.deepEqual(await inbox.summary(u), { latestSeq: 0, depth: 0, cursors: {} });
    });

    it('summary: latest seq, unexpired depth and every known cursor', async () => {
      const { inbox, advance } = await make({ ttlMs: 400 });
      const u = uid('u');
      await inbox.append(u, entry('old'));
      await advance(250);
      for (let i = 2; i <= 4; i++) await inbox.append(u, entry(`m${i}`));
      assert.deepEqual(await inbox.summary(u), { latestSeq: 4, depth: 4, cursors: {} });
      await inbox.ack(u, 'phone', 2);
      await inbox.ack(u, 'tablet', 3);
      assert.deepEqual(await inbox.summary(u), { latestSeq: 4, depth: 2, cursors: { phone: 2, tablet: 3 } }, 'acked by both devices: trimmed');
      await advance(250);
      await inbox.append(u, entry('m5'));
      assert.deepEqual(await inbox.summary(u), { latestSeq: 5, depth: 3, cursors: { phone: 2, tablet: 3 } }, 'nothing expired yet');
      await advance(250);
      assert.deepEqual(await inbox.summary(u), { latestSeq: 5, depth: 1, cursors: { phone: 2, tablet: 3 } }, 'the expired prefix is not counted');
    });

    it('summary keeps a cursor whose device id is an Object.prototype name (__proto__, constructor)', async () => {
      const { inbox } = await make();
      const u = uid('u');
      for (let i = 1; i <= 3; i++) await inbox.append(u, entry(`m${i}`));
      await inbox.ack(u, '__proto__', 2);
      await inbox.ack(u, 'constructor', 1);
      const { cursors } = await inbox.summary(u);
      assert.deepEqual(Object.entries(cursors).sort(), [['__proto__', 2], ['constructor', 1]]);
      assert.equal(Object.getPrototypeOf(cursors), Object.prototype, 'a plain object: nothing else changed shape');
      assert.equal(JSON.parse(JSON.stringify({ cursors })).cursors['__proto__'], 2, 'and it survives the API\'s JSON');
    });

    it('assigns 1, 2, 3… per user and returns the stored record', async () => {
      const { inbox } = await make();
      const [a, b] = [uid('a'), uid('b')];
      const r1 = await inbox.append(a, entry('m1', { hello: 'world' }));
      const { epoch } = await inbox.position(a);
      assert.deepEqual(r1, { record: { seq: 1, id: 'm1', ts: 1_700_000_000_000, data: '{"hello":"world"}', epoch }, duplicate: false });
      assert.equal((await inbox.append(a, entry('m2'))).record.seq, 2);
      assert.equal((await inbox.append(b, entry('x1'))).record.seq, 1, 'seq is per user');
      assert.equal(await inbox.latestSeq(a), 2);
      assert.deepEqual((await inbox.since(a, 0, 10)).map((r) => [r.seq, r.id]), [[1, 'm1'], [2, 'm2']]);
    });

    it('a sequence has one epoch: every record, position and duplicate carries it', async () => {
      const { inbox } = await make();
      const [a, b] = [uid('a'), uid('b')];
      const r1 = await inbox.append(a, entry('m1'), { idempotencyKey: 'k' });
      const epoch = r1.record.epoch!;
      assert.ok(Number.isSafeInteger(epoch) && epoch > 0, `epoch ${epoch}`);
      assert.equal((await inbox.append(a, entry('m2'))).record.epoch, epoch);
      assert.equal((await inbox.append(a, entry('again'), { idempotencyKey: 'k' })).record.epoch, epoch, 'a duplicate too');
      assert.deepEqual(await inbox.position(a), { seq: 2, epoch });
      assert.deepEqual((await inbox.since(a, 0, 10)).map((r) => r.epoch), [epoch, epoch]);
      const eb = (await inbox.append(b, entry('x'))).record.epoch!;
      assert.ok(eb > 0);
      assert.equal((await inbox.position(a)).epoch, epoch, 'another user\'s sequence does not change it');
    });

    it('a store that lost everything starts each sequence again at 1 under a greater epoch; acks naming the old epoch change nothing', async () => {
      const h = await make();
      const u = uid('wiped');
      for (let i = 1; i <= 5; i++) await h.inbox.append(u, entry(`old${i}`));
      const old = (await h.inbox.position(u)).epoch;
      const inbox = await h.wipe();
      opened.push(inbox);
      assert.deepEqual(await inbox.position(u), { seq: 0, epoch: 0 }, 'the sequence is gone');
      const r = await inbox.append(u, entry('new1'));
      assert.equal(r.record.seq, 1, 'seqs start again');
      const epoch = r.record.epoch!;
      assert.ok(epoch > old, `new epoch ${epoch} > old ${old}`);
      await inbox.append(u, entry('new2'));
      assert.deepEqual(await inbox.position(u), { seq: 2, epoch });
      // A device acking seq 5 of the old sequence must not trim the new seqs 1-2.
      assert.deepEqual(await inbox.ack(u, 'phone', 5, { epoch: old }), { cursor: 0, trimmed: 0 });
      assert.deepEqual((await inbox.since(u, 0, 10)).map((x) => [x.seq, x.id, x.epoch]), [[1, 'new1', epoch], [2, 'new2', epoch]]);
      assert.deepEqual(await inbox.ack(u, 'phone', 1, { epoch }), { cursor: 1, trimmed: 1 }, 'an ack of the current epoch applies');
      assert.deepEqual(await inbox.ack(u, 'phone', 2, { epoch: old }), { cursor: 1, trimmed: 0 }, 'an old-epoch ack returns the cursor unchanged');
      assert.deepEqual(await inbox.ack(u, 'phone', 2), { cursor: 2, trimmed: 1 }, 'an ack naming no epoch applies as before');
    });

    it('seq is atomic and gap-free under concurrent appends', async () => {
      const { inbox } = await make({ maxLen: 500 });
      const u = uid('busy');
      const res = await Promise.all(Array.from({ length: 200 }, (_, i) => inbox.append(u, entry(`m${i}`))));
      const seqs = res.map((r) => r.record.seq).sort((x, y) => x - y);
      assert.deepEqual(seqs, Array.from({ length: 200 }, (_, i) => i + 1));
      const stored = await inbox.since(u, 0, 1000);
      assert.equal(stored.length, 200);
      const byId = new Map(res.map((r) => [r.record.id, r.record.seq]));
      stored.forEach((r, i) => {
        assert.equal(r.seq, i + 1, 'since returns seq order');
        assert.equal(byId.get(r.id), r.seq, 'each record keeps the seq its append returned');
      });
    });

    it('since filters by seq and honours the limit', async () => {
      const { inbox } = await make();
      const u = uid('u');
      for (let i = 1; i <= 6; i++) await inbox.append(u, entry(`m${i}`));
      assert.deepEqual((await inbox.since(u, 2, 10)).map((r) => r.seq), [3, 4, 5, 6]);
      assert.deepEqual((await inbox.since(u, 2, 2)).map((r) => r.seq), [3, 4]);
      assert.deepEqual(await inbox.since(u, 6, 10), []);
      assert.deepEqual(await inbox.since(u, 99, 10), []);
    });

    it('keeps at most maxLen entries, dropping the oldest; seq keeps counting', async () => {
      const { inbox } = await make({ maxLen: 3 });
      const u = uid('u');
      for (let i = 1; i <= 5; i++) await inbox.append(u, entry(`m${i}`));
      assert.deepEqual((await inbox.since(u, 0, 10)).map((r) => r.seq), [3, 4, 5]);
      assert.equal(await inbox.latestSeq(u), 5);
    });

    it('drops entries older than the TTL, oldest first; the seq survives', async () => {
      const { inbox, advance } = await make({ ttlMs: 400 });
      const u = uid('u');
      await inbox.append(u, entry('old'));
      await advance(250);
      await inbox.append(u, entry('new'));
      await advance(250);
      assert.deepEqual((await inbox.since(u, 0, 10)).map((r) => r.id), ['new']);
      await advance(250);
      assert.deepEqual(await inbox.since(u, 0, 10), []);
      assert.equal(await inbox.latestSeq(u), 2);
      assert.equal((await inbox.append(u, entry('later'))).record.seq, 3);
    });

    it('ack cursors move forward only and never past latestSeq', async () => {
      const { inbox } = await make();
      const u = uid('u');
      for (let i = 1; i <= 3; i++) await inbox.append(u, entry(`m${i}`));
      assert.equal((await inbox.ack(u, 'phone', 2)).cursor, 2);
      assert.equal((await inbox.ack(u, 'phone', 1)).cursor, 2, 'a lower ack is ignored');
      assert.equal((await inbox.ack(u, 'phone', 99)).cursor, 3, 'clamped to latestSeq');
      assert.equal(await inbox.acked(u, 'phone'), 3);
      assert.equal(await inbox.acked(u, 'tablet'), 0);
      await inbox.append(u, entry('m4'));
      assert.deepEqual((await inbox.since(u, 0, 10)).map((r) => r.seq), [4], 'a push after an over-ack is kept');
    });

    it('trims up to the minimum cursor over the known devices', async () => {
      const { inbox } = await make();
      const u = uid('u');
      for (let i = 1; i <= 5; i++) await inbox.append(u, entry(`m${i}`));
      assert.deepEqual(await inbox.ack(u, 'phone', 2), { cursor: 2, trimmed: 2 });
      assert.deepEqual(await inbox.ack(u, 'tablet', 4), { cursor: 4, trimmed: 0 }, 'phone still needs 3');
      assert.deepEqual((await inbox.since(u, 0, 10)).map((r) => r.seq), [3, 4, 5]);
      assert.deepEqual(await inbox.ack(u, 'phone', 5), { cursor: 5, trimmed: 2 });
      assert.deepEqual((await inbox.since(u, 0, 10)).map((r) => r.seq), [5]);
    });

    it('an ack asked to list them reports the stored pushes it newly covered, read before the trim', async () => {
      const { inbox } = await make();
      const u = uid('u');
      for (let i = 1; i <= 5; i++) await inbox.append(u, entry(`m${i}`));
      assert.deepEqual(await inbox.ack(u, 'phone', 2, { list: true }), { cursor: 2, trimmed: 2, acked: [{ seq: 1, id: 'm1' }, { seq: 2, id: 'm2' }] });
      assert.deepEqual((await inbox.ack(u, 'phone', 1, { list: true })).acked, [], 'a lower ack covers nothing new');
      assert.deepEqual((await inbox.ack(u, 'tablet', 3, { list: true })).acked, [{ seq: 3, id: 'm3' }], 'a first ack covers only what is still stored');
      assert.deepEqual((await inbox.ack(u, 'phone', 99, { list: true })).acked, [{ seq: 3, id: 'm3' }, { seq: 4, id: 'm4' }, { seq: 5, id: 'm5' }], 'clamped to latestSeq');
      assert.deepEqual(await inbox.ack(uid('nobody'), 'phone', 3, { list: true }), { cursor: 0, trimmed: 0, acked: [] });
      assert.equal((await inbox.ack(u, 'tablet', 5)).acked, undefined, 'not listed unless asked');
    });

    it('forgets ack cursors after cursorTtlMs without acks', async () => {
      const { inbox, advance } = await make({ cursorTtlMs: 300 });
      const u = uid('u');
      await inbox.append(u, entry('m1'));
      await inbox.ack(u, 'phone', 1);
      await advance(400);
      assert.equal(await inbox.acked(u, 'phone'), 0);
    });

    it('an idempotency key returns the first result and stores nothing twice', async () => {
      const { inbox } = await make();
      const u = uid('u');
      const first = await inbox.append(u, entry('m1', 'a'), { idempotencyKey: 'k1' });
      const again = await inbox.append(u, entry('m1-retry', 'b'), { idempotencyKey: 'k1' });
      assert.equal(again.duplicate, true);
      assert.deepEqual(again.record, first.record);
      assert.equal(await inbox.latestSeq(u), 1);
      assert.equal((await inbox.since(u, 0, 10)).length, 1);
      const other = uid('v');
      assert.equal((await inbox.append(other, entry('m1'), { idempotencyKey: 'k1' })).duplicate, false, 'keys are per user');
      assert.equal((await inbox.append(u, entry('m2'), { idempotencyKey: 'k2' })).record.seq, 2);
    });

    it('concurrent appends with one idempotency key store exactly one record', async () => {
      const { inbox } = await make();
      const u = uid('u');
      const res = await Promise.all(Array.from({ length: 20 }, (_, i) => inbox.append(u, entry(`try${i}`), { idempotencyKey: 'same' })));
      assert.equal(res.filter((r) => !r.duplicate).length, 1);
      assert.equal(new Set(res.map((r) => r.record.seq)).size, 1);
      assert.equal(await inbox.latestSeq(u), 1);
    });

    it('an idempotency key expires after idempotencyTtlMs', async () => {
      const { inbox, advance } = await make({ idempotencyTtlMs: 300 });
      const u = uid('u');
      await inbox.append(u, entry('m1'), { idempotencyKey: 'k' });
      await advance(400);
      const r = await inbox.append(u, entry('m2'), { idempotencyKey: 'k' });
      assert.equal(r.duplicate, false);
      assert.equal(r.record.seq, 2);
    });
  });
}
