/**
 * A router stalled past a receipt wait (CPU starvation, GC, SIGSTOP) takes
 * the delivery or ack receipt that reached its socket in time: the waits
 * follow shared/deadline.ts, so the expired timer does not run before the
 * poll phase reads the socket. The stall is a synchronous busy-wait; the
 * receipt is a byte written to a loopback socket just before it, whose
 * reader settles the waiter (as the bus's socket read does). With plain
 * timers the push was reported `stored` although a gateway had confirmed it.
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { once } from 'node:events';
import { createServer, connect, type Server, type Socket } from 'node:net';
import { ReceiptWaiter } from '../../services/router/core/receipts.js';

const WAIT_MS = 50;

function stall(ms: number): void {
  const end = performance.now() + ms;
  while (performance.now() < end) { /* busy */ }
}

describe('receipt waits under a stalled event loop', () => {
  let server: Server;
  let writer: Socket;
  let reader: Socket;
  let onData: () => void = () => undefined;

  before(async () => {
    server = createServer();
    server.listen(0, '127.0.0.1');
    await once(server, 'listening');
    const port = (server.address() as { port: number }).port;
    const accepted = once(server, 'connection');
    writer = connect(port, '127.0.0.1');
    await once(writer, 'connect');
    [reader] = (await accepted) as [Socket];
    reader.on('data', () => onData());
  });

  after(() => {
    writer.destroy();
    reader.destroy();
    server.close();
  });

  it('a delivery receipt read after a stall past its wait counts as delivered', async () => {
    const w = new ReceiptWaiter();
    for (let seq = 1; seq <= 3; seq++) {
      onData = () => w.receive({ user: 'u', seqs: [seq], gateway: 'g' });
      const p = w.expect('u', seq, WAIT_MS);
      writer.write('r'); // in the reader's socket buffer now (loopback)
      stall(WAIT_MS * 3);
      assert.equal(await p, true, `receipt ${seq}`);
    }
    // No receipt: the wait still ends, false.
    onData = () => undefined;
    assert.equal(await w.expect('u', 9, WAIT_MS), false);
  });

  it('an ack read after a stall past its wait counts as acked', async () => {
    const w = new ReceiptWaiter();
    for (let seq = 1; seq <= 3; seq++) {
      onData = () => w.acked({ user: 'u', seq });
      const p = w.expectAck('u', seq, WAIT_MS);
      writer.write('a');
      stall(WAIT_MS * 3);
      assert.equal(await p, true, `ack ${seq}`);
    }
    onData = () => undefined;
    assert.equal(await w.expectAck('u', 9, WAIT_MS), false);
    assert.equal(w.awaitingAcks, false, 'nothing left waiting');
  });
});
