/**
 * Large offline backlogs replay in one connection (250 x 60 KB = 15 MB
 * against a 1 MiB send-buffer cap): the replay is paced by the socket
 * draining and fetched page by page, and the client's acks are applied as it
 * goes. Standalone (in-memory, uWS) and a real cluster (NATS, whose default
 * 1 MiB payload limit a one-shot reply would also exceed, and Redis).
 */
import { after, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { encodeAck, type PushFrame } from '../../protocol/index.js';
import { mustConnect, type TestClient } from '../helpers/client.js';
import { startCluster, type Cluster } from '../../infra/local/cluster-harness.js';
import { push, start, TEST_SECRET } from '../helpers/standalone.js';
import { mintToken } from '../../services/standalone/dev-token.js';
import type { Standalone } from '../../services/standalone/app.js';

const COUNT = 250;
const SIZE = 60 * 1024;

interface Target {
  url: string;
  token(user: string): Promise<string>;
  push(user: string, i: number): Promise<number>;
}

async function fill(t: Target, user: string, base: number): Promise<void> {
  for (let i = 0; i < COUNT; i++) assert.equal(await t.push(user, base + i), 200);
}

/** Reads until `want` pushes arrived, acking every 10 as a client does; returns the pushes' marks. */
async function readAll(c: TestClient, want: number): Promise<number[]> {
  let acked = 0;
  await c.until(() => {
    const pushes = c.frames.filter((f): f is PushFrame => f.op === 'push');
    if (pushes.length - acked >= 10 || (pushes.length === want && acked < want)) {
      c.send(encodeAck(pushes.at(-1)!.seq));
      acked = pushes.length;
    }
    return pushes.length >= want || c.closed !== undefined;
  }, 60_000, `${want} pushes`);
  assert.equal(c.closed, undefined, `connection stayed open: ${JSON.stringify(c.closed)}`);
  return c.frames.filter((f): f is PushFrame => f.op === 'push').map((p) => (p.data as { i: number }).i);
}

function backlogCases(name: string, target: () => Target): void {
  it(`${name}: a fresh session gets all of a ${COUNT} x 60 KB backlog in one connection, acks trimming it`, async () => {
    const t = target();
    await fill(t, 'fresh', 0);
    const c = await mustConnect(t.url, { token: await t.token('fresh') });
    const marks = await readAll(c, COUNT);
    assert.deepEqual(marks, Array.from({ length: COUNT }, (_, i) => i), 'every push once, in order');
    // Acks are batched on their way to the inbox (at-least-once): give the last one time to land.
    await new Promise((r) => setTimeout(r, 500));
    c.close();
    // The acks arrived: a new fresh session has nothing left to replay.
    const again = await mustConnect(t.url, { token: await t.token('fresh') });
    const hello = await again.frame('hello');
    assert.equal(hello.resumed, false);
    await new Promise((r) => setTimeout(r, 500));
    assert.equal(again.frames.filter((f) => f.op === 'push').length, 0, 'acked during the replay: nothing replayed again');
    again.close();
  });

  it(`${name}: a resumed session gets all of a ${COUNT} x 60 KB backlog in one connection`, async () => {
    const t = target();
    const first = await mustConnect(t.url, { token: await t.token('resumer') });
    const hello = await first.frame('hello');
    first.close();
    await new Promise((r) => setTimeout(r, 200));
    await fill(t, 'resumer', 1000);
    const c = await mustConnect(t.url, { token: await t.token('resumer'), query: { session: hello.session, last_seq: String(hello.seq) } });
    assert.equal((await c.frame('hello')).resumed, true);
    const marks = await readAll(c, COUNT);
    assert.deepEqual(marks, Array.from({ length: COUNT }, (_, i) => 1000 + i));
    c.close();
  });
}

describe('replay of large backlogs', () => {
  let s: Standalone | undefined;
  let cluster: Cluster | undefined;
  after(async () => { await s?.close(); await cluster?.stop(); });

  let standalone: Target;
  it('standalone starts', async () => {
    s = await start();
    const sa = s;
    standalone = {
      url: sa.gatewayUrl,
      token: (u) => mintToken(TEST_SECRET, u),
      push: async (u, i) => (await push(sa, [u], { i, pad: 'x'.repeat(SIZE) })).status,
    };
  });
  backlogCases('standalone', () => standalone);

  let clustered: Target;
  it('cluster starts', async () => {
    cluster = await startCluster({ gateways: 1 });
    const cl = cluster;
    clustered = { url: cl.url, token: (u) => cl.token(u), push: async (u, i) => (await cl.push([u], { i, pad: 'x'.repeat(SIZE) })).status };
  });
  backlogCases('cluster', () => clustered);
});
