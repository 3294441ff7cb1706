/**
 * The webhook queue contract (services/router/webhooks/core/queue.ts), run
 * against every adapter (webhook-queue.test.ts: memory and JetStream). Each
 * case uses its own endpoint name, so adapters may share one queue.
 */
import { it } from 'node:test';
import assert from 'node:assert/strict';
import type { LeasedJob, WebhookQueue } from '../../services/router/webhooks/core/queue.js';
import type { WebhookJob } from '../../services/router/webhooks/core/types.js';

const job = (endpoint: string, n: number): WebhookJob => ({ id: `msg_${endpoint}_${n}`, endpoint, type: 'push.offline', createdAt: Date.now(), body: `{"n":${n}}` });

async function until(pred: () => boolean | Promise<boolean>, ms: number, what: string): Promise<void> {
  const end = Date.now() + ms;
  while (!(await pred())) {
    if (Date.now() > end) throw new Error(`timed out: ${what}`);
    await new Promise((r) => setTimeout(r, 20));
  }
}

export function webhookQueueContract(queue: () => WebhookQueue): void {
  it('hands out what was enqueued (attempt 1, the same job), and an ack removes it', async () => {
    const q = queue();
    const got: LeasedJob[] = [];
    const c = await q.consume('c-ack', 4, async (j) => { got.push(j); await j.ack(); });
    try {
      await q.enqueue(job('c-ack', 1));
      await q.enqueue(job('c-ack', 2));
      await until(() => got.length === 2, 5000, 'two jobs');
      assert.deepEqual(got.map((j) => [j.job.id, j.job.body, j.attempt]).sort(), [['msg_c-ack_1', '{"n":1}', 1], ['msg_c-ack_2', '{"n":2}', 1]]);
      await until(async () => (await q.depth('c-ack')) === 0, 5000, 'depth 0 after the acks');
    } finally { await c.stop(); }
  });

  it('retry(delay) hands the same job out again after the delay, attempt 2', async () => {
    const q = queue();
    const seen: Array<{ id: string; attempt: number; at: number }> = [];
    const c = await q.consume('c-retry', 4, async (j) => {
      seen.push({ id: j.job.id, attempt: j.attempt, at: Date.now() });
      if (j.attempt === 1) await j.retry(300); else await j.ack();
    });
    try {
      await q.enqueue(job('c-retry', 1));
      await until(() => seen.length === 2, 5000, 'the retry');
      assert.deepEqual(seen.map((s) => [s.id, s.attempt]), [['msg_c-retry_1', 1], ['msg_c-retry_1', 2]]);
      assert.ok(seen[1]!.at - seen[0]!.at >= 250, `waited the delay (${seen[1]!.at - seen[0]!.at} ms)`);
    } finally { await c.stop(); }
  });

  it('dead letters are counted and listed; a replay hands them out again with their id, and empties them', async () => {
    const q = queue();
    const seen: LeasedJob[] = [];
    const c = await q.consume('c-dead', 4, async (j) => {
      seen.push(j);
      if (seen.filter((s) => s.job.id === j.job.id).length === 1) await j.dead({ job: j.job, attempts: j.attempt, reason: 'HTTP 503', deadAt: 5 });
      else await j.ack();
    });
    try {
      for (let i = 0; i < 3; i++) await q.enqueue(job('c-dead', i));
      await until(async () => (await q.deadCount('c-dead')) === 3, 5000, 'three dead letters');
      const listed = await q.listDead('c-dead', 2);
      assert.equal(listed.length, 2);
      assert.deepEqual(listed.map((d) => [d.reason, d.attempts, d.deadAt]), [['HTTP 503', 1, 5], ['HTTP 503', 1, 5]]);
      assert.equal(await q.deadCount('c-dead'), 3, 'listing removes nothing');
      assert.equal(await q.replayDead('c-dead', 2), 2);
      assert.equal(await q.replayDead('c-dead', 10), 1);
      await until(() => seen.length === 6, 5000, 'the replays');
      assert.deepEqual(new Set(seen.slice(3).map((j) => j.job.id)), new Set(seen.slice(0, 3).map((j) => j.job.id)));
      await until(async () => (await q.deadCount('c-dead')) === 0 && (await q.depth('c-dead')) === 0, 5000, 'all gone');
      assert.deepEqual(await q.listDead('c-dead', 10), []);
      assert.equal(await q.replayDead('c-dead', 10), 0);
    } finally { await c.stop(); }
  });

  it('at most `concurrency` jobs at once; depth counts waiting and in-flight jobs', async () => {
    const q = queue();
    let active = 0, peak = 0, done = 0;
    const release: Array<() => void> = [];
    const c = await q.consume('c-conc', 2, async (j) => {
      active++; peak = Math.max(peak, active);
      await new Promise<void>((r) => release.push(r));
      active--; done++;
      await j.ack();
    });
    try {
      for (let i = 0; i < 5; i++) await q.enqueue(job('c-conc', i));
      await until(() => active === 2, 5000, 'two in flight');
      assert.equal(await q.depth('c-conc'), 5);
      while (done < 5) {
        await until(() => release.length > 0, 5000, 'a job in flight');
        release.shift()!();
        await new Promise((r) => setTimeout(r, 20));
      }
      assert.equal(peak, 2);
      await until(async () => (await q.depth('c-conc')) === 0, 5000, 'depth 0');
    } finally { await c.stop(); }
  });
}
