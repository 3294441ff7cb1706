/**
 * `process_open_fds` without a readdirSync on the event loop
 * (services/shared/open-fds.ts, metrics.ts replaceOpenFds): listings are
 * rationed by an injected clock, shared between concurrent scrapes, and the
 * exported value follows real descriptors.
 */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { createRequire } from 'node:module';
import { closeSync, openSync, type readdirSync } from 'node:fs';
import { collectDefaultMetrics, Registry } from 'prom-client';
import { ManualClock } from '../../services/shared/clock.js';
import { OpenFdCount, procOpenFds } from '../../services/shared/open-fds.js';
import { replaceOpenFds } from '../../services/shared/metrics.js';

describe('OpenFdCount', () => {
  it('lists at most once per interval; concurrent scrapes share a listing; a failure keeps the last count', async () => {
    const clock = new ManualClock(0);
    let reads = 0;
    let fail = false;
    const c = new OpenFdCount({ clock, minIntervalMs: 5000, read: async () => { reads++; if (fail) throw new Error('EMFILE'); return 100 + reads; } });
    const [a, b] = await Promise.all([c.value(), c.value()]);
    assert.deepEqual([a, b, reads], [101, 101, 1], 'two scrapes at once: one listing');
    clock.advance(4999);
    assert.equal(await c.value(), 101);
    assert.equal(reads, 1, 'within the interval: the last count');
    clock.advance(1);
    assert.equal(await c.value(), 102);
    clock.advance(5000);
    fail = true;
    assert.equal(await c.value(), 102, 'a failed listing keeps the last value');
    assert.equal(reads, 3);
    assert.throws(() => new OpenFdCount({ clock, minIntervalMs: 0 }), /minIntervalMs must be > 0/);
  });

  it('undefined until a listing succeeded', async () => {
    const c = new OpenFdCount({ clock: new ManualClock(0), minIntervalMs: 1, read: () => Promise.reject(new Error('no /proc')) });
    assert.equal(await c.value(), undefined);
  });
});

describe('process_open_fds (Linux: /proc)', () => {
  it('follows the descriptors this process opens', async () => {
    const before = await procOpenFds();
    const fds = Array.from({ length: 50 }, () => openSync('/dev/null', 'r'));
    try {
      assert.equal(await procOpenFds(), before + 50);
    } finally {
      for (const fd of fds) closeSync(fd);
    }
  });

  it('is exported under the same name without listing /proc/self/fd on the event loop', async () => {
    // prom-client is CommonJS: count the synchronous listings it would make through the same fs module.
    const fs = createRequire(import.meta.url)('fs') as { readdirSync: typeof readdirSync };
    const orig = fs.readdirSync;
    let syncListings = 0;
    fs.readdirSync = ((p: unknown, ...rest: unknown[]) => { if (String(p).startsWith('/proc/self/fd')) syncListings++; return (orig as (...a: unknown[]) => unknown)(p, ...rest); }) as typeof fs.readdirSync;
    try {
      const registry = new Registry();
      collectDefaultMetrics({ register: registry });
      replaceOpenFds(registry, new ManualClock(0));
      const text = await registry.metrics();
      const m = /^process_open_fds (\d+)$/m.exec(text);
      assert.ok(m, 'process_open_fds is exported');
      const now = await procOpenFds();
      assert.ok(Math.abs(Number(m[1]) - now) <= 5, `value ${m[1]} vs ${now} listed now`);
      assert.match(text, /# HELP process_open_fds Number of open file descriptors\./);
      assert.equal(syncListings, 0, 'no readdirSync of /proc/self/fd during a scrape');
      assert.equal((text.match(/^process_open_fds /gm) ?? []).length, 1, 'one series, not two collectors');
    } finally {
      fs.readdirSync = orig;
    }
  });
});
