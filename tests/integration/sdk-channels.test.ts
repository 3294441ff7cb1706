/**
 * The Node SDK's channels against a real standalone gateway and router:
 * per-channel handlers get each message once in offset order, a reconnect
 * recovers what was missed while away (recover=1 and the recover frame),
 * and a client away for longer than the history holds is told to refetch
 * (channelReset) instead of getting a partial history.
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import type { Standalone } from '../../services/standalone/app.js';
import { apiCall } from '../../infra/local/api-call.js';
import { createClient, type LonglinkClient } from '../../sdk/src/node.js';
import type { ChannelMessage, ChannelReset } from '../../sdk/src/index.js';
import { start } from '../helpers/standalone.js';

const until = async (cond: () => boolean, ms: number, what: string): Promise<void> => {
  const end = Date.now() + ms;
  while (!cond()) {
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 20));
  }
};

describe('SDK channels', () => {
  let s: Standalone;
  const clients: LonglinkClient[] = [];
  const publish = (channel: string, data: unknown) => apiCall(s.apiUrl, s.apiKey, 'POST', '/v1/publish', { channel, data });
  before(async () => { s = await start({ LONGLINK_CHANNEL_HISTORY_SIZE: '5' }); });
  after(async () => {
    for (const c of clients) c.close();
    await s.close();
  });

  it('handlers get messages once and in order; a reconnect recovers the missed ones; too long away is a reset', async () => {
    const c = createClient({ url: s.gatewayUrl, device: 'd1', token: () => s.mintToken('sdk-user', { device: 'd1', channels: ['room:sdk'] }), backoff: { baseMs: 50, capMs: 200 } });
    clients.push(c);
    const got: ChannelMessage[] = [];
    const resets: ChannelReset[] = [];
    const recovered: Array<boolean | undefined> = [];
    c.channel('room:sdk', (m) => got.push(m));
    c.on('channelReset', (r) => resets.push(r));
    c.on('subscribed', (f) => { if (f.channel === 'room:sdk') recovered.push(f.recovered); });
    c.connect();
    await until(() => c.channels.includes('room:sdk'), 5000, 'subscribed');
    assert.ok(c.channels.includes('$all'), 'the broadcast channel too');
    for (let i = 1; i <= 3; i++) assert.equal((await publish('room:sdk', i)).status, 200);
    await until(() => got.length === 3, 5000, 'three messages');

    c.close();
    for (let i = 4; i <= 6; i++) await publish('room:sdk', i);
    c.connect();
    await until(() => got.length === 6, 5000, 'the missed three, recovered');
    assert.deepEqual(got.map((m) => [m.offset, m.data]), [1, 2, 3, 4, 5, 6].map((i) => [i, i]));
    assert.deepEqual(recovered, [undefined, true]);
    assert.equal(resets.length, 0, 'nothing lost');
    assert.equal(c.resumeState?.channels?.find((p) => p.channel === 'room:sdk')?.offset, 6, 'resumeState carries the positions');

    c.close();
    for (let i = 7; i <= 20; i++) await publish('room:sdk', i);
    c.connect();
    await until(() => resets.length === 1, 5000, 'a reset');
    assert.deepEqual({ reason: resets[0]!.reason, offset: resets[0]!.offset }, { reason: 'not_recovered', offset: 20 });
    await publish('room:sdk', 21);
    await until(() => got.length === 7, 5000, 'live again');
    assert.equal(got[6]!.offset, 21);
  });
});
