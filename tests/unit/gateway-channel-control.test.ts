/**
 * Subscribe/unsubscribe commands from the API reaching a connection whose
 * session is still starting (GatewayCore.control → ChannelHub.control): the
 * router lists a connection as soon as its resume arrives, so a backend that
 * subscribes on `connection.opened` can reach the gateway before HELLO.
 * The command is held and applied when the session starts, not dropped.
 */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { GatewayCore } from '../../services/gateway/core/gateway-core.js';
import { ManualClock } from '../../services/shared/clock.js';
import type { ChannelLink, ResumeReply } from '../../services/gateway/core/ports.js';
import { coreOptions, admissionOptions, FakeLink, flush } from '../helpers/gateway-harness.js';
import { FakeClientSocket } from '../helpers/fake-client-socket.js';
import { silent } from '../helpers/log.js';

function core() {
  const link = new FakeLink();
  const interest: string[] = [];
  const channelLink: ChannelLink = {
    interest: (ch) => { interest.push(ch); return { ready: Promise.resolve(), drop: () => {} }; },
    history: async (req) => ({ channel: req.channel, epoch: 'e1', offset: 0, pubs: [], covered: true }),
    channelPresence: () => {},
  };
  let n = 0;
  const c = new GatewayCore({
    options: coreOptions({ admission: admissionOptions({ maxConnections: 100, connectRate: 1000, connectBurst: 1000, maxStarting: 1000 }) }),
    clock: new ManualClock(0), ids: { next: () => `c${++n}` }, link, log: silent, random: () => 0.5,
    channels: { link: channelLink, topics: { publish: () => {} } },
  });
  return { core: c, link, interest };
}

describe('API channel commands during a session start', () => {
  it('a subscribe that arrives before the router\'s resume answer is applied once the session starts', async () => {
    const { core: gw, link, interest } = core();
    let answer!: (r: ResumeReply) => void;
    link.resumeReply = () => new Promise((resolve) => { answer = resolve; });
    const s = new FakeClientSocket();
    gw.open(s, { user: 'al', device: 'd', tokenExpiresAt: Infinity, requestedIntervalMs: undefined, session: undefined, lastSeq: undefined, channels: ['team'] });
    assert.equal(gw.control({ type: 'subscribe', user: 'al', channels: ['room:7'] }), 1, 'the connection counts as reached');
    answer({ session: 's1', resumed: false, latestSeq: 0, pushes: [] });
    await flush();
    await flush();
    assert.deepEqual(interest.sort(), ['$all', 'room:7', 'team']);
    const subscribed = s.frames().filter((f) => (f as { op?: string }).op === 'subscribed').map((f) => (f as { channel: string }).channel).sort();
    assert.deepEqual(subscribed, ['$all', 'room:7', 'team']);
  });

  it('a client without channel frames is not counted', () => {
    const { core: gw, link } = core();
    link.resumeReply = () => new Promise(() => {});
    gw.open(new FakeClientSocket(), { user: 'bo', device: 'd', tokenExpiresAt: Infinity, requestedIntervalMs: undefined, session: undefined, lastSeq: undefined });
    assert.equal(gw.control({ type: 'subscribe', user: 'bo', channels: ['room:7'] }), 0);
  });
});
