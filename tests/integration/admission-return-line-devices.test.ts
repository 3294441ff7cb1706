/**
 * The return line against one token naming made-up devices, on real
 * processes (a gateway whose session-start limit is held full by starts the
 * router cannot answer, SIGSTOP; limit pinned at 4). A token without a
 * device claim lets the client name any device; its user holds at most 16
 * tickets (RETURN_TICKETS_PER_USER), but on the previous code every refusal
 * past them still booked a slot of the return timetable (~250 ms slots at
 * this limit): 100 such refusals pushed the next other client's return from
 * ~4.5 s to the 10 s horizon, past which it has no claim above the limit. Now a refusal
 * its user's tickets cannot remember books nothing: it is told to come back
 * after the line, and the other client gets the slot after the 16 booked.
 */
import { after, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { startCluster, type Cluster } from '../../infra/local/cluster-harness.js';
import { connect, type Refused, type TestClient } from '../helpers/client.js';

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));
const waitOf = (r: Refused): number => Number(r.headers['retry-after-ms']);

describe('return line: one token, many devices', () => {
  let c: Cluster | undefined;
  const clients: TestClient[] = [];
  after(async () => {
    for (const x of clients) x.close();
    for (const r of c?.routers ?? []) r.proc.kill('SIGCONT');
    await c?.stop();
  });

  it('refusals past its user\'s 16 tickets book no slot: another client\'s return is not pushed to the horizon', async () => {
    c = await startCluster({ gateways: 1, routers: 1, gatewayEnv: {
      LONGLINK_MAX_STARTING_SESSIONS: '4', LONGLINK_SESSION_START_TARGET_MS: '1000', LONGLINK_RESUME_TIMEOUT_MS: '30000', LONGLINK_SOURCE_CONNECT_RATE: '0',
    } });
    const g = c.gateways[0]!;
    c.routers[0]!.proc.kill('SIGSTOP');
    for (let i = 0; i < 4; i++) {
      const r = await connect(g.url, { token: await c.token(`holder-${i}`, 'd') });
      assert.ok(r.ok, 'the limit has room for 4 starts');
      clients.push(r.client);
    }
    await sleep(100);
    const mallory = await c.token('mallory'); // no device claim
    const waits: number[] = [];
    for (let i = 0; i < 100; i++) {
      const r = await connect(g.url, { token: mallory, query: { device: `made-up-${i}` } });
      assert.ok(!r.ok && r.status === 503, `refused: ${r.ok ? 'admitted' : r.status}`);
      waits.push(waitOf(r));
    }
    const other = await connect(g.url, { token: await c.token('other', 'phone') });
    assert.ok(!other.ok && other.status === 503);
    const w = waitOf(other);
    assert.ok(w < Math.max(...waits.slice(0, 16)) + 1000, `the other client is told ${w} ms (mallory's 16 booked: up to ${Math.max(...waits.slice(0, 16))} ms)`);
    assert.ok(w < 7000, `the other client is told ${w} ms, not the horizon`);
    assert.ok(waits.slice(16).every((x) => x >= Math.max(...waits.slice(0, 16)) * 0.9), 'past its tickets, told to come back after the line');
  });
});
