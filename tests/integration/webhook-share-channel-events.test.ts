/**
 * channel.occupied / channel.vacated against the per-user share of the
 * webhook queue, end to end (standalone: a real gateway and router, real
 * WebSocket clients, the memory queue): one user whose token names 64
 * channels no one else follows, cycling a connection 20 times while the
 * receiver is down, made 2,560 channel events. They named no user and were
 * not charged, so on the previous code that user alone filled the 2,000-job
 * queue (20 x its 100-job share) in about a second and another user's
 * connection.opened was dropped (queue full). Now each is charged to the
 * user whose join or leave made it: that user stops at its share, and the
 * other user's event is queued.
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import type { Standalone } from '../../services/standalone/app.js';
import { mustConnect, type TestClient } from '../helpers/client.js';
import { start, sleep } from '../helpers/standalone.js';

const CHANNELS = Array.from({ length: 64 }, (_, i) => `priv:cycler${i}`);
const SHARE = 100;

describe('webhook share: channel events', () => {
  let s: Standalone;
  const clients: TestClient[] = [];
  before(async () => {
    s = await start({
      // Nothing listens on port 9: every delivery fails and stays queued for its retries.
      LONGLINK_WEBHOOKS: JSON.stringify([{
        name: 'be', url: 'http://127.0.0.1:9/hook', secrets: [`whsec_${Buffer.alloc(32, 7).toString('base64')}`],
        events: ['connection.opened', 'connection.closed', 'channel.occupied', 'channel.vacated'],
      }]),
      LONGLINK_WEBHOOK_MEMORY_MAX_JOBS: '2000', LONGLINK_WEBHOOK_USER_MAX_JOBS: String(SHARE),
    });
  });
  after(async () => {
    for (const x of clients) x.close();
    await s?.close();
  });

  it('one user cycling a connection on channels of its own holds its share; another user\'s event is still queued', async () => {
    const stat = async (name: string, reason?: string): Promise<number> => {
      const text = await (await fetch(`${s.gatewayHttpUrl}/metrics`)).text();
      const line = text.split('\n').find((l) => l.startsWith(`longlink_router_webhook_${name}{`) && (reason === undefined || l.includes(`reason="${reason}"`)));
      return Number(line?.split(' ').at(-1) ?? NaN);
    };
    const token = await s.mintToken('cycler', { channels: CHANNELS });
    for (let i = 0; i < 20; i++) {
      const x = await mustConnect(s.gatewayUrl, { token, query: { channels: '1' } });
      await x.until(() => x.frames.filter((f) => f.op === 'subscribed').length === CHANNELS.length + 1, 10_000, 'subscribed');
      x.close();
      await sleep(20);
    }
    await sleep(500);
    assert.ok(await stat('dropped_total', 'user_share') > 2000, 'the cycling user\'s events past its share are dropped');
    assert.ok(await stat('queue_depth') <= SHARE, `queue depth ${await stat('queue_depth')}`);

    const enqueued = await stat('enqueued_total');
    const other = await mustConnect(s.gatewayUrl, { token: await s.mintToken('bystander'), query: {} });
    clients.push(other);
    await other.frame('hello', 0, 5000);
    // Polled: /metrics serves a collection again for up to 1 s (20 x its duration, sharedScrape), longer than a fixed wait on a loaded machine.
    const end = Date.now() + 3000;
    while (await stat('enqueued_total') <= enqueued && Date.now() < end) await sleep(100);
    assert.equal(await stat('dropped_total', 'queue'), 0, 'nothing dropped for a full queue');
    assert.equal(await stat('enqueued_total'), enqueued + 1, 'the other user\'s connection.opened is queued');
  });
});
