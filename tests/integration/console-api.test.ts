/**
 * The operator console's HTTP routes, over real sockets: one suite run over
 * each server adapter (node:http and uWebSockets.js) on a router core with
 * in-memory stores, then the wiring in standalone mode: off in a production
 * configuration unless a token is set, on in dev mode, its own credential,
 * and no user id in the logs.
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { createServer, type Server } from 'node:http';
import { connect, type AddressInfo } from 'node:net';
import { Writable } from 'node:stream';
import type * as UWS from 'uWebSockets.js';
import { loadNativeUws } from '../../services/shared/uws-native.js';
import { pino } from 'pino';
import { ConsoleData } from '../../services/router/console/data.js';
import { CONSOLE_CSP, createConsoleHttp, type ConsoleHttp } from '../../services/router/console/http.js';
import { loadConsoleAssets } from '../../services/router/console/assets.js';
import { serveConsoleNode } from '../../services/router/console/node-http.js';
import { mountConsoleUws } from '../../services/router/console/uws-http.js';
import { loadConsoleAccess } from '../../services/router/console/config.js';
import { ConfigError } from '../../services/shared/config.js';
import { setup, stopRouters, type Setup } from '../helpers/router-harness.js';
import { silent } from '../helpers/log.js';
import { start, TEST_API_KEY, TEST_SECRET } from '../helpers/standalone.js';
import { startStandalone } from '../../services/standalone/app.js';

const TOKEN = 'console-token-0123456789-abcdef';

interface Served { base: string; close(): Promise<void> }

const adapters: Record<string, (c: ConsoleHttp) => Promise<Served>> = {
  'node:http': async (c) => {
    const server: Server = createServer((req, res) => void serveConsoleNode(c, req, res));
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    return {
      base: `http://127.0.0.1:${(server.address() as AddressInfo).port}`,
      close: () => new Promise((resolve) => { server.closeAllConnections(); server.close(() => resolve()); }),
    };
  },
  'uWebSockets.js': async (c) => {
    const uWS = loadNativeUws().uws;
    const app = uWS.App();
    mountConsoleUws(app, c);
    app.any('/*', (res) => { res.writeStatus('404 Not Found').end(); });
    const socket = await new Promise<UWS.us_listen_socket>((resolve, reject) => app.listen('127.0.0.1', 0, (s) => (s ? resolve(s) : reject(new Error('uWS listen failed')))));
    return { base: `http://127.0.0.1:${uWS.us_socket_local_port(socket)}`, close: async () => { uWS.us_listen_socket_close(socket); } };
  },
};

async function call(base: string, path: string, o: { token?: string; auth?: string; body?: string; type?: string; method?: string } = {}): Promise<{ status: number; headers: Headers; json: Record<string, unknown>; text: string }> {
  const headers: Record<string, string> = {};
  if (o.auth !== undefined) headers.authorization = o.auth;
  else if (o.token !== undefined) headers.authorization = `Bearer ${o.token}`;
  if (o.body !== undefined) headers['content-type'] = o.type ?? 'application/json';
  const res = await fetch(base + path, { method: o.method ?? (o.body !== undefined ? 'POST' : 'GET'), headers, ...(o.body !== undefined ? { body: o.body } : {}) });
  const text = await res.text();
  let json: Record<string, unknown> = {};
  try { json = JSON.parse(text) as Record<string, unknown>; } catch { /* not JSON */ }
  return { status: res.status, headers: res.headers, json, text };
}

for (const [name, serve] of Object.entries(adapters)) {
  describe(`console routes over ${name}`, () => {
    let t: Setup;
    let data: ConsoleData;
    let served: Served;
    before(async () => {
      t = setup();
      data = new ConsoleData({ core: t.core, inbox: t.inbox, clock: t.clock, mode: 'standalone', dev: false, version: '9.9.9' });
      const assets = await loadConsoleAssets();
      assert.ok(assets, 'the console page is built by npm run build');
      served = await serve(createConsoleHttp({ data, token: TOKEN, assets, log: silent }));
    });
    after(async () => {
      data.close();
      stopRouters();
      await served.close();
    });

    it('serves the page and its same-origin script and styles under a strict CSP', async () => {
      for (const [path, type] of [['/console', 'text/html'], ['/console/', 'text/html'], ['/console/app.js', 'text/javascript'], ['/console/app.css', 'text/css']] as const) {
        const r = await call(served.base, path);
        assert.equal(r.status, 200, path);
        assert.ok(r.headers.get('content-type')?.startsWith(type), `${path}: ${r.headers.get('content-type')}`);
        assert.equal(r.headers.get('content-security-policy'), CONSOLE_CSP, path);
        assert.equal(r.headers.get('x-content-type-options'), 'nosniff');
        assert.equal(r.headers.get('x-frame-options'), 'DENY');
        assert.equal(r.headers.get('set-cookie'), null, 'no cookies');
      }
      assert.match(CONSOLE_CSP, /default-src 'none'/);
      assert.match(CONSOLE_CSP, /script-src 'self'(;|$)/);
      assert.doesNotMatch(CONSOLE_CSP, /unsafe-inline|unsafe-eval|https?:/);
      const html = (await call(served.base, '/console/')).text;
      assert.doesNotMatch(html, /<script(?![^>]*\bsrc="\/console\/app\.js")/, 'no inline script');
      assert.doesNotMatch(html, /\sstyle=|<style/, 'no inline style');
      assert.doesNotMatch(html, /https?:\/\//, 'nothing from another origin');
    });

    it('answers 401 without the console token, with a wrong one, with a push API key, or with the token in the URL', async () => {
      const cases: Array<[string, { token?: string; auth?: string }]> = [
        ['none', {}], ['wrong', { token: 'console-token-0123456789-abcdeX' }], ['push API key', { token: TEST_API_KEY }],
        ['basic', { auth: `Basic ${Buffer.from(`admin:${TOKEN}`).toString('base64')}` }], ['empty bearer', { auth: 'Bearer ' }],
      ];
      for (const [what, o] of cases) {
        const r = await call(served.base, '/console/api/overview', o);
        assert.equal(r.status, 401, what);
        assert.equal((r.json.error as { code: string }).code, 'LL_CONSOLE_UNAUTHORIZED', what);
        assert.match(r.headers.get('www-authenticate') ?? '', /^Bearer/);
        assert.equal(r.headers.get('content-security-policy'), CONSOLE_CSP);
      }
      for (const q of [`?token=${TOKEN}`, `?access_token=${TOKEN}`]) assert.equal((await call(served.base, `/console/api/overview${q}`)).status, 401, q);
      assert.equal((await call(served.base, '/console/api/users/alice')).status, 401);
      // Checked before the body is read: a large body with a bad credential is still a 401.
      assert.equal((await call(served.base, '/console/api/push', { token: 'nope', body: 'x'.repeat(100_000) })).status, 401);
    });

    it('with the token: overview, user lookup, test push and kick', async () => {
      const a = t.gw('gwA');
      a.beacon('boot-a', 1);
      a.presence('online', 'alice', 'phone', 'c1');
      await t.settle();
      const o = await call(served.base, '/console/api/overview', { token: TOKEN });
      assert.equal(o.status, 200);
      assert.equal(o.json.version, '9.9.9');
      assert.deepEqual((o.json.gateways as Array<{ gateway: string; connections: number }>).map((g) => [g.gateway, g.connections]), [['gwA', 1]]);
      assert.equal((o.json.connections as { total: number }).total, 1);

      const u = await call(served.base, '/console/api/users/alice', { token: TOKEN });
      assert.equal(u.status, 200);
      assert.deepEqual((u.json.connections as Array<{ device: string; gateway: string }>).map((c) => [c.device, c.gateway]), [['phone', 'gwA']]);
      assert.deepEqual(u.json.inbox, { latestSeq: 0, depth: 0, cursors: {} });

      const p = await call(served.base, '/console/api/push', { token: TOKEN, body: JSON.stringify({ user: 'bob', data: { hi: 1 } }) });
      assert.equal(p.status, 200);
      assert.deepEqual([p.json.status, p.json.seq], ['offline', 1], 'bob is offline: stored');
      assert.deepEqual((await call(served.base, '/console/api/users/bob', { token: TOKEN })).json.inbox, { latestSeq: 1, depth: 1, cursors: {} });

      const k = await call(served.base, '/console/api/control', { token: TOKEN, body: JSON.stringify({ type: 'kick', user: 'alice', device: 'phone' }) });
      assert.equal(k.status, 200);
      assert.deepEqual([k.json.gateways, k.json.connections], [1, 1]);
      await t.settle();
      assert.deepEqual(a.controls, [{ type: 'kick', user: 'alice', device: 'phone' }]);
    });

    it('rejects bad requests with the catalogue codes', async () => {
      const post = (body: string, type?: string) => call(served.base, '/console/api/control', { token: TOKEN, body, ...(type ? { type } : {}) });
      assert.equal((await post('{}', 'text/plain')).status, 415);
      const bad = await post('{"type":');
      assert.deepEqual([bad.status, (bad.json.error as { code: string }).code], [400, 'LL_API_BAD_JSON']);
      assert.equal((await post(JSON.stringify({ type: 'explode', user: 'a' }))).status, 400);
      assert.equal((await post(JSON.stringify({ type: 'kick', user: 'a', device: 'bad device' }))).status, 400);
      assert.equal((await post(JSON.stringify({ type: 'kick', user: 'a', pad: 'x'.repeat(20_000) }))).status, 413);
      assert.equal((await call(served.base, '/console/api/push', { token: TOKEN, body: JSON.stringify({ user: 'a' }) })).status, 400, 'data is required');
      assert.equal((await call(served.base, '/console/api/control', { token: TOKEN })).status, 405);
      assert.equal((await call(served.base, '/console/api/users/', { token: TOKEN })).status, 400, 'empty user id');
      assert.equal((await call(served.base, `/console/api/users/${'x'.repeat(200)}`, { token: TOKEN })).status, 400);
      assert.equal((await call(served.base, '/console/api/nothing', { token: TOKEN })).status, 404);
    });
  });
}

describe('console wiring and configuration', () => {
  it('is off in a production configuration unless LONGLINK_CONSOLE_TOKEN is set', async () => {
    const s = await start();
    try {
      assert.equal(s.console, undefined);
      for (const p of ['/console/', '/console/api/overview']) assert.equal((await fetch(s.apiUrl + p)).status, 404, p);
      assert.deepEqual(loadConsoleAccess({}, { dev: false, apiKeys: [TEST_API_KEY] }), { enabled: false }, 'router process without a token');
    } finally {
      await s.close();
    }
  });

  it('is on with a configured token, on the push API port, and that token pushes nothing through /v1', async () => {
    const s = await start({ LONGLINK_CONSOLE_TOKEN: TOKEN });
    try {
      assert.deepEqual(s.console, { url: `${s.apiUrl}/console/`, token: TOKEN, generated: false });
      const o = await call(s.apiUrl, '/console/api/overview', { token: TOKEN });
      assert.equal(o.status, 200);
      assert.equal(o.json.dev, false);
      assert.equal((await call(s.apiUrl, '/console/api/overview', { token: s.apiKey })).status, 401, 'the push key opens no console');
      assert.equal((await call(s.apiUrl, '/v1/push', { token: TOKEN, body: JSON.stringify({ users: ['a'], data: 1 }) })).status, 401, 'the console token is no push key');
      // That 401 shows in the overview's push API counts (read from the router's request counter); console calls do not.
      const after401 = (await call(s.apiUrl, '/console/api/overview', { token: TOKEN })).json.counters as { http: Record<string, number> };
      assert.deepEqual(after401.http, { '4xx': 1, '5xx': 0, '503': 0 });
    } finally {
      await s.close();
    }
  });

  it('Expect: 100-continue: no invitation before the credential is checked; with it, the body is invited', async () => {
    const s = await start({ LONGLINK_CONSOLE_TOKEN: TOKEN });
    try {
      const port = Number(new URL(s.apiUrl).port);
      const body = JSON.stringify({ type: 'kick', user: 'nobody' });
      const raw = (token: string, sendBody: boolean): Promise<string> => new Promise((resolve, reject) => {
        const sock = connect(port, '127.0.0.1');
        let got = '';
        sock.on('data', (d) => {
          got += d.toString();
          if (sendBody && got.startsWith('HTTP/1.1 100 Continue\r\n\r\n') && !got.includes('200')) { sendBody = false; sock.write(body); }
          if (/\r\n\r\n[^]*\}$/.test(got.replace(/^HTTP\/1\.1 100 Continue\r\n\r\n/, ''))) { sock.end(); resolve(got); }
        });
        sock.on('error', reject);
        sock.write(`POST /console/api/control HTTP/1.1\r\nhost: x\r\nauthorization: Bearer ${token}\r\ncontent-type: application/json\r\ncontent-length: ${body.length}\r\nexpect: 100-continue\r\n\r\n`);
      });
      const refused = await raw('wrong-token-0123456789-abcdef', false);
      // uWS (the default server) writes `100 Continue` itself before any handler runs; the refusal leaves in the same write (docs/api.md, "Server").
      if (process.env.LONGLINK_API_SERVER !== 'node') assert.match(refused, /^HTTP\/1\.1 100 Continue\r\n\r\nHTTP\/1\.1 401 /);
      else assert.match(refused, /^HTTP\/1\.1 401 /, 'answered at once, no 100 Continue first');
      assert.match(refused, /\r\nconnection: close\r\n/i);
      const ok = await raw(TOKEN, true);
      assert.match(ok, /^HTTP\/1\.1 100 Continue\r\n\r\nHTTP\/1\.1 200 /);
    } finally {
      await s.close();
    }
  });

  it('is on in standalone dev mode with a generated credential, marked as dev', async () => {
    const s = await start({ LONGLINK_JWT_SECRET: '', LONGLINK_DEV: 'true' });
    try {
      assert.ok(s.console?.generated);
      assert.match(s.console.token, /^dev-console-/);
      const o = await call(s.apiUrl, '/console/api/overview', { token: s.console.token });
      assert.equal(o.json.dev, true);
      assert.equal(o.json.mode, 'standalone');
    } finally {
      await s.close();
    }
    const off = await start({ LONGLINK_JWT_SECRET: '', LONGLINK_DEV: 'true', LONGLINK_CONSOLE: 'off' });
    try {
      assert.equal(off.console, undefined, 'LONGLINK_CONSOLE=off wins even in dev mode');
    } finally {
      await off.close();
    }
  });

  it('refuses a console token that is short or equal to a push API key', () => {
    assert.throws(() => loadConsoleAccess({ LONGLINK_CONSOLE_TOKEN: 'short' }, { dev: false, apiKeys: [] }), ConfigError);
    assert.throws(() => loadConsoleAccess({ LONGLINK_CONSOLE_TOKEN: TEST_API_KEY + '-longer-than-24' }, { dev: false, apiKeys: [TEST_API_KEY + '-longer-than-24'] }), (e: ConfigError) => {
      assert.match(e.message, /must differ from every LONGLINK_API_KEYS key/);
      assert.doesNotMatch(e.message, /longer-than-24/, 'the secret is not echoed');
      return true;
    });
  });

  it('logs no user id, device or payload while looking up, pushing and kicking', async () => {
    const lines: string[] = [];
    const sink = new Writable({ write(chunk: Buffer, _enc, cb) { lines.push(chunk.toString()); cb(); } });
    const log = pino({ level: 'trace' }, sink);
    const s = await startStandalone({
      LONGLINK_GATEWAY_HOST: '127.0.0.1', LONGLINK_GATEWAY_PORT: '0', LONGLINK_API_PORT: '0', LONGLINK_LOG_LEVEL: 'trace',
      LONGLINK_JWT_SECRET: TEST_SECRET, LONGLINK_API_KEYS: TEST_API_KEY, LONGLINK_CONSOLE_TOKEN: TOKEN,
    }, { log });
    try {
      const user = 'Private.Person-7731';
      await call(s.apiUrl, `/console/api/users/${user}`, { token: TOKEN });
      await call(s.apiUrl, '/console/api/push', { token: TOKEN, body: JSON.stringify({ user, data: { secretPayload: 'p-4412' } }) });
      await call(s.apiUrl, '/console/api/control', { token: TOKEN, body: JSON.stringify({ type: 'logout', user, device: 'dev-8812' }) });
      await call(s.apiUrl, '/console/api/overview', { token: 'wrong-token-0123456789-abcdef' });
      const all = lines.join('');
      assert.ok(all.includes('/console/api/users/:user'), 'requests are logged by route template');
      for (const secret of [user, 'p-4412', 'dev-8812', TOKEN, 'wrong-token']) assert.ok(!all.includes(secret), `"${secret}" not in the logs`);
    } finally {
      await s.close();
    }
  });
});
