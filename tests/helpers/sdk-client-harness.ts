/** Shared by the SDK client tests: a client on fake timers and a fake transport, and connect() through its async token step. */
import { LonglinkClient } from '../../sdk/src/client.js';
import { FakeTimers, FakeTransport, flushMicrotasks } from '../../sdk/src/testing.js';
import type { ClientOptions } from '../../sdk/src/types.js';

export function setup(over: Partial<ClientOptions> = {}) {
  const timers = new FakeTimers();
  const tr = new FakeTransport();
  const client = new LonglinkClient({
    url: 'ws://gw.test/ws', token: 'tok', device: 'phone', transport: tr.factory, timers, random: () => 0.5,
    heartbeat: { minMs: 1000, maxMs: 8000, stepMs: 1000, marginMs: 200, successesToStep: 2, timeoutMs: 60_000 },
    backoff: { baseMs: 1000, capMs: 8000, healthyAfterMs: 5000 },
    ...over,
  });
  const states: string[] = [];
  client.on('state', (c) => states.push(c.to));
  const pushes: number[] = [];
  client.on('push', (p) => pushes.push(p.seq));
  return { timers, tr, client, states, pushes };
}

/** connect() and let the async token step run; returns the socket. */
export async function connect(r: ReturnType<typeof setup>) {
  r.client.connect();
  await flushMicrotasks();
  return r.tr.last;
}
