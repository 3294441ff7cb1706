/**
 * The operator console in headless Chromium (Debian's /usr/bin/chromium via
 * playwright-core) against a real standalone server and a real cluster
 * (router and gateway processes, NATS, Redis): sign in, watch the live
 * connection count follow real SDK clients connecting and disconnecting,
 * look a user up, send a test push and see its receipt reach "acked", kick
 * a device (with the confirmation) and see it go. Keyboard only where a
 * user could: the lookup is submitted with Enter, the dialog cancelled with
 * Escape. The standalone run saves screenshots of the main views to
 * docs/img/. No CSP violation and no page error may occur. Without Chromium
 * this test fails; it never skips.
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, mkdirSync } from 'node:fs';
import path from 'node:path';
import { chromium, type Browser, type Page } from 'playwright-core';
import { createClient, type LonglinkClient } from '../../sdk/src/node.js';
import { repoRoot } from '../../sdk/build-browser.js';
import type { Standalone } from '../../services/standalone/app.js';
import { startCluster, type Cluster } from '../../infra/local/cluster-harness.js';
import { start } from '../helpers/standalone.js';
import { waitFor } from '../helpers/sdk-clients.js';

const CHROMIUM = '/usr/bin/chromium';
const ARGS = ['--headless', '--no-sandbox', '--disable-gpu', '--no-first-run', '--disable-background-networking', '--disable-component-update', '--disable-sync'];
const TOKEN = 'browser-console-token-0123456789';
const IMG = path.join(repoRoot(), 'docs', 'img');

let browser: Browser;

before(async () => {
  if (!existsSync(CHROMIUM)) {
    throw new Error(`${CHROMIUM} not found: install Debian's "chromium" package (apt-get install chromium). This test fails rather than skips without it.`);
  }
  browser = await chromium.launch({ executablePath: CHROMIUM, args: ARGS, timeout: 60_000 });
});

after(async () => {
  await browser?.close();
});

interface Target {
  consoleUrl: string;
  /** A real SDK client (Node transport) for user+device; resolves once connected. */
  connect(user: string, device: string): Promise<LonglinkClient>;
  /** Gateways expected in the table. */
  gateways: number;
  /** Screenshots to save into docs/img/, by view: login, user, confirm, overview, phone. */
  shots: Partial<Record<'login' | 'user' | 'confirm' | 'overview' | 'phone', string>>;
}

async function sdkClient(url: string, token: (user: string, device: string) => Promise<string>, user: string, device: string): Promise<LonglinkClient> {
  const client = createClient({
    url, device, token: () => token(user, device),
    heartbeat: { smart: false, intervalMs: 1000, timeoutMs: 3000 },
    backoff: { baseMs: 200, capMs: 1000, healthyAfterMs: 500 },
    ackDelayMs: 20,
  });
  client.connect();
  await client.whenConnected(15_000);
  return client;
}

/** Page problems: script errors and CSP violations (Chromium logs those on the console). */
function watchProblems(page: Page): string[] {
  const problems: string[] = [];
  page.on('pageerror', (e) => problems.push(`pageerror: ${e.message}`));
  page.on('console', (m) => { if (m.type() === 'error' || /Content Security Policy|Trusted Type/i.test(m.text())) problems.push(`console: ${m.text()}`); });
  return problems;
}

const tileValue = (page: Page, id: string): Promise<string> => page.locator(`#tile-${id} .tile-value`).innerText();

async function untilTile(page: Page, id: string, want: string): Promise<void> {
  await page.waitForFunction(([i, w]) => document.querySelector(`#tile-${i} .tile-value`)?.textContent === w, [id, want] as const, { timeout: 20_000, polling: 100 })
    .catch(async (e: Error) => { throw new Error(`tile ${id} never showed ${want} (shows ${await tileValue(page, id)}): ${e.message}`); });
}

async function shot(page: Page, t: Target, view: keyof Target['shots'], fullPage = true): Promise<void> {
  const name = t.shots[view];
  if (name === undefined) return;
  mkdirSync(IMG, { recursive: true });
  await page.screenshot({ path: path.join(IMG, name), fullPage });
}

async function exercise(t: Target): Promise<void> {
  const page = await browser.newPage({ viewport: { width: 1280, height: 800 } });
  const problems = watchProblems(page);
  const clients: LonglinkClient[] = [];
  try {
    await page.goto(t.consoleUrl);
    await page.locator('#token').waitFor();
    await shot(page, t, 'login');

    // A wrong credential is refused; the right one opens the console.
    await page.fill('#token', 'not-the-console-token-000000000');
    await page.keyboard.press('Enter');
    await page.locator('#login-error', { hasText: 'not accepted' }).waitFor();
    await page.fill('#token', TOKEN);
    await page.keyboard.press('Enter');
    await page.locator('#app').waitFor({ state: 'visible' });
    assert.equal(await page.locator('#devbar').isVisible(), false, 'a configured token is not dev mode');
    assert.equal(await page.evaluate(() => document.cookie), '', 'no cookie');
    await untilTile(page, 'connections', '0');
    assert.equal(await page.locator('#gateways tbody tr[data-gateway]').count(), t.gateways);

    // Live connection count follows real clients.
    clients.push(await t.connect('alice', 'phone'), await t.connect('alice', 'laptop'), await t.connect('bob', 'phone'));
    await untilTile(page, 'connections', '3');
    clients.pop()!.close();
    await untilTile(page, 'connections', '2');
    const versions = await page.locator('#gateways tbody tr[data-gateway] td:nth-child(6)').allInnerTexts();
    assert.ok(versions.length === t.gateways && versions.every((v) => /^\d+\.\d+\.\d+/.test(v)), `gateway versions: ${versions.join(', ')}`);

    // Look a user up with the keyboard: the lookup field has the focus after sign-in.
    await page.keyboard.type('alice');
    await page.keyboard.press('Enter');
    await page.locator('#connections tbody tr[data-device="laptop"]').waitFor();
    assert.deepEqual((await page.locator('#connections tbody tr[data-device] th .device').allInnerTexts()).sort(), ['laptop', 'phone']);
    assert.equal(await page.locator('#fact-latest-seq').innerText(), '0');

    // A test push: its receipt goes from delivered to acked (the SDK acks within 20 ms).
    await page.click('#push-form button[type="submit"]');
    await page.locator('.receipt[data-status="acked"]').waitFor({ timeout: 20_000 });
    assert.equal(await page.locator('.receipt .status').first().innerText(), 'SENDING → DELIVERED → ACKED', 'the receipt went from sent to delivered to acked');
    assert.equal(await page.locator('.receipt .seq').first().innerText(), 'seq 1');
    await page.locator('#fact-latest-seq', { hasText: '1' }).waitFor();
    await shot(page, t, 'user');

    // Escape cancels the confirmation: nothing is sent, the device stays.
    await page.locator('#connections tr[data-device="phone"] button', { hasText: 'Log out' }).click();
    await page.locator('#confirm[open]').waitFor();
    await page.keyboard.press('Escape');
    await page.locator('#confirm').waitFor({ state: 'hidden' });
    assert.equal(clients[0]!.state, 'connected');

    // Kick the laptop: confirm, the SDK client ends as "kicked" and its row goes.
    await page.locator('#connections tr[data-device="laptop"] button', { hasText: 'Kick' }).click();
    await page.locator('#confirm[open]').waitFor();
    assert.match(await page.locator('#confirm-text').innerText(), /laptop/);
    await shot(page, t, 'confirm', false);
    await page.click('#confirm-ok');
    await waitFor(() => clients[1]!.state === 'kicked', 10_000, 'the kicked client to see it', () => clients[1]!.state);
    await page.locator('#connections tbody tr[data-device="laptop"]').waitFor({ state: 'detached', timeout: 15_000 });
    await page.locator('#control-result', { hasText: 'kick sent to 1 gateway' }).waitFor();
    assert.equal(clients[0]!.state, 'connected', 'the other device stays');
    await untilTile(page, 'connections', '1');

    await page.waitForFunction(() => document.querySelectorAll('#chart path.total').length === 1, undefined, { timeout: 10_000 });
    await page.evaluate(() => window.scrollTo(0, 0));
    await shot(page, t, 'overview');
    if (t.shots.phone !== undefined) {
      await page.setViewportSize({ width: 390, height: 844 });
      await shot(page, t, 'phone');
      const overflow = await page.evaluate(() => document.documentElement.scrollWidth - window.innerWidth);
      assert.ok(overflow <= 1, `no sideways scrolling at phone width (overflow ${overflow}px)`);
      const kick = await page.locator('#connections tr[data-device="phone"] button', { hasText: 'Kick' }).boundingBox();
      assert.ok(kick && kick.x >= 0 && kick.x + kick.width <= 390, `the Kick button is in view at phone width: ${JSON.stringify(kick)}`);
    }

    // Sign out forgets the token.
    await page.click('#signout');
    assert.equal(await page.evaluate(() => sessionStorage.length), 0);
    // The one expected failure: the wrong token's 401.
    assert.deepEqual(problems.filter((p) => !/status of 401/.test(p)), []);
    assert.equal(problems.filter((p) => /status of 401/.test(p)).length, 1);
  } finally {
    for (const c of clients) c.close();
    await page.close();
  }
}

describe('operator console in Chromium', () => {
  let s: Standalone | undefined;
  let c: Cluster | undefined;
  after(async () => {
    await s?.close();
    await c?.stop();
  });

  it('standalone: sign in, live count, lookup, test push receipt, kick (screenshots)', async () => {
    s = await start({ LONGLINK_CONSOLE_TOKEN: TOKEN, LONGLINK_BEACON_INTERVAL_MS: '300', LONGLINK_HB_MIN_MS: '500' });
    const sa = s;
    await exercise({
      consoleUrl: sa.console!.url, gateways: 1,
      shots: { login: 'console-login.png', user: 'console-user.png', confirm: 'console-confirm.png', overview: 'console-overview.png', phone: 'console-phone.png' },
      connect: (user, device) => sdkClient(sa.gatewayUrl, (u, d) => sa.mintToken(u, { device: d }), user, device),
    });
  });

  it('cluster (2 gateways, NATS, Redis): the same, through the router process', async () => {
    c = await startCluster({ gateways: 2, routerEnv: { LONGLINK_CONSOLE_TOKEN: TOKEN } });
    const cl = c;
    await exercise({
      consoleUrl: `${cl.apiUrl}/console/`, gateways: 2, shots: { overview: 'console-cluster.png' },
      connect: (user, device) => sdkClient(cl.url, (u, d) => cl.token(u, d), user, device),
    });
  });
});
