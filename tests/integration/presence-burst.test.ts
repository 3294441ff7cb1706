/**
 * A gateway re-announcing every connection (a lapsed lease, a router
 * reconnecting) against real Redis: the burst of presence events is worked
 * off a bounded number at a time, so a channel publish issued in the middle
 * of it is answered within the store's command timeout instead of waiting
 * behind the whole burst in the connection's pipeline (the full-size
 * bench:fanout runs failed with 503 LL_STORE_UNAVAILABLE that way).
 */
import { after, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { MemoryBus } from '../../services/shared/bus/memory-bus.js';
import { encodeMsg } from '../../services/shared/bus/bus.js';
import { subjects as makeSubjects } from '../../services/shared/bus/subjects.js';
import { systemClock } from '../../services/shared/clock.js';
import { Router } from '../../services/router/app.js';
import type { Presence } from '../../services/router/core/presence.js';
import { createRedis } from '../../services/router/stores/redis/client.js';
import { RedisInbox } from '../../services/router/stores/redis/inbox.js';
import { RedisSessions } from '../../services/router/stores/redis/sessions.js';
import { RedisPresence } from '../../services/router/stores/redis/presence.js';
import { RedisChannelHistory } from '../../services/router/stores/redis/channel-history.js';
import { startRedis } from '../../infra/local/redis.js';
import { silent } from '../helpers/log.js';

const server = await startRedis();
const redis = await createRedis({ url: server.url });
after(async () => {
  redis.disconnect();
  await server.cleanup();
});

describe('presence re-announcement burst on real Redis', () => {
  it('a publish in the middle of a 10,000-connection re-announcement is answered while most of the burst still waits; every event is applied', async () => {
    const N = 10_000;
    const bus = new MemoryBus();
    const s = makeSubjects('pb');
    const base = new RedisPresence({ redis, prefix: 'pb' });
    let started = 0;
    // Counts presence calls that reached the store (each sends its first command when called).
    const presence = Object.assign(Object.create(base) as Presence, {
      online: (ev: Parameters<Presence['online']>[0], max?: number) => { started++; return base.online(ev, max); },
    });
    const router = new Router({
      bus, subjects: s, clock: systemClock, log: silent,
      stores: { inbox: new RedisInbox({ redis, prefix: 'pb' }), sessions: new RedisSessions({ redis, prefix: 'pb' }), presence, history: new RedisChannelHistory({ redis, prefix: 'pb' }) },
      channelLimits: { publishRate: 0 },
    });
    router.start();
    try {
      for (let i = 0; i < N; i++) {
        bus.publish(s.presence, encodeMsg({ type: 'online', user: `u${i}`, device: 'd', conn: `c${i}`, session: 's', gateway: 'gwA', at: 1, seq: 0 }));
      }
      await bus.flush();
      const t0 = performance.now();
      const r = await router.channels.publish({ channel: 'room:1', data: { x: 1 } }, 'key');
      const tookMs = performance.now() - t0;
      assert.equal(r.offset, 1);
      assert.ok(started < N / 4, `only a bounded part of the burst was sent ahead of the publish (${started} of ${N} started)`);
      assert.ok(tookMs < 1000, `answered within the store's command timeout (${Math.round(tookMs)} ms)`);
      for (let i = 0; i < 600 && router.presenceWork.stats.started + router.presenceWork.stats.shed < N; i++) await new Promise((res) => setTimeout(res, 100));
      while (router.presenceWork.inFlight > 0) await new Promise((res) => setTimeout(res, 20));
      assert.equal(router.presenceWork.stats.shed, 0);
      assert.equal(started, N, 'every event applied');
      assert.equal((await base.lookup(`u${N - 1}`)).length, 1);
      assert.equal(router.stats.storeErrors, 0);
    } finally {
      router.stop();
    }
  });
});
