/**
 * The webhook queue contract against the memory adapter and the JetStream
 * adapter (a real nats-server with JetStream, spawned by the harness).
 */
import { after, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { recordingLog, startNatsServer } from '../../infra/local/nats.js';
import { connectNatsBus } from '../../services/shared/bus/nats-bus.js';
import { MemoryWebhookQueue } from '../../services/router/webhooks/memory-queue.js';
import { jetstreamManager } from '@nats-io/jetstream';
import { openJetStreamQueue } from '../../services/router/webhooks/jetstream-queue.js';
import { keyOf } from '../../services/router/webhooks/jetstream-share.js';
import type { LeasedJob, WebhookEvent } from '../../services/router/webhooks/core/queue.js';
import { silent } from '../helpers/log.js';
import { put } from '../helpers/webhook-share.js';
import { until } from '../helpers/until.js';
import { webhookQueueContract, webhookShareContract } from './webhook-queue.contract.js';

const nats = await startNatsServer({ jetstream: true });
const bus = await connectNatsBus({ servers: nats.urls, name: 'webhook-queue-contract', log: silent });
const js = await openJetStreamQueue({ nc: bus.connection, prefix: 'contract', log: silent, timeoutMs: 1000, horizonMs: 60_000, deadTtlMs: 3_600_000 });
const mem = new MemoryWebhookQueue();

after(async () => {
  await js.close();
  await mem.close();
  await bus.close();
  await nats.stop();
});

describe('webhook queue contract: memory', () => webhookQueueContract(() => mem));
describe('webhook queue contract: JetStream', () => webhookQueueContract(() => js));

// The per-user share: each case opens a queue of its own (a fresh subject prefix for JetStream).
let shares = 0;
describe('webhook queue share contract: memory', () => webhookShareContract(async (share) => new MemoryWebhookQueue({ share })));
describe('webhook queue share contract: JetStream', () => webhookShareContract((share) =>
  openJetStreamQueue({ nc: bus.connection, prefix: `contract.share${++shares}`, log: silent, timeoutMs: 1000, horizonMs: 60_000, deadTtlMs: 3_600_000, share })));

const eventOf = (endpoint: string, n: number): WebhookEvent => ({ id: `msg_${endpoint}_${n}`, type: 'push.offline', createdAt: Date.now(), body: `{"n":${n},"s":"é\\n\\t"}` });

describe('JetStream webhook queue', () => {
  it('the jobs of one turn travel as one message and are handed out one by one, bodies intact', async () => {
    const jobs = Array.from({ length: 10 }, (_, i) => eventOf('b-one', i));
    await put(js, 'b-one', ...jobs);
    assert.equal(await js.depth('b-one'), 1, 'one message for the ten');
    const got: LeasedJob[] = [];
    const c = await js.consume('b-one', 4, async (j) => { got.push(j); await j.ack(); });
    try {
      await until(() => got.length === 10, 5000, 'ten jobs');
      assert.deepEqual(got.map((j) => [j.job.id, j.job.body, j.job.endpoint, j.attempt]).sort(), jobs.map((j) => [j.id, j.body, 'b-one', 1]).sort());
      await until(async () => (await js.depth('b-one')) === 0, 5000, 'the message acked');
    } finally { await c.stop(); }
  });

  it('a job of a batch that fails comes back alone, after its delay, as attempt 2; the others are not sent again', async () => {
    await put(js, 'b-retry', ...Array.from({ length: 5 }, (_, i) => eventOf('b-retry', i)));
    const seen: Array<{ id: string; attempt: number; at: number }> = [];
    const c = await js.consume('b-retry', 8, async (j) => {
      seen.push({ id: j.job.id, attempt: j.attempt, at: Date.now() });
      if (j.job.id === 'msg_b-retry_2' && j.attempt < 3) await j.retry(300); else await j.ack();
    });
    try {
      await until(() => seen.length === 7, 5000, 'five jobs and two retries');
      await new Promise((r) => setTimeout(r, 300));
      assert.equal(seen.length, 7, 'nothing else came back');
      const r = seen.filter((s) => s.id === 'msg_b-retry_2');
      assert.deepEqual(r.map((s) => s.attempt), [1, 2, 3]);
      assert.ok(r[1]!.at - r[0]!.at >= 250 && r[2]!.at - r[1]!.at >= 250, `waited the delays (${r[1]!.at - r[0]!.at}, ${r[2]!.at - r[1]!.at} ms)`);
      await until(async () => (await js.depth('b-retry')) === 0, 5000, 'all settled');
    } finally { await c.stop(); }
  });

  it('a job re-published out of a batch and handed out without being held back counts its attempts on', async () => {
    await put(js, 'b-count', ...Array.from({ length: 3 }, (_, i) => eventOf('b-count', i)));
    const attempts: number[] = [];
    const c = await js.consume('b-count', 8, async (j) => {
      if (j.job.id !== 'msg_b-count_1') { await j.ack(); return; }
      attempts.push(j.attempt);
      // A 1 ms delay: the re-published job is due when it arrives, so it is not held back first.
      if (j.attempt < 4) await j.retry(1); else await j.ack();
    });
    try {
      await until(() => attempts.length === 4, 5000, 'four attempts');
      assert.deepEqual(attempts, [1, 2, 3, 4]);
      await until(async () => (await js.depth('b-count')) === 0, 5000, 'all settled');
    } finally { await c.stop(); }
  });

  it('the "single" layout writes one job per message, as the JSON routers before batching read; it drains and retries as usual', async () => {
    const q = await openJetStreamQueue({ nc: bus.connection, prefix: 'contract.single', log: silent, timeoutMs: 1000, horizonMs: 60_000, deadTtlMs: 3_600_000, layout: 'single' });
    try {
      const jobs = Array.from({ length: 4 }, (_, i) => eventOf('s-one', i));
      await put(q, 's-one', ...jobs);
      assert.equal(await q.depth('s-one'), 4, 'a message per job');
      const jsm = await jetstreamManager(bus.connection);
      const raw = await jsm.streams.getMessage(q.stream, { last_by_subj: 'contract.single.webhooks.q.s-one' });
      // What a router before batching accepted: JSON with id, endpoint, body (strings) and createdAt (number).
      const old = JSON.parse(new TextDecoder().decode(raw!.data)) as Record<string, unknown>;
      assert.deepEqual({ id: old.id, endpoint: old.endpoint, body: old.body, createdAt: old.createdAt, type: old.type }, { ...jobs[3]!, endpoint: 's-one' });
      const seen: Array<[string, number]> = [];
      const c = await q.consume('s-one', 4, async (j) => {
        seen.push([j.job.id, j.attempt]);
        if (j.job.id === 'msg_s-one_1' && j.attempt === 1) await j.retry(50); else await j.ack();
      });
      try {
        await until(() => seen.length === 5, 5000, 'four jobs and one retry');
        assert.deepEqual(seen.filter(([id]) => id === 'msg_s-one_1').map(([, a]) => a), [1, 2]);
        await until(async () => (await q.depth('s-one')) === 0, 5000, 'all settled');
      } finally { await c.stop(); }
    } finally { await q.close(); }
  });

  it('a consumer gone mid-batch (a dead router): the whole batch comes back after the lease, under the same ids', async () => {
    await put(js, 'b-crash', ...Array.from({ length: 4 }, (_, i) => eventOf('b-crash', i)));
    const first: string[] = [];
    const c1 = await js.consume('b-crash', 8, async (j) => {
      first.push(j.job.id);
      if (j.job.id !== 'msg_b-crash_3') await j.ack(); // the last one is never settled: its router "dies"
    });
    await until(() => first.length === 4, 5000, 'the batch handed out');
    await c1.stop();
    const second: LeasedJob[] = [];
    const c2 = await js.consume('b-crash', 8, async (j) => { second.push(j); await j.ack(); });
    try {
      await until(() => second.length === 4, 15_000, 'the batch again after the lease');
      assert.deepEqual(second.map((j) => j.job.id).sort(), [...first].sort());
      assert.ok(second.every((j) => j.attempt === 2), 'counted as the second attempt');
      await until(async () => (await js.depth('b-crash')) === 0, 5000, 'acked');
    } finally { await c2.stop(); }
  });


  it('jobs waiting behind a slow receiver keep their lease: none is handed out twice', async () => {
    // ack_wait is 6 s here (timeoutMs 1000 + 5 s); with one slot and 3.5 s per attempt the third job waits 7 s.
    for (let i = 0; i < 3; i++) await put(js, 'b-slow', eventOf('b-slow', i));
    const seen: string[] = [];
    const c = await js.consume('b-slow', 1, async (j) => {
      seen.push(j.job.id);
      await new Promise((r) => setTimeout(r, 3500));
      await j.ack();
    });
    try {
      await until(async () => seen.length >= 3 && (await js.depth('b-slow')) === 0, 20_000, 'three attempts');
      assert.deepEqual(seen.sort(), ['msg_b-slow_0', 'msg_b-slow_1', 'msg_b-slow_2']);
    } finally { await c.stop(); }
  });

  it('the share is released by whichever router delivers: settle notices reach the router that queued the job', async () => {
    const prefix = 'contract.sharex';
    const a = await openJetStreamQueue({ nc: bus.connection, prefix, log: silent, timeoutMs: 1000, horizonMs: 60_000, deadTtlMs: 3_600_000, share: { maxJobs: 2, maxBytes: 1_000_000 } });
    const other = await connectNatsBus({ servers: nats.urls, name: 'webhook-queue-other-router', log: silent });
    const b = await openJetStreamQueue({ nc: other.connection, prefix, log: silent, timeoutMs: 1000, horizonMs: 60_000, deadTtlMs: 3_600_000 });
    try {
      const mine = (n: number): WebhookEvent => ({ ...eventOf('x-share', n), key: 'erin' });
      await put(a, 'x-share', mine(0), mine(1));
      await assert.rejects(put(a, 'x-share', mine(2)), /share/);
      // Router b delivers both (one after a retry re-published out of the batch, its charge carried along).
      const seen: Array<[string, number]> = [];
      const c = await b.consume('x-share', 4, async (j) => { seen.push([j.job.id, j.attempt]); if (j.job.id === 'msg_x-share_1' && j.attempt === 1) await j.retry(300); else await j.ack(); });
      try {
        await until(() => seen.length === 3, 5000, 'two jobs and a retry');
        await until(() => a.share!.ledger.of(keyOf('erin')).jobs === 0, 5000, 'a released both');
        await put(a, 'x-share', mine(3), mine(4));
        await until(() => seen.length === 5, 5000, 'the next two');
      } finally { await c.stop(); }
    } finally { await b.close(); await other.close(); await a.close(); }
  });

  it('the share is the cluster\'s: two routers queueing one user\'s events hold at most one share between them', async () => {
    const prefix = 'contract.sharecluster';
    const share = { maxJobs: 3, maxBytes: 1_000_000 };
    const a = await openJetStreamQueue({ nc: bus.connection, prefix, log: silent, timeoutMs: 1000, horizonMs: 60_000, deadTtlMs: 3_600_000, share });
    const other = await connectNatsBus({ servers: nats.urls, name: 'webhook-queue-second-router', log: silent });
    const b = await openJetStreamQueue({ nc: other.connection, prefix, log: silent, timeoutMs: 1000, horizonMs: 60_000, deadTtlMs: 3_600_000, share });
    const key = keyOf('ivan');
    const mine = (n: number): WebhookEvent => ({ ...eventOf('x-cluster', n), key: 'ivan' });
    const tryEnqueue = (q: typeof a, n: number): Promise<string> => put(q, 'x-cluster', mine(n)).then(() => 'ok', (e: unknown) => (/share/.test(String(e)) ? 'share' : String(e)));
    try {
      assert.deepEqual(await Promise.all([tryEnqueue(a, 0), tryEnqueue(a, 1)]), ['ok', 'ok']);
      await until(() => b.share!.elsewhere(key).jobs === 2, 5000, 'b learns a\'s charges');
      assert.deepEqual([await tryEnqueue(b, 2), await tryEnqueue(b, 3)], ['ok', 'share'], 'b holds one, the share is full');
      await until(() => a.share!.elsewhere(key).jobs === 1, 5000, 'a learns b\'s charge');
      assert.equal(await tryEnqueue(a, 4), 'share', 'a refuses too');
      assert.deepEqual(await Promise.all([tryEnqueue(a, 5), tryEnqueue(b, 6)].concat([20, 21, 22].map((n) => put(b, 'x-cluster', { ...eventOf('x-cluster', n), key: 'judy' }).then(() => 'ok')))), ['share', 'share', 'ok', 'ok', 'ok'], 'another user still enqueues');
      // Whichever router delivers, both learn the jobs left: the user has the whole share back, at either router.
      const seen: string[] = [];
      const c = await b.consume('x-cluster', 8, async (j) => { seen.push(j.job.id); await j.ack(); });
      try {
        await until(() => seen.length === 6, 5000, 'every stored job delivered');
        assert.deepEqual(seen.filter((id) => !/_2\d$/.test(id)).sort(), ['msg_x-cluster_0', 'msg_x-cluster_1', 'msg_x-cluster_2'], 'the refused were never queued');
        await until(() => a.share!.ledger.of(key).jobs + a.share!.elsewhere(key).jobs === 0 && b.share!.ledger.of(key).jobs + b.share!.elsewhere(key).jobs === 0, 5000, 'both released');
        assert.deepEqual(await Promise.all([tryEnqueue(a, 7), tryEnqueue(a, 8), tryEnqueue(b, 10)]), ['ok', 'ok', 'ok']);
      } finally { await c.stop(); }
    } finally { await b.close(); await other.close(); await a.close(); }
  });

  it('share notices with a negative, fractional or non-numeric count are skipped: a forged item frees no share', async () => {
    const prefix = 'contract.sharenotices';
    const a = await openJetStreamQueue({ nc: bus.connection, prefix, log: silent, timeoutMs: 1000, horizonMs: 60_000, deadTtlMs: 3_600_000, share: { maxJobs: 3, maxBytes: 1_000 } });
    const other = await connectNatsBus({ servers: nats.urls, name: 'webhook-queue-notice-forger', log: silent });
    const key = keyOf('mallory');
    try {
      const bad = [`${key}/-5000/1`, `${key}/1.5/2`, `${key}/abc/3`, `${key}/10/-1`, `${key}/10/0.5`].join(' ');
      other.connection.publish(`${prefix}.webhooks.charged.f00d`, bad);
      other.connection.publish(`${prefix}.webhooks.settled.f00d`, `${key}/-9000/5`);
      other.connection.publish(`${prefix}.webhooks.charged.f00d`, `${key}/10/6`);
      await until(() => a.share!.elsewhere(key).jobs >= 1, 5000, 'the well-formed charge is heard');
      assert.deepEqual(a.share!.elsewhere(key), { jobs: 1, bytes: 10 }, 'only the well-formed item counts');
    } finally { await other.close(); await a.close(); }
  });

  it('counts jobs of an endpoint no router consumes yet; an enqueue the stream cannot take fails (never hangs)', async () => {
    const q = await openJetStreamQueue({ nc: bus.connection, prefix: 'contract.broken', log: silent, timeoutMs: 1000, horizonMs: 60_000, deadTtlMs: 3_600_000 });
    try {
      await put(q, 'idle', { id: 'msg_a', type: 'push.offline', createdAt: Date.now(), body: '{}' });
      assert.equal(await q.depth('idle'), 1);
      await q.manager.streams.delete(q.stream);
      await assert.rejects(put(q, 'idle', { id: 'msg_b', type: 'push.offline', createdAt: Date.now(), body: '{}' }), /JetStream/);
    } finally {
      await q.close();
    }
  });
});

describe('JetStream webhook queue: dead-letter bound', () => {
  it('the dead-letter stream is bounded in bytes: past it the longest-dead go first, the newest stay', async () => {
    const q = await openJetStreamQueue({ nc: bus.connection, prefix: 'contract.deadbound', log: silent, timeoutMs: 1000, horizonMs: 60_000, deadTtlMs: 3_600_000, deadMaxBytes: 64 * 1024 });
    const body = JSON.stringify({ pad: 'x'.repeat(2000) });
    const n = 100;
    let buried = 0;
    const c = await q.consume('gone', 16, async (j: LeasedJob) => { await j.dead({ job: j.job, attempts: 1, reason: 'HTTP 500', deadAt: Date.now() }); buried++; });
    try {
      for (let i = 0; i < n; i++) await put(q, 'gone', { id: `msg_dead_${i}`, type: 'push.offline', createdAt: Date.now(), body });
      await until(() => buried >= n, 20_000, 'every job dead-lettered');
      const info = await q.manager.streams.info(q.deadStream);
      assert.equal(info.config.max_bytes, 64 * 1024);
      assert.ok(info.state.bytes <= 64 * 1024, `dead stream holds ${info.state.bytes} bytes`);
      const count = await q.deadCount('gone');
      assert.ok(count > 0 && count < n, `${count} of ${n} dead letters kept`);
      const kept = (await q.listDead('gone', n)).map((d) => d.job.id);
      assert.ok(kept.includes(`msg_dead_${n - 1}`), 'the newest dead letter is kept');
      assert.ok(!kept.includes('msg_dead_0'), 'the longest-dead went first');
    } finally {
      await c.stop();
      await q.close();
    }
  });

  it('an existing dead-letter stream without a byte bound gets one when a router opens the queue', async () => {
    const jsm = await jetstreamManager(bus.connection);
    await jsm.streams.add({ name: 'contract_old_webhooks_dead', subjects: ['contract.old.webhooks.dead.*'], max_age: 3_600_000 * 1_000_000 });
    const q = await openJetStreamQueue({ nc: bus.connection, prefix: 'contract.old', log: silent, timeoutMs: 1000, horizonMs: 60_000, deadTtlMs: 3_600_000 });
    try {
      assert.equal((await jsm.streams.info(q.deadStream)).config.max_bytes, 1024 ** 3);
    } finally {
      await q.close();
    }
  });

  it('a byte bound an operator set on the dead-letter stream is kept', async () => {
    const jsm = await jetstreamManager(bus.connection);
    await jsm.streams.add({ name: 'contract_op_webhooks_dead', subjects: ['contract.op.webhooks.dead.*'], max_age: 3_600_000 * 1_000_000, max_bytes: 5 * 1024 ** 2 });
    const q = await openJetStreamQueue({ nc: bus.connection, prefix: 'contract.op', log: silent, timeoutMs: 1000, horizonMs: 60_000, deadTtlMs: 3_600_000 });
    try {
      assert.equal((await jsm.streams.info(q.deadStream)).config.max_bytes, 5 * 1024 ** 2, 'not reset to 1 GiB (dropping dead letters)');
    } finally {
      await q.close();
    }
  });

  it('NATS servers that cannot reserve the dead-letter bound: the queue opens (age bound only) and says so', async () => {
    // 1.5 GB of file store: the queue stream's 1 GiB reservation fits, the dead stream's second 1 GiB does not.
    const small = await startNatsServer({ jetstream: true, jetstreamMaxFileStore: '1536MB' });
    const nc = await connectNatsBus({ servers: small.urls, name: 'webhook-queue-small', log: silent });
    try {
      const jsm = await jetstreamManager(nc.connection);
      await jsm.streams.add({ name: 'contract_pre_webhooks_dead', subjects: ['contract.pre.webhooks.dead.*'], max_age: 3_600_000 * 1_000_000 });
      for (const prefix of ['contract.fresh', 'contract.pre']) {
        const { log, entries } = recordingLog();
        const q = await openJetStreamQueue({ nc: nc.connection, prefix, log, timeoutMs: 1000, horizonMs: 60_000, deadTtlMs: 3_600_000 });
        try {
          const dead = await jsm.streams.info(q.deadStream);
          assert.equal(dead.config.max_age, 3_600_000 * 1_000_000, prefix);
          assert.ok(dead.config.max_bytes <= 0, `${prefix}: no byte bound (${dead.config.max_bytes})`);
          assert.ok(entries.some((e) => e.level === 'warn' && /dead-letter stream left without a byte bound/.test(e.msg)), `${prefix}: warned`);
          // The router's webhook thread opens the queue its main thread set up: it says nothing more (it warned twice).
          const worker = recordingLog();
          const w = await openJetStreamQueue({ nc: nc.connection, prefix, log: worker.log, timeoutMs: 1000, horizonMs: 60_000, deadTtlMs: 3_600_000, ensureStreams: false });
          await w.close();
          assert.deepEqual(worker.entries.filter((e) => e.level === 'warn').map((e) => e.msg), [], `${prefix}: warned once`);
          await jsm.streams.delete(q.stream);
        } finally {
          await q.close();
        }
      }
    } finally {
      await nc.close();
      await small.stop();
    }
  });
});

/*
 * The memory queue's bounds are tested here, not in the shared contract: the
 * JetStream queue is bounded too (max_bytes with DiscardNew on the queue
 * stream, DiscardOld on the dead stream), but by the stream's stored bytes
 * (framing and batches included) across every endpoint, so no one set of
 * numbers means the same on both adapters.
 */
describe('memory webhook queue: bounds', () => {
  const held = (j: LeasedJob[]): ((l: LeasedJob) => Promise<void>) => async (l) => { j.push(l); };

  it('enqueue past the job or byte bound rejects (every endpoint together); an ack makes room again', async () => {
    const q = new MemoryWebhookQueue({ maxJobs: 3, maxBytes: 1000 });
    try {
      const got: LeasedJob[] = [];
      const c = await q.consume('m-a', 8, held(got));
      for (let i = 0; i < 2; i++) await put(q, 'm-a', eventOf('m-a', i));
      await put(q, 'm-b', eventOf('m-b', 0));
      await assert.rejects(put(q, 'm-b', eventOf('m-b', 1)), /webhook queue full/);
      await until(() => got.length === 2, 2000, 'two in flight');
      await assert.rejects(put(q, 'm-a', eventOf('m-a', 9)), /webhook queue full/, 'in-flight jobs count');
      await got[0]!.ack();
      await put(q, 'm-a', eventOf('m-a', 2));
      await got[1]!.retry(60_000);
      await assert.rejects(put(q, 'm-a', eventOf('m-a', 3)), /webhook queue full/, 'a job waiting for its retry counts');
      await c.stop();
      const big = new MemoryWebhookQueue({ maxJobs: 100, maxBytes: 1000 });
      await put(big, 'm-c', { ...eventOf('m-c', 0), body: 'é'.repeat(300) });
      await assert.rejects(put(big, 'm-c', { ...eventOf('m-c', 1), body: 'é'.repeat(250) }), /webhook queue full/, 'bytes are UTF-8 bytes: 600 + 500 > 1000');
      await put(big, 'm-c', { ...eventOf('m-c', 2), body: 'x'.repeat(400) });
      assert.deepEqual(big.usage, { jobs: 2, bytes: 1000, dead: 0, deadBytes: 0 });
      await big.close();
    } finally { await q.close(); }
  });

  it('an event\'s copies are stored as far as the job and byte bounds hold room (one check for all), the rest refused; a share refuses after it', async () => {
    const outcome = (ps: Array<Promise<void>>): Promise<string[]> =>
      Promise.all(ps.map((p) => p.then(() => 'ok', (e: unknown) => (/webhook queue full/.test(String(e)) ? 'full' : /share/.test(String(e)) ? 'share' : String(e)))));
    const body = (n: number, bytes: number): WebhookEvent => ({ ...eventOf('m-e', n), body: 'x'.repeat(bytes) });
    const eps = ['m-e1', 'm-e2', 'm-e3', 'm-e4'];
    const jobs = new MemoryWebhookQueue({ maxJobs: 4, maxBytes: 1_000_000 });
    const bytes = new MemoryWebhookQueue({ maxJobs: 100, maxBytes: 1000 });
    const shared = new MemoryWebhookQueue({ maxJobs: 3, maxBytes: 1_000_000, share: { maxJobs: 2, maxBytes: 1_000_000 } });
    try {
      await put(jobs, 'm-e1', body(0, 10));
      assert.deepEqual(await outcome(jobs.enqueueEvent(body(1, 10), eps)), ['ok', 'ok', 'ok', 'full'], 'one job held: three of four copies fit 4 jobs');
      assert.deepEqual(await outcome(jobs.enqueueEvent(body(2, 10), eps.slice(0, 2))), ['full', 'full']);
      assert.deepEqual(jobs.usage, { jobs: 4, bytes: 40, dead: 0, deadBytes: 0 });
      assert.deepEqual(await outcome(bytes.enqueueEvent(body(0, 300), eps)), ['ok', 'ok', 'ok', 'full'], '900 of 1000 bytes: a fourth 300 does not fit');
      assert.deepEqual(await outcome(bytes.enqueueEvent(body(1, 100), eps.slice(0, 2))), ['ok', 'full'], 'exactly up to the bound, not past it');
      assert.deepEqual(await outcome(bytes.enqueueEvent(body(2, 0), eps.slice(0, 2))), ['ok', 'ok'], 'empty bodies take no bytes');
      assert.deepEqual(bytes.usage, { jobs: 6, bytes: 1000, dead: 0, deadBytes: 0 });
      // Room first, then the share: copies the queue had no room for are neither charged nor called share refusals.
      assert.deepEqual(await outcome(shared.enqueueEvent({ ...body(0, 10), key: 'kim' }, eps.slice(0, 3))), ['ok', 'ok', 'share']);
      assert.deepEqual(await outcome(shared.enqueueEvent({ ...body(1, 10), key: 'lee' }, eps.slice(0, 3))), ['ok', 'full', 'full']);
      assert.deepEqual(shared.usage, { jobs: 3, bytes: 30, dead: 0, deadBytes: 0 });
    } finally { await jobs.close(); await bytes.close(); await shared.close(); }
  });

  it('dead letters past the bound drop the longest-dead first, across endpoints; a replay moves only what fits', async () => {
    const q = new MemoryWebhookQueue({ maxJobs: 3, maxBytes: 10_000 });
    try {
      let at = 0;
      const kill = async (l: LeasedJob): Promise<void> => { await l.dead({ job: l.job, attempts: 1, reason: 'HTTP 500', deadAt: ++at }); };
      const ca = await q.consume('d-a', 1, kill);
      const cb = await q.consume('d-b', 1, kill);
      for (let i = 0; i < 2; i++) { await put(q, 'd-a', eventOf('d-a', i)); await until(async () => (await q.deadCount('d-a')) === i + 1, 2000, 'dead a'); }
      for (let i = 0; i < 2; i++) { await put(q, 'd-b', eventOf('d-b', i)); await until(async () => q.usage.jobs === 0 && (await q.deadCount('d-b')) === i + 1, 2000, 'dead b'); }
      // Four died, three are kept: d-a's first (the longest dead) went.
      assert.deepEqual((await q.listDead('d-a', 10)).map((d) => d.job.id), ['msg_d-a_1']);
      assert.deepEqual((await q.listDead('d-b', 10)).map((d) => d.job.id), ['msg_d-b_0', 'msg_d-b_1']);
      assert.deepEqual(q.usage.dead, 3);
      await ca.stop();
      await cb.stop();
      // Fill the queue to one free slot: a replay of two moves one; the other stays dead.
      await put(q, 'd-c', eventOf('d-c', 0), eventOf('d-c', 1));
      assert.equal(await q.replayDead('d-b', 10), 1);
      assert.deepEqual((await q.listDead('d-b', 10)).map((d) => d.job.id), ['msg_d-b_1']);
      assert.deepEqual([q.usage.jobs, q.usage.dead], [3, 2]);
    } finally { await q.close(); }
  });
});
