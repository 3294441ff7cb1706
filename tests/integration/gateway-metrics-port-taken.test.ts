/**
 * A gateway's metrics listener (LONGLINK_METRICS_PORT) on a port that is
 * already taken is a start-up error. uWS listens with SO_REUSEPORT by
 * default, so the port another gateway's listener or the standalone push
 * API (uWS too) holds was shared silently: the second process started, and
 * each new connection to that port reached either of them at random (a
 * scrape of the wrong gateway, a push API request answered 404 by the
 * metrics listener).
 */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { freePort, portTakenMessage, stillServes } from '../helpers/port-taken.js';
import { start } from '../helpers/standalone.js';

describe('metrics listener on a port already taken', () => {
  it('another gateway\'s metrics port: the second gateway does not start', async () => {
    const port = await freePort();
    const first = await start({ LONGLINK_METRICS_PORT: String(port) });
    try {
      let second: Awaited<ReturnType<typeof start>> | undefined;
      await assert.rejects(async () => { second = await start({ LONGLINK_METRICS_PORT: String(port) }); }, portTakenMessage(port, 'metrics listener'));
      await second?.close();
      await stillServes(port, '/metrics');
    } finally {
      await first.close();
    }
  });

  it('another gateway\'s WebSocket port: does not start', async () => {
    const first = await start({ LONGLINK_GATEWAY_PORT: String(await freePort()) });
    try {
      let second: Awaited<ReturnType<typeof start>> | undefined;
      await assert.rejects(async () => { second = await start({ LONGLINK_METRICS_PORT: String(first.gateway.port) }); }, portTakenMessage(first.gateway.port, 'metrics listener'));
      await second?.close();
    } finally {
      await first.close();
    }
  });

  it('standalone with the metrics port equal to the push API port: does not start', async () => {
    const port = await freePort();
    let s: Awaited<ReturnType<typeof start>> | undefined;
    await assert.rejects(async () => { s = await start({ LONGLINK_METRICS_PORT: String(port), LONGLINK_API_PORT: String(port) }); }, /could not listen/);
    await s?.close();
  });
});
