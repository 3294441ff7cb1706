/**
 * /metrics under a request storm: collections are shared (sharedScrape in
 * services/shared/metrics.ts), so a client looping on the gateway's
 * unauthenticated /metrics cannot make one collection per request on the
 * event loop that acks heartbeats.
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { Registry } from 'prom-client';
import { sharedScrape } from '../../services/shared/metrics.js';
import type { Standalone } from '../../services/standalone/app.js';
import { start } from '../helpers/standalone.js';

describe('sharedScrape', () => {
  it('shares a running collection and reuses its text for 20 x its duration, at most 1 s', async () => {
    let t = 0;
    let n = 0;
    let release: (() => void) | undefined;
    const clock = { now: () => t, wallNow: () => t };
    const scrape = sharedScrape(async () => { n++; t += 2; await new Promise<void>((r) => { release = r; }); return `text${n}`; }, clock);
    const first = [scrape(), scrape(), scrape()];
    release!();
    assert.deepEqual(await Promise.all(first), ['text1', 'text1', 'text1']);
    assert.equal(n, 1, 'one collection for requests that arrived while it ran');
    t += 39; // 2 ms collection: reused for 40 ms after it ended
    assert.equal(await scrape(), 'text1');
    assert.equal(n, 1);
    t += 1;
    const p = scrape();
    release!();
    assert.equal(await p, 'text2');
    assert.equal(n, 2);
    // A slow collection (100 ms) is reused for at most 1 s, not 2 s.
    const slow = sharedScrape(async () => { n++; t += 100; return `slow${n}`; }, clock);
    assert.equal(await slow(), 'slow3');
    t += 999;
    assert.equal(await slow(), 'slow3');
    t += 1;
    assert.equal(await slow(), 'slow4');
  });

  it('a failed collection is not reused: the next request collects again', async () => {
    let n = 0;
    const scrape = sharedScrape(async () => { n++; if (n === 1) throw new Error('boom'); return 'ok'; });
    await assert.rejects(scrape(), /boom/);
    assert.equal(await scrape(), 'ok');
    assert.equal(n, 2);
  });
});

describe('gateway and router /metrics under a request storm', () => {
  let s: Standalone;
  const original = Registry.prototype.metrics;
  let collections = 0;
  before(async () => {
    s = await start();
    Registry.prototype.metrics = function (this: Registry) { collections++; return original.call(this); };
  });
  after(async () => { Registry.prototype.metrics = original; await s.close(); });

  it('64 requests at once make one or two collections, not 64; each answer is the full text', async () => {
    collections = 0;
    const texts = await Promise.all(Array.from({ length: 64 }, async () => {
      const r = await fetch(`${s.gatewayHttpUrl}/metrics`);
      assert.equal(r.status, 200);
      return r.text();
    }));
    for (const t of texts) assert.match(t, /longlink_gateway_connections \d+/);
    assert.ok(collections <= 2, `${collections} collections for 64 concurrent scrapes`);
  });

  it('a scrape after the window collects afresh (Prometheus always gets current numbers)', async () => {
    await new Promise((r) => setTimeout(r, 1100));
    collections = 0;
    await (await fetch(`${s.gatewayHttpUrl}/metrics`)).text();
    assert.equal(collections, 1);
  });

  it('the router\'s /metrics (push API port, no credential either) shares its collections too', async () => {
    await new Promise((r) => setTimeout(r, 1100));
    collections = 0;
    const texts = await Promise.all(Array.from({ length: 64 }, async () => {
      const r = await fetch(`${s.apiUrl}/metrics`);
      assert.equal(r.status, 200);
      return r.text();
    }));
    for (const t of texts) assert.match(t, /longlink_router_pushes_total\{status="sent"\} \d+/);
    assert.ok(collections <= 2, `${collections} collections for 64 concurrent scrapes of the router`);
  });
});
