/**
 * NatsBus against a real 3-node nats-server cluster on loopback: a node dies
 * (SIGKILL) or enters lame duck mode under a client, the client reconnects
 * to another node, and delivery resumes.
 *
 * Core NATS is at-most-once: messages in flight when a node dies are lost,
 * and so are those published before the subscriber's interest has reached
 * the publisher's node again. So the tests count the loss (reported as a
 * diagnostic) but assert only that delivery resumes within a bound, with no
 * duplicates and in publish order.
 */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { connectNatsBus, type NatsBus } from '../../services/shared/bus/nats-bus.js';
import { startNatsCluster, recordingLog, nextEvent, type NatsHarness, type LogEntry } from '../../infra/local/nats.js';

const enc = new TextEncoder();
const dec = new TextDecoder();
/** Bound on "delivery resumes after the reconnect" (a loaded 2-core box, route + interest propagation). */
const RESUME_MS = 10_000;

interface Client { bus: NatsBus; entries: LogEntry[] }

async function client(h: NatsHarness, name: string): Promise<Client> {
  const { log, entries } = recordingLog();
  const bus = await connectNatsBus({ servers: h.urls, name, log, reconnectTimeWaitMs: 500, reconnectJitterMs: 200 });
  return { bus, entries };
}

/** Sequence numbers received by a subscriber, with event-driven waits. */
class Received {
  readonly seqs: number[] = [];
  private wake: () => void = () => undefined;
  readonly handler = (data: Uint8Array): void => {
    this.seqs.push(Number(dec.decode(data)));
    this.wake();
  };
  last(): number {
    return this.seqs.at(-1) ?? -1;
  }
  until(pred: () => boolean, what: string, timeoutMs: number): Promise<void> {
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => { this.wake = () => undefined; reject(new Error(`timed out after ${timeoutMs} ms waiting for ${what}; last seq ${this.last()}`)); }, timeoutMs);
      this.wake = () => { if (pred()) { clearTimeout(timer); this.wake = () => undefined; resolve(); } };
      this.wake();
    });
  }
}

/** Publishes 0, 1, 2, ... every `everyMs` until stopped. */
function stream(bus: NatsBus, subject: string, everyMs = 10): { sent(): number; stop(): void } {
  let seq = 0;
  const timer = setInterval(() => bus.publish(subject, enc.encode(String(seq++))), everyMs);
  return { sent: () => seq, stop: () => clearInterval(timer) };
}

function assertOrderedNoDuplicates(seqs: number[]): void {
  for (let i = 1; i < seqs.length; i++) assert.ok(seqs[i]! > seqs[i - 1]!, `out of order or duplicate at ${i}: ${seqs[i - 1]} then ${seqs[i]}`);
}

/**
 * Common scenario: subscriber and publisher on the cluster, a stream flowing;
 * `disrupt(node)` takes away the subscriber's node; both clients must end up
 * on live nodes and the stream must reach the subscriber again.
 */
async function failover(t: { diagnostic(msg: string): void }, disrupt: (h: NatsHarness, node: number) => Promise<void>, expectLdm: boolean): Promise<void> {
  const h = await startNatsCluster(3);
  const sub = await client(h, 'it-sub');
  const pub = await client(h, 'it-pub');
  const s = stream(pub.bus, 'it.stream');
  try {
    const got = new Received();
    sub.bus.subscribe('it.stream', (m) => got.handler(m.data));
    // Interest crosses routes asynchronously: wait for the stream to arrive rather than sleeping.
    await got.until(() => got.seqs.length >= 5, 'the stream before the disruption', RESUME_MS);

    const victim = h.indexOf(sub.bus.server!);
    const pubNode = h.indexOf(pub.bus.server!);
    assert.ok(victim >= 0 && pubNode >= 0, 'clients are on harness nodes');
    t.diagnostic(`subscriber on n${victim}, publisher on n${pubNode}${victim === pubNode ? ' (same node: both move)' : ''}`);

    const ldm = expectLdm ? nextEvent(sub.bus, (e) => e.type === 'ldm', 'lame duck notice') : undefined;
    const down = nextEvent(sub.bus, (e) => e.type === 'disconnect', 'subscriber disconnect');
    const up = nextEvent(sub.bus, (e) => e.type === 'reconnect', 'subscriber reconnect', 60_000);
    const pubUp = victim === pubNode ? nextEvent(pub.bus, (e) => e.type === 'reconnect', 'publisher reconnect', 60_000) : undefined;
    const disruptedAt = Date.now();
    await disrupt(h, victim);
    if (ldm) {
      const e = await ldm;
      assert.equal(h.indexOf(e.server!), victim, 'the LDM notice names the draining node');
    }
    await down;
    const reconnected = await up;
    await pubUp;
    const newNode = h.indexOf(reconnected.server!);
    assert.ok(newNode >= 0 && newNode !== victim, `reconnected to another node (n${newNode}, lost n${victim})`);
    assert.equal(sub.bus.status, 'connected');
    assert.equal(h.indexOf(sub.bus.server!), newNode);

    // Delivery resumes: something published after the reconnect arrives within the bound.
    const sentAtReconnect = s.sent();
    const reconnectedAt = Date.now();
    await got.until(() => got.last() >= sentAtReconnect, `delivery of seq ≥ ${sentAtReconnect} after the reconnect`, RESUME_MS);
    const resumeMs = Date.now() - reconnectedAt;

    s.stop();
    await pub.bus.flush();
    const total = s.sent();
    await got.until(() => got.last() === total - 1, 'the last published message', RESUME_MS);
    assertOrderedNoDuplicates(got.seqs);
    const lost = total - got.seqs.length;
    t.diagnostic(`disruption→reconnect ${reconnectedAt - disruptedAt} ms, reconnect→delivery ${resumeMs} ms; published ${total}, received ${got.seqs.length}, lost ${lost} (at-most-once)`);
    t.diagnostic(`sub counters ${JSON.stringify(sub.bus.counters())}`);
    t.diagnostic(`pub counters ${JSON.stringify(pub.bus.counters())}`);

    const c = sub.bus.counters();
    assert.equal(c.disconnects, 1);
    assert.equal(c.reconnects, 1);
    assert.ok(sub.entries.some((e) => e.level === 'warn' && /disconnected/.test(e.msg)), 'the disconnect was logged');
    if (expectLdm) {
      assert.equal(c.lameDuckNotices, 1);
      assert.ok(sub.entries.some((e) => e.level === 'warn' && /lame duck/.test(e.msg)), 'the LDM notice was logged');
    }
  } finally {
    s.stop();
    await Promise.all([sub.bus.close(), pub.bus.close()]);
    await h.stop();
  }
}

describe('NatsBus on a 3-node nats-server cluster', () => {
  it('kill -9 of the subscriber\'s node: clients reconnect to the others and delivery resumes', async (t) => {
    await failover(t, (h, node) => h.kill(node, 'SIGKILL'), false);
  });

  it('lame duck mode: the client gets the LDM notice, moves when the server lets go, and delivery resumes', async (t) => {
    await failover(t, async (h, node) => {
      h.lameDuck(node);
      // After closing its clients the server shuts itself down.
      await h.exited(node, 60_000);
    }, true);
  });

  it('a killed node restarts on its ports, rejoins the routes and serves clients again', async () => {
    const h = await startNatsCluster(3);
    try {
      await h.kill(2);
      assert.equal(h.alive(2), false);
      await h.restart(2);
      assert.equal(h.alive(2), true);
      // Clients pinned to the restarted node and to another node see each other's traffic.
      const { log } = recordingLog();
      const a = await connectNatsBus({ servers: [h.urls[2]!], name: 'it-a', log });
      const b = await connectNatsBus({ servers: [h.urls[0]!], name: 'it-b', log });
      try {
        b.subscribe('it.rpc', (m) => b.respond(m, enc.encode('ok')));
        await b.flush();
        // Retry until b's interest has crossed the route to node 2 (no-responders until then).
        const deadline = Date.now() + RESUME_MS;
        for (;;) {
          try {
            assert.equal(dec.decode((await a.request('it.rpc', new Uint8Array(0), { timeoutMs: 2000 })).data), 'ok');
            break;
          } catch (err) {
            if (Date.now() > deadline) throw err;
            await new Promise((r) => setTimeout(r, 50));
          }
        }
      } finally {
        await Promise.all([a.close(), b.close()]);
      }
    } finally {
      await h.stop();
    }
  });
});
