/**
 * The JetStream consumer's settling rules (jetstream-consumer.ts) over a
 * scripted consumer: what happens to a message of several jobs when storing
 * one job's retry fails, and to an attempt that ends without settling its job.
 * The real JetStream paths are in tests/contract/webhook-queue.test.ts.
 */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import type { Consumer, JsMsg } from '@nats-io/jetstream';
import { consumeJobs } from '../../services/router/webhooks/jetstream-consumer.js';
import { encodeJobs, type QueuedJob } from '../../services/router/webhooks/job-codec.js';
import type { LeasedJob } from '../../services/router/webhooks/core/queue.js';
import { silent } from '../helpers/log.js';

interface FakeMsg { msg: JsMsg; naks: number[]; terms: number }

function fakeMsg(jobs: QueuedJob[], deliveryCount = 1): FakeMsg {
  const f: FakeMsg = { naks: [], terms: 0, msg: undefined as unknown as JsMsg };
  f.msg = {
    data: encodeJobs(jobs), seq: 1, info: { deliveryCount },
    working: () => undefined, nak: (ms?: number) => { f.naks.push(ms ?? 0); }, term: () => { f.terms++; },
  } as unknown as JsMsg;
  return f;
}

/** A consumer whose first fetch yields `msgs`, later fetches nothing until stopped. */
function scripted(msgs: JsMsg[]): Consumer {
  let first = true;
  return {
    fetch: async () => {
      const batch = first ? msgs : [];
      first = false;
      let stop: () => void = () => undefined;
      const stopped = new Promise<void>((r) => { stop = r; });
      return {
        stop,
        async *[Symbol.asyncIterator]() {
          yield* batch;
          if (batch.length === 0) await stopped;
        },
      };
    },
  } as unknown as Consumer;
}

const job = (n: number): QueuedJob => ({ id: `msg_${n}`, type: 'push.offline', createdAt: Date.now(), body: `{"n":${n}}`, attempts: 0, notBefore: 0 });
const until = async (pred: () => boolean, ms: number, what: string): Promise<void> => {
  const end = Date.now() + ms;
  while (!pred()) {
    if (Date.now() > end) throw new Error(`timed out: ${what}`);
    await new Promise((r) => setTimeout(r, 10));
  }
};

describe('webhook consumer: settling a message of several jobs', () => {
  it('a retry that cannot be stored is stored again later; the message is neither NAKed nor its other jobs sent again', async () => {
    const m = fakeMsg([job(1), job(2), job(3)]);
    const acked: JsMsg[] = [];
    const handed: string[] = [];
    let requeues = 0;
    const c = await consumeJobs({
      consumer: scripted([m.msg]), endpoint: 'e', concurrency: 4, ackWaitMs: 30_000, log: silent,
      handle: async (j: LeasedJob) => { handed.push(j.job.id); if (j.job.id === 'msg_2') await j.retry(1000); else await j.ack(); },
      requeue: async () => { if (++requeues === 1) throw new Error('stream full'); },
      bury: async () => true,
      ack: (msg) => { acked.push(msg); },
    });
    try {
      await until(() => acked.length === 1, 8000, 'the message acked once the retry is stored');
      assert.equal(requeues, 2, 'stored on the second try');
      assert.deepEqual(m.naks, [], 'never NAKed whole');
      assert.deepEqual(handed.sort(), ['msg_1', 'msg_2', 'msg_3'], 'each job handed out once');
    } finally { await c.stop(); }
  });

  it('an attempt that ends without settling its job leaves the message unsettled: it comes back whole', async () => {
    const m = fakeMsg([job(1), job(2)]);
    const acked: JsMsg[] = [];
    const c = await consumeJobs({
      consumer: scripted([m.msg]), endpoint: 'e', concurrency: 4, ackWaitMs: 30_000, log: silent,
      handle: async (j: LeasedJob) => { if (j.job.id === 'msg_1') await j.ack(); else throw new Error('dispatcher bug'); },
      requeue: async () => undefined, bury: async () => true,
      ack: (msg) => { acked.push(msg); },
    });
    try {
      await until(() => m.naks.length === 1, 2000, 'the message NAKed');
      assert.equal(acked.length, 0);
    } finally { await c.stop(); }
  });

  it('a malformed message is terminated, and the consumer goes on', async () => {
    const bad = fakeMsg([job(1)]);
    (bad.msg as { data: Uint8Array }).data = new TextEncoder().encode('LLWH1\nnot a header');
    const good = fakeMsg([job(2)]);
    const acked: JsMsg[] = [];
    const c = await consumeJobs({
      consumer: scripted([bad.msg, good.msg]), endpoint: 'e', concurrency: 4, ackWaitMs: 30_000, log: silent,
      handle: async (j: LeasedJob) => { await j.ack(); }, requeue: async () => undefined, bury: async () => true,
      ack: (msg) => { acked.push(msg); },
    });
    try {
      await until(() => acked.length === 1, 2000, 'the good message acked');
      assert.equal(bad.terms, 1);
    } finally { await c.stop(); }
  });
});
