/**
 * Behaviours every ResumeRead must have (core/resume-read.ts): the same
 * position, replay start and first chunk as the Inbox's own calls made in
 * order, for every case of the replay-start rule. The harness gives the
 * implementation under test and the Inbox it reads.
 */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import type { Inbox, InboxLimits } from '../../services/router/core/inbox.js';
import { composeResumeRead, type ResumeFrom, type ResumeRead } from '../../services/router/core/resume-read.js';

export interface ResumeReadHarness {
  resume: ResumeRead;
  inbox: Inbox;
  advance(ms: number): Promise<void>;
}

export type ResumeReadFactory = (limits: Partial<InboxLimits>) => Promise<ResumeReadHarness>;

const uid = (name: string): string => `${name}-${randomUUID().slice(0, 8)}`;
const entry = (id: string) => ({ id, ts: 1_700_000_000_000, data: JSON.stringify({ n: id }) });

export function resumeReadContract(name: string, factory: ResumeReadFactory): void {
  describe(`ResumeRead contract: ${name}`, () => {
    async function filled(n: number, limits: Partial<InboxLimits> = {}): Promise<ResumeReadHarness & { user: string; epoch: number }> {
      const h = await factory(limits);
      const user = uid('u');
      let epoch = 0;
      for (let i = 1; i <= n; i++) epoch = (await h.inbox.append(user, entry(`m${i}`))).record.epoch ?? 0;
      return { ...h, user, epoch };
    }
    const seqs = (r: { first: Array<{ seq: number }> }): number[] => r.first.map((p) => p.seq);

    it('a user without a sequence: position 0/0, nothing to replay', async () => {
      const { resume } = await factory({});
      const r = await resume.start(uid('nobody'), 'phone', { resumed: false }, 32);
      assert.deepEqual(r, { pos: { seq: 0, epoch: 0 }, after: 0, stale: false, first: [] });
    });

    it('a resumed session replays after the client\'s last seq, up to the limit, records in the position\'s epoch', async () => {
      const { resume, user, epoch } = await filled(6);
      const r = await resume.start(user, 'phone', { resumed: true, lastSeq: 2, lastEpoch: epoch }, 3);
      assert.deepEqual(r.pos, { seq: 6, epoch });
      assert.equal(r.after, 2);
      assert.equal(r.stale, false);
      assert.deepEqual(seqs(r), [3, 4, 5]);
      assert.deepEqual(r.first.map((p) => [p.id, p.epoch, JSON.parse(p.data).n]), [['m3', epoch, 'm3'], ['m4', epoch, 'm4'], ['m5', epoch, 'm5']]);
      assert.deepEqual(seqs(await resume.start(user, 'phone', { resumed: true, lastSeq: 6 }, 32)), [], 'up to date (no epoch named)');
    });

    it('a new session (or a resumed one without last_seq) replays after the device\'s ack cursor', async () => {
      const { resume, inbox, user } = await filled(5);
      await inbox.ack(user, 'phone', 3);
      const fresh = await resume.start(user, 'phone', { resumed: false, lastSeq: 1 }, 32);
      assert.deepEqual([fresh.after, seqs(fresh)], [3, [4, 5]], 'last_seq of a session that was not resumed is ignored');
      const noSeq = await resume.start(user, 'phone', { resumed: true }, 32);
      assert.deepEqual([noSeq.after, seqs(noSeq)], [3, [4, 5]]);
      const other = await resume.start(user, 'tablet', { resumed: false }, 32);
      assert.equal(other.after, 0, 'another device has its own cursor');
    });

    it('a client naming a lost epoch is stale and replays from the beginning', async () => {
      const { resume, user, epoch } = await filled(4);
      const r = await resume.start(user, 'phone', { resumed: true, lastSeq: 3, lastEpoch: epoch - 1 }, 32);
      assert.deepEqual([r.stale, r.after, seqs(r)], [true, 0, [1, 2, 3, 4]]);
      const zero = await resume.start(user, 'phone', { resumed: true, lastSeq: 3, lastEpoch: 0 }, 32);
      assert.equal(zero.stale, true, 'epoch 0 ("no sequence yet") is not the current one either');
      const same = await resume.start(user, 'phone', { resumed: true, lastSeq: 3, lastEpoch: epoch }, 32);
      assert.deepEqual([same.stale, seqs(same)], [false, [4]]);
    });

    it('expired pushes are skipped, not counted against the limit', async () => {
      const { resume, inbox, user, advance } = await filled(2, { ttlMs: 300 });
      await advance(350);
      await inbox.append(user, entry('m3'));
      await inbox.append(user, entry('m4'));
      const r = await resume.start(user, 'phone', { resumed: true, lastSeq: 0 }, 2);
      assert.deepEqual([r.pos.seq, seqs(r)], [4, [3, 4]]);
    });

    it('odd bounds read what Inbox.since reads: a negative seq from the start, a huge one nothing, limit 0 nothing', async () => {
      const { resume, user } = await filled(3);
      assert.deepEqual(seqs(await resume.start(user, 'phone', { resumed: true, lastSeq: -5 }, 32)), [1, 2, 3]);
      assert.deepEqual(seqs(await resume.start(user, 'phone', { resumed: true, lastSeq: Number.MAX_SAFE_INTEGER }, 32)), []);
      assert.deepEqual(seqs(await resume.start(user, 'phone', { resumed: true, lastSeq: 1 }, 0)), []);
      // A limit that is not a count reads nothing rather than failing: NaN and negatives as 0.
      for (const limit of [NaN, -3]) {
        const r = await resume.start(user, 'phone', { resumed: true, lastSeq: 1 }, limit);
        assert.deepEqual({ seqs: seqs(r), pos: r.pos.seq }, { seqs: [], pos: 3 }, String(limit));
      }
    });

    it('agrees with the Inbox calls made in order, case by case', async () => {
      const { resume, inbox, user, epoch } = await filled(40);
      await inbox.ack(user, 'phone', 7);
      const composed = composeResumeRead(inbox);
      const cases: Array<[string, ResumeFrom, number]> = [
        ['phone', { resumed: true, lastSeq: 10, lastEpoch: epoch }, 32], ['phone', { resumed: false }, 32], ['tablet', { resumed: false }, 5],
        ['phone', { resumed: true, lastSeq: 39 }, 32], ['phone', { resumed: true, lastSeq: 2, lastEpoch: 1 }, 32], ['phone', { resumed: true, lastSeq: 0 }, 40],
      ];
      // Independent of both: what the replay-start rule gives here (the ack at 7 trimmed 1..7; a stale epoch replays from the start).
      const range = (a: number, b: number): number[] => Array.from({ length: b - a + 1 }, (_, i) => a + i);
      const expected: Array<{ after: number; stale: boolean; seqs: number[] }> = [
        { after: 10, stale: false, seqs: range(11, 40) }, { after: 7, stale: false, seqs: range(8, 39) }, { after: 0, stale: false, seqs: range(8, 12) },
        { after: 39, stale: false, seqs: [40] }, { after: 0, stale: true, seqs: range(8, 39) }, { after: 0, stale: false, seqs: range(8, 40) },
      ];
      for (const [i, [device, from, limit]] of cases.entries()) {
        const what = `${device} ${JSON.stringify(from)} ${limit}`;
        const got = await resume.start(user, device, from, limit);
        assert.deepEqual({ pos: got.pos, after: got.after, stale: got.stale, seqs: seqs(got) }, { pos: { seq: 40, epoch }, ...expected[i]! }, what);
        assert.ok(got.first.every((p) => p.epoch === epoch && p.id === `m${p.seq}`), what);
        assert.deepEqual(got, await composed.start(user, device, from, limit), what);
      }
    });
  });
}
