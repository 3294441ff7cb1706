/**
 * Runs the Bus contract against the in-memory adapter and against NatsBus on a
 * real nats-server spawned by the harness, then checks what only the NATS
 * adapter has: connection state, counters, and the hold-and-replay of
 * publishes made while disconnected (the v3 client itself drops them).
 */
import { describe, it, after } from 'node:test';
import assert from 'node:assert/strict';
import { MemoryBus } from '../../services/shared/bus/memory-bus.js';
import { connectNatsBus, type NatsBus, type NatsBusOptions } from '../../services/shared/bus/nats-bus.js';
import { startNatsServer, recordingLog, nextEvent, type NatsHarness } from '../../infra/local/nats.js';
import { busContract } from './bus.contract.js';
import type { BusMessage } from '../../services/shared/bus/bus.js';

const enc = new TextEncoder();
const dec = new TextDecoder();

busContract('memory', async () => {
  const bus = new MemoryBus();
  return { bus, other: async () => bus, close: () => bus.close() };
});

let shared: Promise<NatsHarness> | undefined;
const server = (): Promise<NatsHarness> => (shared ??= startNatsServer());
after(async () => { await (await shared)?.stop(); });

const open = (urls: string[], name: string, extra: Partial<NatsBusOptions> = {}): Promise<NatsBus> =>
  connectNatsBus({ servers: urls, name, log: recordingLog().log, reconnectTimeWaitMs: 250, reconnectJitterMs: 100, ...extra });

busContract('nats', async () => {
  const { urls } = await server();
  const buses: NatsBus[] = [await open(urls, 'contract-a')];
  return {
    bus: buses[0]!,
    other: async () => { const b = await open(urls, 'contract-b'); buses.push(b); return b; },
    close: async () => { await Promise.all(buses.map((b) => b.close())); },
  };
});

/** Resolves when `pred` holds for the received messages (checked on each arrival). */
function collector(): { handler: (m: BusMessage) => void; texts: string[]; until(pred: (t: string[]) => boolean, what: string): Promise<void> } {
  const texts: string[] = [];
  let wake = (): void => undefined;
  return {
    texts,
    handler: (m) => { texts.push(dec.decode(m.data)); wake(); },
    until: (pred, what) => new Promise((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`timed out waiting for ${what}; got [${texts.join(', ')}]`)), 30_000);
      wake = () => { if (pred(texts)) { clearTimeout(timer); wake = () => undefined; resolve(); } };
      wake();
    }),
  };
}

describe('NatsBus specifics', () => {
  it('reports its connection state, server and counters, and counts failing handlers', async () => {
    const h = await server();
    const { log, entries } = recordingLog();
    const bus = await open(h.urls, 'specifics', { log });
    try {
      assert.equal(bus.status, 'connected');
      assert.equal(h.indexOf(bus.server!), 0);
      const got = collector();
      bus.subscribe('spec.h', () => { throw new Error('sync failure'); });
      bus.subscribe('spec.h', async () => { throw new Error('async failure'); });
      bus.subscribe('spec.h', got.handler);
      for (const s of ['1', '2']) bus.publish('spec.h', enc.encode(s));
      await got.until((t) => t.length === 2, 'two deliveries');
      await bus.flush();
      await new Promise<void>((r) => setImmediate(r)); // let the async handler's rejection settle
      assert.equal(bus.counters().handlerErrors, 4);
      assert.ok(entries.some((e) => e.level === 'error' && e.msg === 'bus handler failed'));
      assert.deepEqual(bus.pendingWhileDisconnected, { messages: 0, bytes: 0 });
      assert.ok(bus.traffic().outMsgs >= 2);
    } finally {
      const closed = nextEvent(bus, (e) => e.type === 'close', 'close event');
      await bus.close();
      await closed;
    }
    assert.equal(bus.status, 'closed');
    assert.equal(bus.server, undefined);
    bus.publish('spec.h', enc.encode('late'));
    assert.equal(bus.counters().droppedAfterClose, 1);
    await bus.flush(); // resolves after close
  });

  it('holds publishes made while disconnected and replays them in order after reconnecting; requests and flush wait for the reconnect', async () => {
    // Own server: this test kills it.
    const h = await startNatsServer();
    const bus = await open(h.urls, 'replay', { maxPendingEvents: 5 });
    try {
      const got = collector();
      bus.subscribe('replay.x', got.handler);
      bus.subscribe('replay.rpc', (m) => bus.respond(m, enc.encode(`re:${dec.decode(m.data)}`)));
      bus.publish('replay.x', enc.encode('before'));
      await got.until((t) => t.includes('before'), 'delivery before the outage');

      const down = nextEvent(bus, (e) => e.type === 'disconnect', 'disconnect');
      await h.kill(0);
      await down;
      assert.equal(bus.status, 'reconnecting');
      assert.equal(bus.server, undefined);
      for (let i = 0; i < 7; i++) bus.publish('replay.x', enc.encode(`held${i}`));
      assert.deepEqual(bus.pendingWhileDisconnected.messages, 5);
      const reply = bus.request('replay.rpc', enc.encode('q'), { timeoutMs: 30_000 });
      const flushed = bus.flush();

      const up = nextEvent(bus, (e) => e.type === 'reconnect', 'reconnect');
      await h.restart(0);
      await up;
      assert.equal(bus.status, 'connected');
      assert.equal(dec.decode((await reply).data), 're:q');
      await flushed;
      // The two oldest were dropped (bound of 5); the rest arrive in order.
      await got.until((t) => t.includes('held6'), 'replayed publishes');
      assert.deepEqual(got.texts, ['before', 'held2', 'held3', 'held4', 'held5', 'held6']);
      const c = bus.counters();
      assert.equal(c.disconnects, 1);
      assert.equal(c.reconnects, 1);
      assert.ok(c.reconnectAttempts >= 1);
      assert.equal(c.bufferedWhileDisconnected, 7);
      assert.equal(c.droppedWhileDisconnected, 2);
      assert.equal(c.replayedAfterReconnect, 5);
      assert.deepEqual(bus.pendingWhileDisconnected, { messages: 0, bytes: 0 });
    } finally {
      await bus.close();
      await h.stop();
    }
  });

  it('a request made while disconnected times out with BusTimeoutError if no server comes back in time', async () => {
    const h = await startNatsServer();
    const bus = await open(h.urls, 'timeout-down');
    try {
      const down = nextEvent(bus, (e) => e.type === 'disconnect', 'disconnect');
      await h.kill(0);
      await down;
      await assert.rejects(bus.request('nowhere', enc.encode('?'), { timeoutMs: 300 }), (err: unknown) => err instanceof Error && err.name === 'BusTimeoutError');
    } finally {
      await bus.close();
      await h.stop();
    }
    assert.equal(bus.status, 'closed');
  });
});
