/**
 * The SDK's browser bundle (esbuild, ESM and IIFE) in headless Chromium,
 * served from a local HTTP server, against a real gateway behind the NAT
 * simulator: connect, receive pushes, heartbeat with the smart policy
 * (learned interval lands in localStorage), survive a forced disconnect (RST
 * through the NAT simulator: a 1006, not a terminal code) and resume with no
 * lost push. Without /usr/bin/chromium this test fails; it never skips.
 */
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { chromium, type Browser, type Page } from 'playwright-core';
import { startRig, type Rig } from '../../loadtest/nat-sim/harness.js';
import { buildBrowserBundle, type BrowserBundle } from '../../sdk/build-browser.js';
import type * as BrowserSdkModule from '../../sdk/src/browser.js';

type BrowserSdk = typeof BrowserSdkModule;

const CHROMIUM = '/usr/bin/chromium';
const ARGS = ['--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run', '--disable-background-networking', '--disable-component-update', '--disable-sync'];

let rig: Rig;
let browser: Browser;
let http: Server;
let base = '';
let outdir = '';
let bundle: BrowserBundle;

before(async () => {
  if (!existsSync(CHROMIUM)) {
    throw new Error(`${CHROMIUM} not found: install Debian's "chromium" package (apt-get install chromium). This test fails rather than skips without it.`);
  }
  outdir = await mkdtemp(path.join(tmpdir(), 'longlink-browser-'));
  bundle = await buildBrowserBundle(outdir);
  rig = await startRig({ natTimeoutMs: 0 });
  const files: Record<string, [string, string]> = {
    '/': ['<!doctype html><meta charset="utf-8"><title>longlink sdk test</title><body>sdk test</body>', 'text/html'],
    '/longlink.mjs': [await readFile(bundle.esm, 'utf8'), 'text/javascript'],
    '/longlink.js': [await readFile(bundle.iife, 'utf8'), 'text/javascript'],
  };
  http = createServer((req, res) => {
    const f = files[req.url ?? ''];
    if (f === undefined) { res.writeHead(404).end(); return; }
    res.writeHead(200, { 'content-type': f[1] }).end(f[0]);
  });
  await new Promise<void>((resolve) => http.listen(0, '127.0.0.1', resolve));
  base = `http://127.0.0.1:${(http.address() as AddressInfo).port}`;
  browser = await chromium.launch({ executablePath: CHROMIUM, args: ARGS, timeout: 60_000 });
});

after(async () => {
  await browser?.close();
  await new Promise<void>((resolve) => (http ? http.close(() => resolve()) : resolve()));
  await rig?.close();
  if (outdir) await rm(outdir, { recursive: true, force: true });
});

interface PageLog { pushes: unknown[]; states: string[]; connected: Array<{ resumed: boolean; session: string }>; acks: number; errors: string[] }

const pageErrors: string[] = [];

async function openPage(user: string): Promise<Page> {
  const page = await browser.newPage();
  page.on('pageerror', (e) => pageErrors.push(e.message));
  // A fresh token on every call, so `refresh` needs no special case here.
  await page.exposeFunction('nodeToken', () => rig.token(user, 'browser', 600));
  await page.goto(base + '/');
  return page;
}

test('the IIFE bundle defines window.Longlink', async () => {
  const page = await openPage('iife-user');
  try {
    await page.addScriptTag({ url: '/longlink.js' });
    const names = await page.evaluate(() => Object.keys((window as unknown as { Longlink: Record<string, unknown> }).Longlink).sort());
    for (const n of ['createClient', 'LonglinkClient', 'webSocketTransport', 'browserNetworkMonitor', 'SmartHeartbeatPolicy']) assert.ok(names.includes(n), n);
  } finally {
    await page.close();
  }
});

test('ESM bundle in Chromium: pushes, smart heartbeats, RST cut and resume with no lost push', async () => {
  const page = await openPage('browser-user');
  try {
    await page.evaluate(async (url) => {
      const L = (await import('/longlink.mjs' as string)) as BrowserSdk;
      const w = window as unknown as { log: PageLog; client: ReturnType<typeof L.createClient>; nodeToken(): Promise<string> };
      w.log = { pushes: [], states: [], connected: [], acks: 0, errors: [] };
      const client = L.createClient({
        url, device: 'browser', token: () => w.nodeToken(),
        heartbeat: { minMs: 300, maxMs: 2000, stepMs: 100, marginMs: 50, successesToStep: 1, timeoutMs: 1000 },
        backoff: { baseMs: 100, capMs: 500, healthyAfterMs: 200 },
        ackDelayMs: 20,
      });
      client.on('push', (p) => w.log.pushes.push(p.data));
      client.on('state', (s) => w.log.states.push(s.to));
      client.on('connected', (c) => w.log.connected.push({ resumed: c.resumed, session: c.session }));
      client.on('heartbeatAck', () => { w.log.acks++; });
      client.on('error', (e) => w.log.errors.push(e.message));
      w.client = client;
      client.connect();
      await client.whenConnected(20_000);
    }, rig.url);
    const log = (): Promise<PageLog> => page.evaluate(() => (window as unknown as { log: PageLog }).log);
    const until = (fn: string, what: string): Promise<unknown> => page.waitForFunction(fn, undefined, { timeout: 20_000, polling: 20 }).catch((e: Error) => {
      throw new Error(`${what}: ${e.message}`);
    });

    await rig.push('browser-user', 1);
    await rig.push('browser-user', 2);
    await until('window.log.pushes.length >= 2', 'pushes 1 and 2');

    // Heartbeats flow, and what the smart policy learns is kept in localStorage.
    await until('window.log.acks >= 3', 'three heartbeat acks');
    const stored = await page.evaluate(() => localStorage.getItem('longlink.heartbeat.v1'));
    assert.ok(stored !== null && JSON.parse(stored).default.intervalMs > 300, `learned interval stored: ${stored}`);

    // Forced disconnect: RST both ways through the NAT simulator (close code 1006, not terminal).
    rig.proxy.resetAll();
    await until('window.log.states.includes("disconnected")', 'the cut to be seen');
    await rig.push('browser-user', 3); // may land while the browser is away
    await until('window.log.connected.length >= 2', 'reconnect');
    await rig.push('browser-user', 4);
    await until('window.log.pushes.length >= 4', 'pushes 3 and 4');
    const l = await log();
    assert.deepEqual(l.pushes, [1, 2, 3, 4], 'each push once, in order');
    assert.equal(l.connected[1]?.resumed, true);
    assert.equal(l.connected[1]?.session, l.connected[0]?.session);
    assert.deepEqual(l.errors, []);
    assert.deepEqual(pageErrors, []);
    assert.equal(await page.evaluate(() => (window as unknown as { client: { state: string } }).client.state), 'connected');
    await page.evaluate(() => (window as unknown as { client: { close(): void } }).client.close());
  } finally {
    await page.close();
  }
});
