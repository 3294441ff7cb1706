/**
 * A stalled gateway does not miss a router's reply that arrived in time:
 * NatsBus.request's deadline (nats-requests.ts, shared/deadline.ts) counts as
 * missed only once the event loop has read the socket after the timer
 * fired. The requesting process is stalled by a synchronous busy-wait past
 * the deadline while a responder in another process answers at once; with
 * the client's own request timer the expired timer ran before the poll
 * phase and the request (a session start's resume) failed with its answer
 * waiting. A responder that really does not answer (SIGSTOP) still fails the
 * request in bounded time, and no responders is still told apart.
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import { connectNatsBus, type NatsBus } from '../../services/shared/bus/nats-bus.js';
import { BusNoRespondersError, BusTimeoutError } from '../../services/shared/bus/bus.js';
import { startNatsServer, recordingLog, type NatsHarness } from '../../infra/local/nats.js';

const enc = new TextEncoder();
const dec = new TextDecoder();
const TIMEOUT_MS = 100;

/** Blocks the event loop (a CPU-starved or GC-paused process). */
function stall(ms: number): void {
  const end = performance.now() + ms;
  while (performance.now() < end) { /* busy */ }
}

/** Lets the request's publish reach the socket (the client writes at the end of the turn). */
const afterSend = (): Promise<void> => new Promise((r) => setImmediate(r));

/** An echo responder in its own process (the stalled one cannot answer itself). */
async function responder(url: string): Promise<ChildProcess> {
  const src = `import { connect } from '@nats-io/transport-node';
    const nc = await connect({ servers: ${JSON.stringify(url)} });
    nc.subscribe('stall.echo', { callback: (_e, m) => m.respond(m.data) });
    await nc.flush();
    process.stdout.write('ready\\n');`;
  const child = spawn(process.execPath, ['--input-type=module', '-e', src], { cwd: process.cwd(), stdio: ['ignore', 'pipe', 'inherit'] });
  const [chunk] = (await once(child.stdout!, 'data')) as [Buffer];
  assert.match(chunk.toString(), /ready/);
  return child;
}

describe('NatsBus.request: deadlines under a stalled event loop', () => {
  let h: NatsHarness;
  let bus: NatsBus;
  let child: ChildProcess;

  before(async () => {
    h = await startNatsServer();
    bus = await connectNatsBus({ servers: h.urls, name: 'stall-test', log: recordingLog().log });
    child = await responder(h.urls[0]!);
  });

  after(async () => {
    child.kill('SIGKILL');
    await bus.close();
    await h.stop();
  });

  it('a reply that arrived while the process was stalled past the deadline is taken, not timed out', async () => {
    for (let i = 1; i <= 3; i++) {
      const p = bus.request('stall.echo', enc.encode(`r${i}`), { timeoutMs: TIMEOUT_MS });
      await afterSend();
      stall(TIMEOUT_MS * 3); // the reply (a round trip away) waits in the socket buffer; the timer is long expired
      assert.equal(dec.decode((await p).data), `r${i}`, `request ${i} resolves with its reply`);
    }
  });

  it('a responder that really does not answer still fails the request in bounded time', async () => {
    child.kill('SIGSTOP');
    try {
      const t0 = performance.now();
      const p = bus.request('stall.echo', enc.encode('lost'), { timeoutMs: TIMEOUT_MS });
      await afterSend();
      stall(TIMEOUT_MS * 3);
      await assert.rejects(p, BusTimeoutError);
      const ms = performance.now() - t0;
      assert.ok(ms < TIMEOUT_MS * 3 + 500, `rejected after ${Math.round(ms)} ms`);
      // Not stalled: the deadline alone, in about its time.
      const t1 = performance.now();
      await assert.rejects(bus.request('stall.echo', enc.encode('lost'), { timeoutMs: TIMEOUT_MS }), BusTimeoutError);
      const ms1 = performance.now() - t1;
      assert.ok(ms1 >= TIMEOUT_MS - 5 && ms1 < TIMEOUT_MS + 500, `rejected after ${Math.round(ms1)} ms`);
    } finally {
      child.kill('SIGCONT');
    }
    assert.equal(dec.decode((await bus.request('stall.echo', enc.encode('back'), { timeoutMs: 5000 })).data), 'back');
    await assert.rejects(bus.request('stall.nobody', enc.encode('x'), { timeoutMs: 5000 }), BusNoRespondersError);
  });
});
